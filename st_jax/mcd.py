"""Mel cepstral distortion (MCD) between two log-mel spectrograms, with or without DTW.

Shapes: T, T' frames of the reference and the synthesised utterance, F mel bins, D = 24
cepstral coefficients, P aligned frame pairs.

Cepstra (MFCC-like) from the log-mels of ``st_jax/data/audio.py`` (x_f(t) = natural log of
the mel power in band f, F = 80 bands), by a DCT-II over the mel axis::

  c_d(t) = 1/F sum_{f=0}^{F-1} (x_f(t) / 2) cos(pi d (2 f + 1) / (2 F)),   d = 1..D

(c_0, the loudness term, is left out). x / 2 is the log *amplitude* and the 1/F weights are
those of the inverse transform of a spectrum given on F bands, so c_d is the real cepstrum of
the mel amplitude spectrum, ln|X(w)| = c_0 + 2 sum_d c_d cos(d w): the scale of the
mel-cepstra that MCD is defined on (the orthonormal MFCCs of x are 2 sqrt(2 F) = 25.3 times
larger and would give MCDs 25.3 times larger).

Distortion per aligned frame pair (t, t') and its average over the P pairs::

  MCD(t, t') = (10 / ln 10) sqrt(2 sum_{d=1}^{D} (c_d(t) - c'_d(t'))^2)          [dB]
  MCD = 1/P sum_{(t, t') in path} MCD(t, t')

``path`` is the dynamic-time-warping path minimising the summed Euclidean cepstral distance
(steps (1, 0), (0, 1), (1, 1), ends anchored; `dtw_path`), or, for two sequences already on
one time axis (synthesis with the reference's durations), the diagonal t = t'. MCD(x, x) = 0
and MCD(x, y) = MCD(y, x).

Published MCDs mostly use SPTK mel-cepstra (all-pass frequency warping of the log amplitude
spectrum) rather than a DCT of 80 mel bands, so figures from here compare with those loosely
and with each other exactly.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

NUM_CEPSTRA = 24
DB = 10.0 / math.log(10.0)


def cepstra(log_mel: np.ndarray, num_cepstra: int = NUM_CEPSTRA) -> np.ndarray:
  """log-mel [T, F] -> cepstra c_1..c_D [T, D] (module doc)."""
  log_mel = np.asarray(log_mel, np.float64)
  if log_mel.ndim != 2 or log_mel.shape[1] <= num_cepstra:
    raise ValueError(f"cepstra: expected log-mel [frames, bins > {num_cepstra}], got shape "
                     f"{log_mel.shape}")
  bins = log_mel.shape[1]     # scipy's unnormalised DCT-II is 2 sum_f x_f cos(...)
  return scipy.fft.dct(log_mel, type=2, axis=1)[:, 1:num_cepstra + 1] / (4.0 * bins)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """[T, D], [T', D] -> Euclidean distances [T, T']."""
  squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2.0 * a @ b.T
  return np.sqrt(np.maximum(squared, 0.0))


def dtw_path(cost: np.ndarray) -> np.ndarray:
  """Frame-pair costs [T, T'] -> the cheapest monotonic path [P, 2] from (0, 0) to
  (T-1, T'-1) with steps (1, 0), (0, 1), (1, 1).

  Accumulated cost A[i, j] = cost[i, j] + min(A[i-1, j], A[i-1, j-1], A[i, j-1]), one row at
  a time: with m_j = min(A[i-1, j], A[i-1, j-1]) and C_j = sum_{k<=j} cost[i, k],
  A[i, j] = C_j + min_{k<=j} (m_k - C_{k-1}) (a running minimum, so each row is vectorised).
  Ties prefer the diagonal step.
  """
  cost = np.asarray(cost, np.float64)
  if cost.ndim != 2 or not cost.size:
    raise ValueError(f"dtw_path: expected a non-empty [T, T'] cost matrix, got {cost.shape}")
  rows, cols = cost.shape
  acc = np.empty_like(cost)
  acc[0] = np.cumsum(cost[0])
  for i in range(1, rows):
    diagonal = np.concatenate([[np.inf], acc[i - 1, :-1]])
    entry = np.minimum(acc[i - 1], diagonal)
    running = np.cumsum(cost[i])
    before = np.concatenate([[0.0], running[:-1]])
    acc[i] = running + np.minimum.accumulate(entry - before)
  path = [(rows - 1, cols - 1)]
  i, j = rows - 1, cols - 1
  while i > 0 or j > 0:
    if i == 0:
      j -= 1
    elif j == 0:
      i -= 1
    else:
      steps = ((i - 1, j - 1), (i - 1, j), (i, j - 1))
      i, j = min(steps, key=lambda s: acc[s])
    path.append((i, j))
  return np.asarray(path[::-1], np.int64)


def mcd(reference: np.ndarray, synthesised: np.ndarray, align: str = "dtw",
        num_cepstra: int = NUM_CEPSTRA) -> dict:
  """Mel cepstral distortion (module doc) of two log-mels [T, F], [T', F].

  ``align``: "dtw" (any lengths) or "none" (the same frames: T = T', pairs (t, t)).
  Returns {"mcd_db": mean over the P pairs, "frames": P}.
  """
  a, b = cepstra(reference, num_cepstra), cepstra(synthesised, num_cepstra)
  if align == "dtw":
    cost = _distances(a, b)
    path = dtw_path(cost)
    per_pair = cost[path[:, 0], path[:, 1]]
  elif align == "none":
    if len(a) != len(b):
      raise ValueError(f"mcd(align='none') needs equal frame counts, got {len(a)} and {len(b)}")
    per_pair = np.sqrt(((a - b) ** 2).sum(1))
  else:
    raise ValueError(f"mcd: align={align!r} is not 'dtw' or 'none'")
  return {"mcd_db": float(DB * math.sqrt(2.0) * per_pair.mean()), "frames": int(len(per_pair))}
