"""`st-jax export --task synthesize` and its runtime: exported speech == the in-process
Synthesizer (run where st_jax cannot be imported, rows of different lengths and controls
sharing batches and buckets), Griffin-Lim's amplification of rounding measured, the manifest
and CLI, and every bad request named."""

import json
import re

import jax.numpy as jnp
import numpy as np
import pytest

from serving import artifact, cli, runtime, tts_export
from serving.errors import InputError
from serving_helpers import run_python, run_without_st_jax, shared_tts_workdir, \
    shared_vocoder_workdir
from st_jax.data import audio as audio_lib
from st_jax.errors import ConfigError
from st_jax.models.griffin_lim import GriffinLim
from st_jax.synthesis import Synthesizer

SYMBOLS, FRAMES = (16, 32), (64, 128, 256)
# (text, request): lengths across both symbol buckets and all frame buckets, every control.
REQUESTS = [("mase ui", {}), ("ma su omi", {"emotion": "sad"}),
            ("oma saum ume ais", {"speaker": "spk1", "rate": 1.5}), ("u", {"emotion": "happy"}),
            ("Ume  ais,  MA!", {"pitch_shift": 2.0, "energy_scale": 0.8, "speaker": 0}),
            ("mise oma saum ume ais su", {"rate": 0.8, "emotion": "angry"})]


@pytest.fixture(scope="module")
def tts(tmp_path_factory):
  return shared_tts_workdir(tmp_path_factory), shared_vocoder_workdir(tmp_path_factory)


@pytest.fixture(scope="module")
def exports(tts, tmp_path_factory):
  """{vocoder name: export dir} for the HiFi-GAN workdir and Griffin-Lim."""
  workdir, vocoder = tts
  root = tmp_path_factory.mktemp("tts_export")
  out = {}
  for name, spec in (("hifigan", vocoder), ("gl", "griffin_lim")):
    tts_export.export_synthesize(workdir, str(root / name), spec, SYMBOLS, FRAMES)
    out[name] = str(root / name)
  return out


def in_process(synth: Synthesizer):
  """[(audio, log-mel of the valid frames)] of REQUESTS, one call each."""
  out = []
  for text, request in REQUESTS:
    mel, frames = synth.log_mel(text, **request)
    out.append((synth(text, **request), mel[:frames]))
  return out


def requests() -> list[dict]:
  return [dict(request, text=text) for text, request in REQUESTS]


def test_runtime_without_st_jax_equals_the_synthesizer(exports, tts, tmp_path, tmp_path_factory):
  """HiFi-GAN vocoder: audio and log-mel within 1e-4 of `Synthesizer`, batched."""
  workdir, vocoder = tts
  result = tmp_path / "speech.npz"
  script = (
      "import json\n"
      "import numpy as np\n"
      "from serving import runtime\n"
      f"model = runtime.load_artifact({exports['hifigan']!r}, batch_sizes=(1, 2, 4))\n"
      f"speech = model.speak({requests()!r})\n"
      f"np.savez({str(result)!r}, **{{f'audio{{i}}': s.audio for i, s in enumerate(speech)}},"
      " **{f'mel{i}': s.log_mel for i, s in enumerate(speech)})\n"
      "assert not any(m.split('.')[0] == 'st_jax' for m in sys.modules), 'st_jax imported'\n"
      "print(json.dumps({'compiles': model.compile_count}))\n")
  run_without_st_jax(script, tmp_path_factory)
  got = np.load(result)
  for i, (audio, mel) in enumerate(in_process(Synthesizer(workdir, vocoder=vocoder))):
    assert got[f"audio{i}"].shape == audio.shape == (len(mel) * 160,)
    np.testing.assert_allclose(got[f"mel{i}"], mel, atol=1e-4, rtol=0)
    np.testing.assert_allclose(got[f"audio{i}"], audio, atol=1e-4, rtol=0)
    assert np.abs(audio).max() > 0.05


