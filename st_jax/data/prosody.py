"""Frame-level prosody targets for speech synthesis: F0 (YIN), energy, phoneme durations.

Shape legend: T samples, N frames (the log-mel frames of st_jax/data/audio.py: N = 1 + T // H,
frame n centred on sample n H), W YIN window, L = W + tau_max samples per YIN frame,
K = n_fft // 2 + 1 FFT bins, U phonemes.

F0 by YIN (de Cheveigné & Kawahara 2002) on a frame x[0..L) centred on n H::

  d(tau)  = sum_{j<W} (x_j - x_{j+tau})^2 = E_0 + E_tau - 2 r(tau)      (r via FFT)
  d'(tau) = d(tau) tau / sum_{1<=j<=tau} d(j),  d'(0) = 1                 (cumulative mean norm)
  tau*    = first tau in [tau_min, tau_max] with d'(tau) < threshold that is a local minimum,
            else argmin d' (then voiced only if d'(tau*) < threshold)
  f0      = sample_rate / (tau* + parabolic offset);   unvoiced if quiet or d'(tau*) >= threshold

Energy (FastSpeech 2): e_n = || |STFT(x)_n| ||_2, the L2 norm over the K bins of the
magnitude spectrum, with the window, hop and centre padding of the log-mel front end.

Durations: phoneme u ending at end_u seconds ends at frame b_u = round(end_u sr / H); the last
boundary is N, so d_u = b_u - b_{u-1} >= 0 and sum_u d_u = N exactly.
"""

from __future__ import annotations

import numpy as np

from st_jax.data import audio as audio_lib
from st_jax.errors import ManifestError

F0_MIN, F0_MAX = 60.0, 700.0    # Hz searched by the tracker
YIN_THRESHOLD = 0.2             # d' below this is a periodic (voiced) frame
SILENCE_DB = -50.0              # frames quieter than this (RMS, dBFS) are unvoiced


def _centred_frames(samples: np.ndarray, length: int, hop: int, count: int) -> np.ndarray:
  """[T] -> [count, length] frames, frame n covering samples n*hop - length//2 ... (reflect)."""
  half = length // 2
  padded = np.pad(samples, (half, half + hop), mode="reflect" if len(samples) > half + hop
                  else "constant")
  return np.lib.stride_tricks.sliding_window_view(padded, length)[::hop][:count]


def yin_f0(samples: np.ndarray, sample_rate: int, hop: int, num_frames: int,
           fmin: float = F0_MIN, fmax: float = F0_MAX,
           threshold: float = YIN_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
  """[T] float samples -> (f0 [num_frames] Hz, 0 where unvoiced; voiced [num_frames] bool)."""
  samples = np.asarray(samples, np.float64)
  tau_min = max(2, int(np.floor(sample_rate / fmax)))
  tau_max = int(np.ceil(sample_rate / fmin))
  window = tau_max + 1
  frames = _centred_frames(samples, window + tau_max + 1, hop, num_frames)   # [N, L]
  size = 1 << int(np.ceil(np.log2(frames.shape[1] + window)))
  spectrum = np.fft.rfft(frames, size)
  head = np.fft.rfft(frames[:, :window], size)
  r = np.fft.irfft(spectrum * np.conj(head), size)[:, :tau_max + 1]           # r(tau)
  squares = np.cumsum(np.pad(frames ** 2, ((0, 0), (1, 0))), axis=1)
  e0 = squares[:, window][:, None]
  taus = np.arange(tau_max + 1)
  e_tau = squares[:, taus + window] - squares[:, taus]
  diff = np.maximum(e0 + e_tau - 2.0 * r, 0.0)                                # d(tau)
  cumulative = np.cumsum(diff[:, 1:], axis=1)
  cmnd = np.ones_like(diff)
  cmnd[:, 1:] = diff[:, 1:] * taus[1:] / np.maximum(cumulative, 1e-12)
  search = cmnd[:, tau_min:tau_max]
  below = search < threshold
  local_min = np.ones_like(below)
  local_min[:, :-1] = search[:, :-1] <= search[:, 1:]
  candidates = below & local_min
  first = np.where(candidates.any(axis=1), candidates.argmax(axis=1), search.argmin(axis=1))
  tau = first + tau_min
  rows = np.arange(num_frames)
  left = cmnd[rows, np.maximum(tau - 1, 0)]
  mid = cmnd[rows, tau]
  right = cmnd[rows, np.minimum(tau + 1, tau_max)]
  curvature = left - 2.0 * mid + right
  curved = np.abs(curvature) > 1e-12
  offset = np.where(curved, 0.5 * (left - right) / np.where(curved, curvature, 1.0), 0.0)
  period = tau + np.clip(offset, -1.0, 1.0)
  rms = np.sqrt(squares[:, window] / window)
  loud = 20.0 * np.log10(np.maximum(rms, 1e-10)) > SILENCE_DB
  voiced = (mid < threshold) & loud & (period > 0)
  f0 = np.where(voiced, sample_rate / np.maximum(period, 1e-6), 0.0)
  voiced &= (f0 >= fmin) & (f0 <= fmax)
  return np.where(voiced, f0, 0.0).astype(np.float32), voiced


def frame_energy(samples: np.ndarray, sample_rate: int, win_ms: float = 25.0,
                 hop_ms: float = 10.0) -> np.ndarray:
  """[T] -> [N] L2 norm of the magnitude spectrum of each log-mel frame (module doc)."""
  window, hop, n_fft = audio_lib.stft_sizes(sample_rate, win_ms, hop_ms)
  x = np.asarray(samples, np.float64)
  count = 1 + len(x) // hop
  padded = np.pad(x, (n_fft // 2, n_fft // 2), mode="reflect")
  # the log-mel front end's own framing and window, so frame n is the same frame
  frames = audio_lib._frames(padded, n_fft, hop, count, np)  # pylint: disable=protected-access
  frames = frames * audio_lib._hann_window(window, n_fft)  # pylint: disable=protected-access
  magnitude = np.abs(np.fft.rfft(frames, n=n_fft, axis=-1))
  return np.sqrt(np.square(magnitude).sum(axis=-1)).astype(np.float32)


def durations_from_alignment(alignment, num_frames: int, sample_rate: int, hop: int,
                             what: str = "alignment") -> np.ndarray:
  """[[phoneme, start_s, end_s], ...] -> [U] int32 frames per phoneme summing to num_frames."""
  if not alignment:
    raise ManifestError(f"{what}: no phoneme timings (the manifest's alignment column is "
                        f"empty); use model.tts.durations=learned for corpora without them")
  ends = np.asarray([float(entry[2]) for entry in alignment], np.float64)
  if np.any(np.diff(ends) < 0):
    raise ManifestError(f"{what}: phoneme end times are not increasing: {ends.tolist()}")
  bounds = np.minimum(np.round(ends * sample_rate / hop).astype(np.int64), num_frames)
  bounds[-1] = num_frames
  return np.diff(np.concatenate([[0], bounds])).astype(np.int32)


def average_per_symbol(values: np.ndarray, weights: np.ndarray,
                       durations: np.ndarray) -> np.ndarray:
  """Reference (numpy, one utterance): mean of values [N] over the frames of each symbol
  weighted by weights [N] (0 where a symbol has no weighted frames) -> [U]."""
  ends = np.cumsum(durations)
  starts = ends - durations
  out = np.zeros(len(durations), np.float64)
  for u, (s, e) in enumerate(zip(starts, ends)):
    w = weights[s:e]
    if w.sum() > 0:
      out[u] = (values[s:e] * w).sum() / w.sum()
  return out
