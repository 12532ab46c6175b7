"""EmotionRecognizer on a micro classifier trained on the tone corpus: the labels `st-jax eval`
scores, probabilities, long audio in windows, and clear errors."""

import csv
import dataclasses

import numpy as np
import pytest
import soundfile as sf

from st_jax import config_lib, evaluate, inference
from st_jax import train as train_lib
from st_jax.data.manifest import EMOTIONS, read_manifest, split_path
from st_jax.emotion import EmotionRecognizer
from st_jax.errors import AudioError, ConfigError

MICRO = ["model.d_model=32", "model.num_heads=4", "model.encoder.num_layers=1",
         "model.encoder.ffn_dim=64", "model.frontend.channels=8", "data.batch_size=8",
         "data.num_buckets=1", "data.max_frames=400", "train.warmup_steps=2",
         "train.eval_split=", "train.log_every=2", "train.async_checkpointing=False",
         "train.num_steps=4", "train.checkpoint_every=4"]


def train_micro_classifier(corpus_dir: str, workdir: str) -> str:
  """A micro emotion classifier (configs/classifier.py) trained 4 steps; returns ``workdir``."""
  config = config_lib.load_config("classifier:tiny", [f"data.corpus_dir={corpus_dir}", *MICRO])
  train_lib.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope="module")
def workdir(tone_corpus, tmp_path_factory):
  return train_micro_classifier(tone_corpus, str(tmp_path_factory.mktemp("emotion")))


@pytest.fixture(scope="module")
def recognizer(workdir):
  return EmotionRecognizer(inference.load_trained(workdir), batch_size=4)


def test_labels_match_eval_and_probabilities_sum_to_one(recognizer, workdir, tone_corpus):
  rows = [r for r in read_manifest(split_path(tone_corpus, "test")) if r.lang == "en"]
  results = recognizer([r.audio for r in rows])
  for result in results:
    assert set(result.probabilities) == set(EMOTIONS)
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert result.label == max(result.probabilities, key=result.probabilities.get)
  evaluate.evaluate(workdir, "test", batch_size=8)   # its own batching and feature path
  with open(f"{workdir}/eval_test_hypotheses.tsv", encoding="utf-8") as f:
    scored = {row["id"]: row["hypothesis"] for row in csv.DictReader(f, delimiter="\t")}
  assert [scored[r.id] for r in rows] == [r.label for r in results]


def test_long_audio_averages_its_windows(recognizer, tone_corpus):
  rows = [r for r in read_manifest(split_path(tone_corpus, "test")) if r.lang == "en"]
  samples = np.concatenate([sf.read(r.audio, dtype="float32")[0] for r in rows] * 4)
  assert len(samples) > 2 * 4.0 * 16000          # longer than two windows of max_frames
  windows = inference.split_windows(samples, 16000, 4.0, 0.0)
  data = recognizer.trained.config.data
  feats = [inference.features_of(w, data, recognizer.trained.stats) for w in windows]
  expected = recognizer.probabilities(feats).mean(axis=0)
  [result] = recognizer([samples])
  np.testing.assert_allclose([result.probabilities[e] for e in EMOTIONS], expected, atol=1e-6)


def test_padding_and_batching_do_not_change_probabilities(recognizer, tone_corpus):
  rows = [r for r in read_manifest(split_path(tone_corpus, "test")) if r.lang == "en"]
  together = recognizer([r.audio for r in rows])
  alone = [recognizer([r.audio])[0] for r in rows]
  for a, b in zip(together, alone):
    np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()),
                               atol=1e-5)


def test_errors(recognizer):
  with pytest.raises(AudioError, match="NaN"):
    recognizer([np.full(1600, np.nan, np.float32)])
  with pytest.raises(AudioError, match="input 1"):
    recognizer([np.zeros(1600, np.float32), np.zeros(0, np.float32)])
  config = recognizer.trained.config.copy_and_resolve_references()
  config.model.classifier.label = "lang"
  with pytest.raises(ConfigError, match="label='emotion'"):
    EmotionRecognizer(dataclasses.replace(recognizer.trained, config=config))
  config.data.task = "asr"
  with pytest.raises(ConfigError, match="'asr'"):
    EmotionRecognizer(dataclasses.replace(recognizer.trained, config=config))