def test_griffin_lim_amplifies_rounding_but_sounds_the_same(exports, tts):
  """Griffin-Lim: the vocoder input (log-mel) within 1e-4, yet 60 momentum iterations turn
  its float32 rounding differences (batch and bucket shapes) into ~1e-3 sample differences;
  the two waveforms have the same spectral convergence and log-mel."""
  synth = Synthesizer(tts[0])
  speech = runtime.load_artifact(exports["gl"], batch_sizes=(1, 2, 4)).speak(requests())
  gl, worst = GriffinLim(), 0.0
  for got, (audio, mel) in zip(speech, in_process(synth)):
    np.testing.assert_allclose(got.log_mel, mel, atol=1e-4, rtol=0)
    assert got.audio.shape == audio.shape
    worst = max(worst, float(np.abs(got.audio - audio).max()))
    mine, theirs = (audio_lib.log_mel(x, 16000) for x in (got.audio, audio))
    loud = theirs > theirs.max() - 6.0
    assert np.abs(mine - theirs)[loud].mean() < 0.01
    convergence = [float(gl.spectral_convergence(jnp.asarray(x[None]), jnp.asarray(mel[None]))[0])
                   for x in (got.audio, audio)]
    assert abs(convergence[0] - convergence[1]) < 1e-3, convergence
  print(f"Griffin-Lim: largest sample difference exported vs in-process {worst:.2e}")


def test_bad_requests_name_the_problem_and_fail_alone(exports):
  model = runtime.load_artifact(exports["hifigan"], batch_sizes=(1, 2, 4))
  cases = [(dict(text=" "), "text to synthesise is empty", 422),
           (dict(text=None), "empty", 422), (dict(text=3), "text must be a string", 422),
           (dict(text="ma", emotion="joyful"),
            "emotion 'joyful' is unknown; valid emotions: neutral, happy, sad, angry", 422),
           (dict(text="ma", speaker="bob"), "speaker 'bob' is unknown; speakers of de", 422),
           (dict(text="ma", speaker=7), "speakers 0..1", 422),
           (dict(text="ma", lang="fr"), "language 'fr' is unknown; valid languages: de", 422),
           (dict(text="ma", rate=0), "rate=0 is out of range", 422),
           (dict(text="ma", rate="fast"), "rate='fast' is out of range", 422),
           (dict(text="ma", volume=2), "unknown controls ['volume']", 422),
           (dict(text="ma " * 20), "longest symbol bucket (32)", 413)]
  for request, words, status in cases:
    with pytest.raises(InputError, match=re.escape(words)) as e:
      model.prepare_text(**request)
    assert e.value.status == status
  # Found only in the batch: slow speech of a long text needs more frames than the longest
  # bucket; the other rows of its batch are spoken as if alone.
  rows = [model.prepare_text("oma saum ume ais su mi", rate=0.25)[1],
          model.prepare_text("mase ui")[1], model.prepare_text("ma su omi")[1]]
  batched = model.run_batch(1, rows)
  assert isinstance(batched[0], InputError) and batched[0].status == 413
  assert "longest frame bucket (256)" in str(batched[0])
  for row, speech in zip(rows[1:], batched[1:]):
    alone = model.run_batch(1, [row])[0]
    np.testing.assert_allclose(speech.audio, alone.audio, atol=1e-4, rtol=0)
  with pytest.raises(InputError, match="longest frame bucket"):
    model.synthesize(["oma saum ume ais su mi"], rate=0.25)


