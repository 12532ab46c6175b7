"""`st-jax eval` / `translate` / `transcribe` on micro models trained on the tone corpus:
the eval JSON and hypotheses TSV, self-contained workdirs, long-audio windows, clear errors."""

import csv
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from st_jax import cli, config_lib, evaluate, inference, metrics
from st_jax import train as train_lib
from st_jax.errors import AudioError, ConfigError
from train_helpers import micro_config

QUIET = ["train.eval_split=", "train.log_every=2", "train.async_checkpointing=False",
         "train.num_steps=4", "train.checkpoint_every=4"]


@pytest.fixture(scope="module")
def st_workdir(tone_corpus, tmp_path_factory):
  """A micro ST model trained 4 steps on a private copy of the tone corpus (deleted after
  training, so inference must rely on the workdir's assets)."""
  root = tmp_path_factory.mktemp("st")
  corpus = root / "corpus"
  shutil.copytree(tone_corpus, corpus)
  workdir = root / "work"
  train_lib.train_and_evaluate(micro_config(str(corpus), *QUIET), str(workdir))
  return workdir, corpus


def test_eval_json_and_hypotheses(st_workdir):
  workdir, _ = st_workdir
  result = evaluate.evaluate(str(workdir), "test", beam_size=2, batch_size=4)
  saved = json.loads((workdir / "eval_test.json").read_text())
  assert saved == json.loads(json.dumps(result))
  assert saved["step"] == 4 and saved["task"] == "st" and saved["split"] == "test"
  assert saved["config_hash"] == config_lib.model_hash(config_lib.load_workdir_config(
      str(workdir)))
  assert saved["decoding"]["beam_size"] == 2
  assert saved["signatures"]["bleu"].startswith("nrefs:1|case:mixed")
  for key in ("bleu", "chrf", "loss", "perplexity", "token_accuracy"):
    assert np.isfinite(saved["metrics"][key])
  with open(workdir / "eval_test_hypotheses.tsv", encoding="utf-8") as f:
    rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
  assert len(rows) == saved["num_utterances"] == 4   # 4 test sentences spoken in English
  assert all(r["id"].endswith("-en") for r in rows)
  assert {r["reference"] for r in rows} <= {"Anna kauft drei Äpfel.", "Das blaue Haus ist klein.",
                                            "Es ist sieben Uhr.", "Wo ist der Bahnhof?",
                                            "Das rote Auto ist hier.", "Hallo.", "Vielen Dank.",
                                            "Wir gehen morgen auf den Markt."}
  rescored = metrics.translation_metrics([r["hypothesis"] for r in rows],
                                         [r["reference"] for r in rows])
  assert rescored["bleu"] == pytest.approx(saved["metrics"]["bleu"])


def test_translate_needs_only_the_workdir(st_workdir, tone_corpus, capsys, tmp_path):
  workdir, corpus = st_workdir
  wavs = sorted(str(p) for p in (corpus / "audio").glob("test-*-en.wav"))[:3]
  for i, wav in enumerate(wavs):   # copies: the corpus (and its audio) is removed below
    shutil.copy(wav, tmp_path / f"{i}.wav")
  wavs = [str(tmp_path / f"{i}.wav") for i in range(len(wavs))]
  shutil.rmtree(corpus)
  assert cli.main(["translate", "--workdir", str(workdir), "--beam", "2", *wavs]) == 0
  printed = capsys.readouterr().out.splitlines()
  trained = inference.load_trained(str(workdir))
  assert printed == inference.Transcriber(trained, beam_size=2)(wavs)
  assert len(printed) == 3
  # Any rate, stereo: resampled and mixed like the corpus front end.
  samples, rate = sf.read(wavs[0])
  sf.write(tmp_path / "stereo44k.wav", np.stack([samples, samples], 1).repeat(2, 0)[::1],
           rate * 2)
  assert cli.main(["translate", "--workdir", str(workdir), str(tmp_path / "stereo44k.wav")]) == 0


def test_translate_errors_are_clear(st_workdir, tmp_path, capsys):
  workdir, _ = st_workdir
  (tmp_path / "empty.wav").write_bytes(b"")
  assert cli.main(["translate", "--workdir", str(workdir), str(tmp_path / "empty.wav")]) == 2
  assert "empty.wav" in capsys.readouterr().err
  assert cli.main(["transcribe", "--workdir", str(workdir), str(tmp_path / "empty.wav")]) == 2
  assert "holds a 'st' model; use `st-jax translate`" in capsys.readouterr().err
  assert cli.main(["eval", "--workdir", str(tmp_path / "none")]) == 2
  assert "has no config.json" in capsys.readouterr().err


def test_long_audio_is_decoded_in_windows_and_stitched(st_workdir, tmp_path):
  workdir, _ = st_workdir
  trained = inference.load_trained(str(workdir))
  rate = trained.config.data.sample_rate
  samples = np.random.default_rng(0).standard_normal(int(3.5 * rate)).astype(np.float32) * 0.1
  transcriber = inference.Transcriber(trained, beam_size=1, chunk_seconds=1.5,
                                      overlap_seconds=0.5)
  windows = inference.split_windows(samples, rate, 1.5, 0.5)
  assert [len(w) for w in windows] == [int(1.5 * rate)] * 3
  window_texts = transcriber.decode_features(
      [inference.features_of(w, trained.config.data, trained.stats) for w in windows])
  assert transcriber([samples]) == [inference.stitch(window_texts)]


def test_split_windows_cover_the_audio():
  samples = np.arange(100, dtype=np.float32)
  windows = inference.split_windows(samples, 10, 3.0, 1.0)   # 30-sample windows, hop 20
  assert [int(w[0]) for w in windows] == [0, 20, 40, 60, 70]
  assert all(len(w) == 30 for w in windows) and windows[-1][-1] == 99
  assert len(inference.split_windows(samples, 10, 10.0, 1.0)) == 1
  with pytest.raises(ConfigError, match="overlap_seconds < chunk_seconds"):
    inference.split_windows(samples, 10, 1.0, 1.0)


def test_stitch_keeps_overlapping_words_once():
  assert inference.stitch(["wir gehen morgen auf", "morgen auf den Markt."]) == \
      "wir gehen morgen auf den Markt."
  # The overlap may be transcribed with different case/punctuation and a stray word.
  assert inference.stitch(["Es ist sieben", "ist Sieben, Uhr", "Uhr und zehn"]) == \
      "Es ist sieben Uhr und zehn"
  assert inference.stitch(["Hallo", "Welt"]) == "Hallo Welt"
  assert inference.stitch(["", "Welt"]) == "Welt"


def test_bad_samples_are_named():
  with pytest.raises(AudioError, match="NaN or Inf"):
    inference.read_input(np.asarray([0.0, np.nan], np.float32), 16000)


@pytest.mark.slow
def test_asr_eval_with_joint_ctc_attention(tone_corpus, tmp_path):
  config = micro_config(tone_corpus, *QUIET, "data.task=asr", "model.ctc_weight=0.3")
  train_lib.train_and_evaluate(config, str(tmp_path))
  result = evaluate.evaluate(str(tmp_path), "dev", beam_size=2, ctc_weight=0.3, batch_size=4)
  assert result["decoding"]["ctc_weight"] == 0.3
  assert 0.0 <= result["metrics"]["cer"] and np.isfinite(result["metrics"]["wer"])
  assert "lower case" in result["normalization"]
