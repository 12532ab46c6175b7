"""Vocoder training data (data.task 'vocoder'): fixed-length segments cut deterministically from
the seed, with the log-mel of their utterance."""

import numpy as np
import pytest

from st_jax import config_lib
from st_jax.data import audio as audio_lib
from st_jax.data import pipeline as pipeline_lib
from st_jax.data import storage
from st_jax.errors import ConfigError


def config_for(corpus, *extra):
  return config_lib.load_config("vocoder:tiny", [f"data.corpus_dir={corpus}",
                                                 "data.vocab_size=120", *extra])


def test_segments_are_slices_of_the_utterance_and_its_log_mel(tone_corpus):
  data = config_for(tone_corpus).data
  pipe = pipeline_lib.make_pipeline(data, "train", train=True)
  batch = pipe.example_batch(0)
  assert batch["audio"].shape == (8, 32 * 160) and batch["features"].shape == (8, 32, 80)
  assert batch["feature_paddings"].shape == (8, 32) and not batch["feature_paddings"].any()
  source = storage.open_split(tone_corpus, "train")
  starts = []
  for row, index in enumerate(pipe.plan[0].indices):
    samples = source[int(index)]["audio"].astype(np.float32) / 32768.0
    offsets = [s for s in range(len(samples) // 160)
               if np.array_equal(samples[s * 160:s * 160 + 5120], batch["audio"][row])]
    assert len(offsets) == 1
    starts.append(offsets[0])
    np.testing.assert_allclose(batch["features"][row],
                               audio_lib.log_mel(samples, 16000)[offsets[0]:offsets[0] + 32],
                               atol=1e-5)
  assert len(set(starts)) > 1   # random offsets, not always the start


def test_segments_depend_only_on_the_seed(tone_corpus):
  data = config_for(tone_corpus).data
  first = pipeline_lib.make_pipeline(data, "train", train=True).example_batch(3)
  again = pipeline_lib.make_pipeline(data, "train", train=True).example_batch(3)
  np.testing.assert_array_equal(first["audio"], again["audio"])
  other = pipeline_lib.make_pipeline(config_for(tone_corpus, "data.seed=1").data, "train",
                                     train=True).example_batch(3)
  assert not np.array_equal(first["audio"], other["audio"])
  dev = [pipeline_lib.make_pipeline(data, "dev", train=False) for _ in range(2)]
  for a, b in zip(dev[0].iterator(), dev[1].iterator()):
    np.testing.assert_array_equal(a["audio"], b["audio"])


def test_utterances_shorter_than_a_segment_are_padded(tone_corpus):
  data = config_for(tone_corpus, "data.segment_frames=160").data   # 1.6 s
  pipe = pipeline_lib.make_pipeline(data, "dev", train=False)
  batch = next(pipe.iterator())
  source = storage.open_split(tone_corpus, "dev")
  padded = 0
  for row, index in enumerate(pipe.plan[0].indices):
    if index < 0:
      continue
    samples = source[int(index)]["audio"]
    valid = min(160, audio_lib.num_frames(len(samples), 16000))
    np.testing.assert_array_equal(batch["feature_paddings"][row], np.arange(160) >= valid)
    assert np.all(batch["audio"][row, valid * 160:] == 0.0)
    assert np.all(batch["features"][row, valid:] == np.float32(np.log(1e-10)))
    padded += valid < 160
  assert padded > 0


def test_segment_frames_must_be_positive(tone_corpus):
  with pytest.raises(ConfigError, match="data.segment_frames=0"):
    pipeline_lib.make_pipeline(config_for(tone_corpus, "data.segment_frames=0").data, "train",
                               train=True)