def test_manifest_and_cli(exports, tts, tmp_path, capsys):
  workdir, _ = tts
  manifest = artifact.read_manifest(exports["gl"])
  synth = Synthesizer(workdir)
  assert manifest["task"] == "synthesize" and manifest["sample_rate"] == 16000
  assert manifest["tts"]["symbols"] == {"kind": "characters", "table": synth.inventory.symbols,
                                        "pad_id": 0, "unk_id": 1}
  assert manifest["tts"]["speakers"] == ["spk0", "spk1"]
  assert manifest["symbol_buckets"] == list(SYMBOLS) and manifest["frame_buckets"] == list(FRAMES)
  stages = [(f["stage"], f.get("symbols") or f.get("frames")) for f in manifest["functions"]]
  assert stages == [("acoustic", 16), ("acoustic", 32), ("render", 64), ("render", 128),
                    ("render", 256)]
  assert runtime.load_artifact(exports["gl"]).health()["frame_buckets"] == list(FRAMES)
  out = tmp_path / "cli"
  assert cli.main(["export", "--task", "synthesize", "--workdir", workdir, "--out", str(out),
                   "--symbol-buckets", "16", "--frame-buckets", "64"]) == 0
  printed = capsys.readouterr().out
  for words in ("acoustic_U16.jax", "render_T64.jax", "params.npz", "symbol buckets: 16",
                "griffin_lim"):
    assert words in printed
  for args, words in ((["--frame-buckets", "5000"], "exceeds min(model.tts.max_synthesis"),
                      (["--symbol-buckets", "0"], "positive integers"),
                      (["--task", "s2st"], "needs --tts-workdir")):
    assert cli.main(["export", "--task", "synthesize", "--workdir", workdir, "--out",
                     str(tmp_path / "x"), *args]) == 2
    assert words in capsys.readouterr().err
  lowered = tts_export.export_synthesize(workdir, str(tmp_path / "gpu"), symbol_buckets=(16,),
                                         frame_buckets=(64,), platforms=("cuda",))
  assert lowered["platforms"] == ["cpu", "cuda"]
  (tmp_path / "st" / "config.json").parent.mkdir()
  (tmp_path / "st" / "config.json").write_text(json.dumps({"name": "st_conformer:tiny",
                                                           "data": {"task": "st"}}))
  with pytest.raises(ConfigError, match="not a TTS model"):
    tts_export.export_synthesize(str(tmp_path / "st"), str(tmp_path / "y"))


NO_ESPEAK = """
import importlib.abc, sys
class _NoEspeak(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] in ("espeakng_loader", "st_jax"):
      raise ImportError(f"No module named {name!r}")
    return None
sys.meta_path.insert(0, _NoEspeak())
"""


@pytest.mark.slow
@pytest.mark.synth
def test_phoneme_model_phonemises_with_espeak_or_says_it_cannot(tmp_path, tmp_path_factory):
  pytest.importorskip("espeakng_loader", reason="needs the [synth] extra")
  from st_jax import train as train_lib  # pylint: disable=g-import-not-at-top
  from tts_helpers import micro_tts_config, write_tts_corpus  # pylint: disable=g-import-not-at-top
  write_tts_corpus(tmp_path / "corpus", num_sentences=4, speakers=1)
  config = micro_tts_config(tmp_path / "corpus", "train.num_steps=40", "train.eval_split=",
                            "train.checkpoint_every=1000")   # phonemes, corpus durations
  train_lib.train_and_evaluate(config, str(tmp_path / "work"))
  out = tmp_path / "export"
  tts_export.export_synthesize(str(tmp_path / "work"), str(out), symbol_buckets=(32,),
                               frame_buckets=(256,))
  synth = Synthesizer(str(tmp_path / "work"))
  [speech] = runtime.load_artifact(str(out), batch_sizes=(1,)).speak([{"text": "Oma am See."}])
  mel, frames = synth.log_mel("Oma am See.", "de")
  np.testing.assert_allclose(speech.log_mel, mel[:frames], atol=1e-4, rtol=0)
  script = NO_ESPEAK + (f"from serving import runtime\nruntime.load_artifact({str(out)!r})\n")
  done = run_python(script, tmp_path_factory, timeout=300)
  assert done.returncode != 0
  assert "reads phonemes" in done.stderr and "pip install 'st-jax[synth]'" in done.stderr
