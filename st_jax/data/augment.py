"""Training-time augmentation, deterministic given a ``numpy.random.Generator``.

Shape legend: T samples, N frames, F mel bins. U{a..b} is a uniform integer draw with both
ends included (``rng.integers(a, b + 1)``); draws happen in the order written below, so the
same generator state always gives the same output.

* ``spec_augment``: SpecAugment (Park et al. 2019) with adaptive time masks (Park et al.
  2020). Masked values are set to 0, the mean of normalised features.
* ``speed_perturb``: Kaldi/sox-style speed change by resampling (tempo and pitch together).
* ``add_noise``: additive white (or given) noise at an exact signal-to-noise ratio.
"""

from __future__ import annotations

import fractions
import math

import numpy as np
import scipy.signal

from st_jax.errors import AudioError

SPEED_FACTORS = (0.9, 1.0, 1.1)  # Kaldi's 3-way speed perturbation


def _mask_bands(features: np.ndarray, axis: int, count: int, max_width: int,
                rng: np.random.Generator) -> None:
  """Zeroes ``count`` bands along ``axis`` in place, at most ``length - 1`` entries in all.

  Per band: width w ~ U{0..cap}, cap = min(max_width, (length - 1) // count), then start
  s ~ U{0..length - w}; entries [s, s + w) are set to 0.
  """
  length = features.shape[axis]
  if count <= 0 or length == 0:
    return
  cap = max(0, min(int(max_width), (length - 1) // count))
  for _ in range(count):
    width = int(rng.integers(0, cap + 1))
    start = int(rng.integers(0, length - width + 1))
    index = [slice(None)] * features.ndim
    index[axis] = slice(start, start + width)
    features[tuple(index)] = 0.0


def spec_augment(features: np.ndarray, rng: np.random.Generator, num_freq_masks: int = 2,
                 max_freq_width: int = 27, num_time_masks: int = 10,
                 max_time_ratio: float = 0.05, adaptive: bool = True,
                 time_masks_per_frame: float = 0.04) -> np.ndarray:
  """[N, F] -> masked copy [N, F] (same dtype).

  Frequency masks first: ``num_freq_masks`` bands of width U{0..min(max_freq_width,
  (F - 1) // num_freq_masks)}. Then time masks: M bands of width U{0..min(floor(
  max_time_ratio N), (N - 1) // M)} with M = min(num_time_masks, floor(time_masks_per_frame
  N)) when ``adaptive`` (Park et al. 2020: pM = 0.04, pS = max_time_ratio), else M =
  ``num_time_masks``. Each band's start is U{0..length - width} (see ``_mask_bands``).
  The caps keep at least one bin and one frame unmasked: the input is never wiped out.
  """
  out = np.array(features, copy=True)
  if out.ndim != 2:
    raise ValueError(f"spec_augment: expected features [frames, bins], got {out.shape}")
  frames = out.shape[0]
  _mask_bands(out, 1, num_freq_masks, max_freq_width, rng)
  time_masks = min(num_time_masks, math.floor(time_masks_per_frame * frames)) if adaptive \
      else num_time_masks
  _mask_bands(out, 0, time_masks, math.floor(max_time_ratio * frames), rng)
  return out


def choose_speed(rng: np.random.Generator, factors=SPEED_FACTORS) -> float:
  """One of ``factors``, each with equal probability (one draw U{0..len - 1})."""
  return float(factors[int(rng.integers(len(factors)))])


def speed_perturb(samples: np.ndarray, factor: float) -> np.ndarray:
  """[T] -> [round(T / factor)] float32, played ``factor`` times faster at the same rate.

  Resamples by q/p = 1/factor with ``scipy.signal.resample_poly`` (p/q: ``factor`` as a
  fraction with denominator <= 100, exact for 0.9 and 1.1), so tempo and pitch both scale
  by ``factor``; the result is cut (or zero-padded) by at most a sample to round(T / factor).
  """
  if not factor > 0:
    raise ValueError(f"speed_perturb: factor must be positive, got {factor}")
  samples = np.asarray(samples, np.float32)
  if factor == 1.0:
    return samples.copy()
  ratio = fractions.Fraction(factor).limit_denominator(100)
  out = scipy.signal.resample_poly(samples, ratio.denominator, ratio.numerator)
  target = int(round(len(samples) / factor))
  out = out[:target] if len(out) >= target else np.pad(out, (0, target - len(out)))
  return out.astype(np.float32, copy=False)


def sample_snr(rng: np.random.Generator, low_db: float = 10.0, high_db: float = 30.0) -> float:
  """SNR in dB drawn uniformly from [low_db, high_db) (one ``rng.uniform`` draw)."""
  return float(rng.uniform(low_db, high_db))


def add_noise(samples: np.ndarray, rng: np.random.Generator, snr_db: float,
              noise: np.ndarray | None = None) -> np.ndarray:
  """[T] -> x + a n, float32, with a = sqrt(P_x / (P_n 10^(snr_db / 10))), P = mean square.

  So 10 log10(P_x / P_{a n}) = snr_db exactly (float64 arithmetic, one float32 rounding).
  ``noise=None``: n ~ N(0, 1)^T (T ``rng.standard_normal`` draws). A given noise longer than
  T is cut at offset U{0..len - T}; a shorter one is repeated (``np.resize``, no draw).
  Silent audio (P_x = 0) comes back unchanged; silent noise raises ``AudioError``.
  """
  x = np.asarray(samples, np.float64)
  if x.ndim != 1:
    raise ValueError(f"add_noise: expected samples [T], got {x.shape}")
  if noise is None:
    n = rng.standard_normal(len(x))
  else:
    n = np.asarray(noise, np.float64)
    if n.ndim != 1 or n.size == 0:
      raise AudioError(f"add_noise: noise must be non-empty mono [samples], got {n.shape}")
    if len(n) > len(x):
      start = int(rng.integers(0, len(n) - len(x) + 1))
      n = n[start:start + len(x)]
    else:
      n = np.resize(n, len(x))
  signal_power = np.mean(np.square(x)) if x.size else 0.0
  if signal_power == 0:
    return x.astype(np.float32)
  noise_power = np.mean(np.square(n))
  if noise_power == 0:
    raise AudioError("add_noise: the noise is silent (zero power over the stretch used), so "
                     f"no scaling reaches snr_db={snr_db}; use a noise recording with sound")
  scale = math.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
  return (x + scale * n).astype(np.float32)
