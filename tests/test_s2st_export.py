"""`st-jax export --task s2st`: one artifact from English speech to German speech equals the
in-process chain (Transcriber text -> Synthesizer) token for token, character for character and
within 1e-4 in audio, run where st_jax cannot be imported; the in-graph characters of
SentencePiece pieces; the TTS it refuses."""

import json
import pathlib

import jax
import numpy as np
import pytest
import sentencepiece as spm
import soundfile as sf

from serving import artifact, runtime, tts_export, tts_graph
from serving_helpers import matching_bucket_seconds, run_without_st_jax, shared_st_workdir, \
    shared_tts_workdir, shared_vocoder_workdir
from st_jax import inference
from st_jax.data import tts_symbols
from st_jax.errors import ConfigError
from st_jax.synthesis import Synthesizer

BEAM = 2
FRAMES = (512, 3000)   # the 4-step ST model says long nonsense


@pytest.fixture(scope="module")
def parts(tone_corpus, tmp_path_factory):
  """(ST workdir, TTS workdir, vocoder workdir, export dir, test wavs)."""
  st = shared_st_workdir(tmp_path_factory, tone_corpus)
  tts, vocoder = shared_tts_workdir(tmp_path_factory), shared_vocoder_workdir(tmp_path_factory)
  wavs = sorted(str(p) for p in pathlib.Path(tone_corpus, "audio").glob("test-*-en.wav"))[:3]
  buckets = sorted({matching_bucket_seconds(sf.info(w).frames) for w in wavs})
  out = tmp_path_factory.mktemp("s2st") / "s2st"
  tts_export.export_s2st(st, tts, str(out), vocoder, buckets, FRAMES, beam_size=BEAM)
  return st, tts, vocoder, str(out), wavs


def test_one_artifact_equals_the_in_process_chain(parts, tmp_path, tmp_path_factory):
  st, tts, vocoder, out, wavs = parts
  result = tmp_path / "s2st.npz"
  script = (
      "import json\n"
      "import numpy as np\n"
      "from serving import runtime\n"
      f"model = runtime.load_artifact({out!r}, batch_sizes=(1, 2, 4))\n"
      f"speech = model.s2st({wavs!r})\n"
      f"np.savez({str(result)!r}, **{{f'audio{{i}}': s.audio for i, s in enumerate(speech)}},"
      " **{f'symbols{i}': s.symbols for i, s in enumerate(speech)})\n"
      "assert not any(m.split('.')[0] == 'st_jax' for m in sys.modules), 'st_jax imported'\n"
      "print(json.dumps({'texts': [s.text for s in speech]}))\n")
  texts = json.loads(run_without_st_jax(script, tmp_path_factory))["texts"]
  got = np.load(result)
  transcriber = inference.Transcriber(inference.load_trained(st), beam_size=BEAM)
  synth = Synthesizer(tts, vocoder=vocoder)
  for i, wav in enumerate(wavs):
    text = transcriber([wav])[0]           # one at a time: the output length of each wav
    assert texts[i] == text and text.strip()
    assert got[f"symbols{i}"].tolist() == synth.symbols(text, "de").tolist()
    audio = synth(text, "de")
    assert got[f"audio{i}"].shape == audio.shape
    np.testing.assert_allclose(got[f"audio{i}"], audio, atol=1e-4, rtol=0)
    assert np.abs(audio).max() > 0.05


def test_pieces_become_the_characters_decode_writes(parts):
  st, tts, _, _, _ = parts
  trained = inference.load_trained(st)
  sp = spm.SentencePieceProcessor(model_file=trained.target_tokenizer.model_path)
  inventory = Synthesizer(tts).inventory
  table = tts_graph.piece_table(sp, inventory)
  space = int(inventory.encode([" "])[0])
  piece = lambda text: sp.piece_to_id(text)
  rows = [[piece("▁is"), 3, piece("s"), 2, piece("e")],          # <unk> and text after EOS
          [1, piece("▁"), piece("▁"), piece("s"), 0, 0],           # BOS, PAD, a lone '▁' run
          [2, piece("s")], [sp.get_piece_size() + 5, piece("e")]]  # empty; unknown id
  width = max(len(r) for r in rows)
  tokens = np.asarray([r + [0] * (width - len(r)) for r in rows], np.int32)
  symbols, counts = jax.jit(lambda t: tts_graph.token_symbols(t, table, space, 40))(tokens)
  for row, got, count in zip(rows, np.asarray(symbols), np.asarray(counts)):
    text = trained.target_tokenizer.decode(row)
    want = inventory.encode(tts_symbols.characters_of(text)) if text.strip() else []
    assert got[:count].tolist() == list(want) and (got[count:] == 0).all(), (row, text)
  tts_graph.check_piece_table(sp, inventory, table, space, trials=50)
  capped, total = tts_graph.token_symbols(tokens, table, space, 2)
  assert capped.shape == (4, 2) and np.asarray(total).tolist() == np.asarray(counts).tolist()


def test_manifest_holds_both_halves(parts):
  _, tts, _, out, _ = parts
  manifest = artifact.read_manifest(out)
  assert manifest["task"] == "s2st" and manifest["target_language"] == "de"
  assert manifest["sample_rate"] == manifest["tts"]["sample_rate"] == 16000
  assert manifest["tts_source"]["workdir"] == str(pathlib.Path(tts).resolve())
  names = manifest["weights"]["names"]
  assert {n.split("/")[0] for n in names} == {"st", "tts", "vocoder"}
  stages = [f["stage"] for f in manifest["functions"]]
  assert stages.count("render") == len(FRAMES) and "s2st" in stages
  assert max(manifest["symbol_buckets"]) == manifest["tts"]["render_symbols"]
  model = runtime.load_artifact(out)
  assert model.health()["frame_buckets"] == list(FRAMES)
  with pytest.raises(Exception, match="does 's2st', not 'translate'"):
    model.translate([np.zeros(1000, np.float32)])


def test_refuses_a_phoneme_or_other_language_tts(parts, tmp_path, monkeypatch):
  st, tts, _, _, _ = parts
  synth = Synthesizer(tts)
  monkeypatch.setattr(tts_export, "load_synthesizer", lambda *_: synth)
  synth.meta = dict(synth.meta, langs=["fr"])
  with pytest.raises(ConfigError, match="translates into 'de' but .* speaks fr"):
    tts_export.export_s2st(st, tts, str(tmp_path / "a"))
  synth.inventory = tts_symbols.SymbolInventory("phonemes", ["a", "b"])
  with pytest.raises(ConfigError, match="reads phonemes.*needs a character TTS"):
    tts_export.export_s2st(st, tts, str(tmp_path / "b"))
  assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
