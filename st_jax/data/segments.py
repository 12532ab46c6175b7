"""Vocoder training examples (``data.task = "vocoder"``): fixed-length audio segments with
their log-mel frames.

Shapes: B batch rows, S = ``data.segment_frames`` frames, H hop samples, F mel bins.

For an utterance x of N = 1 + len(x) // H frames, with r the example's generator
``rng(data.seed, step, row)`` (pipeline.py), so segments are deterministic given the seed and
differ from epoch to epoch::

  s       = r.integers(0, max(0, (len(x) - S H) // H) + 1)       first frame of the segment
  audio   = x[s H : (s + S) H]                                    [S H]   zero-padded
  features = log_mel(x)[s : s + S]                                [S, F]  raw natural-log
                                                                          power mel, no CMVN
  valid   = min(S, N - s) frames

(features of the whole utterance, so the segment's edge frames see their real context.)
A batch holds ``audio [B, S H]``, ``features [B, S, F]``, ``feature_paddings [B, S]`` and
``example_mask [B]``; padded frames carry ln(1e-10) and zero samples.
"""

from __future__ import annotations

import numpy as np

from st_jax.data import audio as audio_lib
from st_jax.errors import ConfigError


def hop_samples(data) -> int:
  """H: samples per frame of the front end in ``data``."""
  return audio_lib.stft_sizes(data.sample_rate, data.win_ms, data.hop_ms)[1]


def segment_frames(data) -> int:
  """S = ``data.segment_frames`` (ConfigError unless a positive int)."""
  frames = data.get("segment_frames", 0)
  if not isinstance(frames, int) or frames < 1:
    raise ConfigError(f"data.segment_frames={frames!r}: the vocoder task needs a positive "
                      f"number of frames per training segment (e.g. 64 = 0.64 s at 10 ms)")
  return frames


def encode(example, rng: np.random.Generator, data) -> dict:
  """One stored example -> {audio [S H], features [S, F], frames: valid count} (module doc)."""
  frames, hop = segment_frames(data), hop_samples(data)
  samples = example["audio"].astype(np.float32) / 32768.0
  start = int(rng.integers(0, max(0, (len(samples) - frames * hop) // hop) + 1))
  feats = audio_lib.log_mel(samples, data.sample_rate, n_mels=data.n_mels, win_ms=data.win_ms,
                            hop_ms=data.hop_ms)[start:start + frames]
  valid = len(feats)
  clip = samples[start * hop:min(start + frames, start + valid) * hop]
  audio = np.zeros(frames * hop, np.float32)
  audio[:len(clip)] = clip
  features = np.full((frames, data.n_mels), np.log(audio_lib.LOG_FLOOR), np.float32)
  features[:valid] = feats
  return {"audio": audio, "features": features, "frames": valid}


def collate(encoded: list) -> dict:
  """Encoded segments (``None`` = filler row, all padding) -> the batch of the module doc."""
  template = next(e for e in encoded if e is not None)
  frames = template["features"].shape[0]
  filler = {"audio": np.zeros_like(template["audio"]), "frames": 0,
            "features": np.full_like(template["features"], np.log(audio_lib.LOG_FLOOR))}
  rows = [filler if e is None else e for e in encoded]
  return {"audio": np.stack([e["audio"] for e in rows]),
          "features": np.stack([e["features"] for e in rows]),
          "feature_paddings": audio_lib.frame_paddings([e["frames"] for e in rows], frames),
          "example_mask": np.asarray([e is not None for e in encoded], np.float32)}
