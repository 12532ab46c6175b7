"""Audio for the runtime and the server, without st_jax: decode (soundfile), check, resample.

Shape legend: T input samples, T' = ceil(T up / down) output samples.

`resample` is polyphase FIR resampling equal (to float rounding) to
``scipy.signal.resample_poly(x, up, down)`` with its default Kaiser window, which is what the
training front end (`st_jax.data.audio.resample`) uses, so a 44.1 kHz file gives the same
samples here as in-process. With up/down = rate_out/rate_in reduced by their gcd,
M = max(up, down), half = 10 M and n = -half..half::

  h[n]  = up * c sinc(c n) kaiser_5[n] / sum_n c sinc(c n) kaiser_5[n],    c = 1 / M
  y[k]  = sum_i x[i] h[k down + half - i up]                               k < T'

i.e. zero-stuff by `up`, low-pass at min(rate_in, rate_out) / 2, keep every `down`-th sample,
aligned so that y[k] sits at input time k down / up.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np
import soundfile as sf

from serving.errors import InputError

KAISER_BETA = 5.0
_BLOCK_ELEMENTS = 1 << 22   # output samples x taps gathered at once (32 MiB of float64)


def check_samples(samples, what: str) -> np.ndarray:
  """1-D, non-empty, finite -> float32 [T]; else ``InputError`` (422) naming ``what``."""
  samples = np.asarray(samples)
  if samples.ndim != 1:
    raise InputError(f"{what}: expected mono audio of shape [samples], got shape "
                     f"{samples.shape}")
  if samples.size == 0:
    raise InputError(f"{what}: the audio holds zero samples")
  if not np.issubdtype(samples.dtype, np.number):
    raise InputError(f"{what}: expected float samples, got dtype {samples.dtype}")
  bad = ~np.isfinite(samples)
  if bad.any():
    raise InputError(f"{what}: {int(bad.sum())} of {samples.size} samples are NaN or Inf "
                     f"(first at sample {int(np.argmax(bad))}); the audio is corrupt")
  return samples.astype(np.float32, copy=False)


def _lowpass(up: int, down: int) -> np.ndarray:
  """The filter h [2 half + 1] of the module docstring (float64)."""
  rate = max(up, down)
  half = 10 * rate
  n = np.arange(-half, half + 1, dtype=np.float64)
  h = (1.0 / rate) * np.sinc(n / rate) * np.kaiser(2 * half + 1, KAISER_BETA)
  return h * (up / h.sum())


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
  """[T] float -> [T'] float32 at ``rate_out`` (module docstring); a copy when rates match."""
  if int(rate_in) != rate_in or int(rate_out) != rate_out or rate_in <= 0 or rate_out <= 0:
    raise ValueError(f"resample: rates must be positive integers, got {rate_in} -> {rate_out}")
  x = np.asarray(samples, np.float64)
  divisor = math.gcd(int(rate_in), int(rate_out))
  up, down = int(rate_out) // divisor, int(rate_in) // divisor
  if up == down:
    return x.astype(np.float32)
  h = _lowpass(up, down)
  half = (len(h) - 1) // 2
  taps = -(-len(h) // up)                        # taps per polyphase branch
  branches = np.zeros(taps * up)
  branches[:len(h)] = h
  branches = branches.reshape(taps, up).T        # [up, taps]: h[phase + up t]
  n_out = -(-len(x) * up // down)
  margin = taps + half // up + 2
  padded = np.concatenate([np.zeros(taps), x, np.zeros(margin)])
  out = np.empty(n_out, np.float64)
  block = max(1, _BLOCK_ELEMENTS // taps)
  for start in range(0, n_out, block):
    centre = np.arange(start, min(start + block, n_out), dtype=np.int64) * down + half
    first, phase = centre // up, centre % up     # newest input sample, filter phase
    index = first[:, None] - np.arange(taps)[None, :] + taps
    out[start:start + len(centre)] = np.einsum("kt,kt->k", padded[index], branches[phase])
  return out.astype(np.float32)


def decode_audio(data: bytes, sample_rate: int, what: str = "audio",
                 max_seconds: float | None = None) -> np.ndarray:
  """A WAV/FLAC/OGG file body -> mono float32 samples [T] at ``sample_rate``.

  Channels are mixed by their mean; other rates are resampled (`resample`). ``InputError``
  names ``what``: 400 for an empty body, 422 for bytes that are not audio or hold zero or
  NaN/Inf samples, 413 for audio longer than ``max_seconds``.
  """
  if not data:
    raise InputError(f"{what}: the body is empty (0 bytes); send a WAV, FLAC or OGG file",
                     400)
  try:
    frames, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
  except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as e:
    reason = (getattr(e, "error_string", "") or str(e)).strip()
    raise InputError(f"{what}: not a readable audio file ({reason}); send WAV, FLAC or OGG "
                     f"that libsndfile can decode") from None
  if max_seconds is not None and frames.shape[0] > max_seconds * rate:
    raise InputError(f"{what}: {frames.shape[0] / rate:.2f} s of audio is longer than the "
                     f"{max_seconds:g} s this server accepts; cut it into shorter pieces", 413)
  samples = check_samples(frames.mean(axis=1, dtype=np.float32), what)
  return samples if rate == sample_rate else resample(samples, rate, sample_rate)


def load_audio(path: str, sample_rate: int, max_seconds: float | None = None) -> np.ndarray:
  """`decode_audio` of a file on disk (``InputError`` naming ``path`` when it is missing)."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise InputError(f"{path}: no such audio file")
  with open(path, "rb") as f:
    return decode_audio(f.read(), sample_rate, path, max_seconds)
