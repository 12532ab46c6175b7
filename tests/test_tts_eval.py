"""`st-jax eval` of a TTS workdir: a micro character TTS, ASR and emotion classifier trained on
the synthetic emotional corpus (no espeak); the eval JSON against recomputed MCDs, the ASR's own
evaluation and the confusion matrix; plots; speaker fallback; language errors."""

import csv
import json
import os

import numpy as np
import pytest

from st_jax import cli, evaluate, mcd, tts_eval
from st_jax.data import features as features_lib
from st_jax.errors import ConfigError
from st_jax.synthesis import Synthesizer
from train_helpers import train_in_subprocess
from tts_helpers import MICRO_TTS, write_tts_corpus

LISTENER = ["model.d_model=32", "model.num_heads=4", "model.encoder.num_layers=1",
            "model.encoder.ffn_dim=64", "model.frontend.channels=8", "data.batch_size=8",
            "data.num_buckets=1", "data.max_frames=400", "data.src_lang=de", "data.tgt_lang=de",
            "data.vocab_size=64", "train.warmup_steps=2", "train.eval_split=",
            "train.log_every=2", "train.async_checkpointing=False", "train.num_steps=3",
            "train.checkpoint_every=3"]


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  """A micro character TTS (learned durations, 120 steps), and an ASR and an emotion
  classifier of its language trained 3 steps each (their accuracy is not the point here),
  each trained by `st-jax train` in its own process."""
  root = tmp_path_factory.mktemp("tts_eval")
  corpus = str(root / "corpus")
  write_tts_corpus(corpus, num_sentences=6, speakers=1, random_words=True)
  train_in_subprocess("tts:tiny", [*MICRO_TTS, f"data.corpus_dir={corpus}",
                                   "data.tts_symbols=characters", "model.tts.durations=learned",
                                   "train.num_steps=120", "train.eval_split=",
                                   "train.checkpoint_every=1000"], root / "tts")
  common = [f"data.corpus_dir={corpus}", *LISTENER]
  train_in_subprocess("asr_conformer:tiny", [*common, "model.decoder.num_layers=1",
                                             "model.decoder.ffn_dim=64"], root / "asr")
  train_in_subprocess("classifier:tiny", common, root / "emotion")
  return {k: str(root / k) for k in ("tts", "asr", "emotion")}


@pytest.fixture(scope="module")
def result(workdirs):
  return evaluate.evaluate(workdirs["tts"], "train", beam_size=2, batch_size=4, limit=4,
                           asr=workdirs["asr"], emotion=workdirs["emotion"])


def test_eval_json_is_written_and_mcd_recomputes(workdirs, result):
  saved = json.loads(open(os.path.join(workdirs["tts"], "eval_train.json")).read())
  assert saved == json.loads(json.dumps(result))
  assert saved["task"] == "tts" and saved["num_utterances"] == 4 and saved["step"] == 120
  assert saved["vocoder"].startswith("griffin_lim")
  for key in ("mcd_db", "mcd_reference_durations_db", "mcd_mean_spectrum_db", "cer", "wer",
              "cer_real", "wer_real",
              "cer_vocoded_real", "emotion_accuracy", "emotion_accuracy_real"):
    assert np.isfinite(saved["metrics"][key]), key
  assert saved["metrics"]["mcd_db"] > 0
  synth = Synthesizer(workdirs["tts"])
  expected = []
  for row in tts_eval.test_rows(synth, "train", 4):
    mel, frames = synth.log_mel(row.text, row.lang, row.emotion, row.speaker)
    reference = features_lib.log_mel(row.samples, synth.config.data)
    expected.append(mcd.mcd(reference, mel[:frames])["mcd_db"])
  assert saved["metrics"]["mcd_db"] == pytest.approx(np.mean(expected), rel=1e-5)
  with open(os.path.join(workdirs["tts"], "eval_train_hypotheses.tsv"), encoding="utf-8") as f:
    rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
  assert [float(r["mcd_db"]) for r in rows] == pytest.approx(expected, abs=1e-3)


def test_real_audio_cer_is_the_asr_models_own_evaluation(workdirs, result):
  """The ceiling of the round trip is what `st-jax eval` of the ASR workdir reports on the same
  utterances (same beam), although the audio reaches it through another path."""
  own = evaluate.evaluate(workdirs["asr"], "train", beam_size=2, batch_size=4, limit=4)
  assert result["metrics"]["cer_real"] == pytest.approx(own["metrics"]["cer"])
  assert result["metrics"]["wer_real"] == pytest.approx(own["metrics"]["wer"])
  assert result["intelligibility"]["real"]["cer"] == result["metrics"]["cer_real"]


def test_emotion_confusion_matrix(result):
  trip = result["emotion_round_trip"]
  assert trip["labels"] == ["neutral", "happy", "sad", "angry"]
  matrix = np.asarray(trip["synthesised"]["confusion"])
  assert matrix.shape == (4, 4) and (matrix.sum(1) == 4).all()   # 4 sentences per emotion
  assert trip["synthesised"]["accuracy"] == pytest.approx(np.trace(matrix) / 16)
  for k, emotion in enumerate(trip["labels"]):
    assert trip["synthesised"]["per_emotion"][emotion] == pytest.approx(matrix[k, k] / 4)
  real = np.asarray(trip["real"]["confusion"])
  assert real.sum() == 4 and result["metrics"]["emotion_accuracy_real"] == pytest.approx(
      np.trace(real) / 4)


def test_plots_are_pngs(workdirs, result):
  assert "plots/pitch_by_emotion.png" in result["plots"]
  assert sum(p.startswith("plots/mel_") for p in result["plots"]) == 3
  for plot in result["plots"]:
    with open(os.path.join(workdirs["tts"], plot), "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_held_out_voice_is_spoken_by_a_training_speaker(workdirs, capsys):
  """The test utterance is spoken by spk1, a voice absent from training: the model speaks it
  with the language's first training speaker. Also through the CLI without round trips."""
  [row] = tts_eval.test_rows(Synthesizer(workdirs["tts"]), "test", None)
  voice = row.example["speaker"]
  assert (voice.decode() if isinstance(voice, bytes) else voice) == "spk1"
  assert row.speaker == "spk0"
  assert cli.main(["eval", "--workdir", workdirs["tts"], "--split", "test"]) == 0
  out = capsys.readouterr().out
  assert "tts test (1 utterances" in out and "mcd_db" in out and "cer" not in out
  assert "pitch_by_emotion.png" in out


def _fake_workdir(path, name, **data):
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump({"name": name, "data": {"sample_rate": 16000, **data}}, f)
  return str(path)


@pytest.mark.parametrize("flag,task", [("asr", "asr"), ("emotion", "classify")])
def test_a_listener_of_another_language_is_refused(workdirs, tmp_path, flag, task):
  other = _fake_workdir(tmp_path / flag, f"{flag}:tiny", task=task, src_lang="en")
  with pytest.raises(ConfigError, match=rf"--{flag} .* hears 'en' speech but the TTS model "
                                        rf"speaks de"):
    evaluate.evaluate(workdirs["tts"], "test", **{flag: other})


def test_round_trip_flags_need_a_tts_workdir(workdirs):
  with pytest.raises(ConfigError, match="is not a TTS workdir"):
    evaluate.evaluate(workdirs["asr"], "train", asr=workdirs["asr"])
  with pytest.raises(ConfigError, match="holds a 'classify' model"):
    evaluate.evaluate(workdirs["tts"], "test", asr=workdirs["emotion"])
