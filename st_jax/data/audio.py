"""Audio front end: decoding, resampling, log-mel features and their normalisation.

Shape legend: T samples, B utterances, N frames, F mel bins, K = n_fft // 2 + 1 FFT bins.

Log-mel (``log_mel``), with W = round(sr * win_ms / 1000) window samples, H =
round(sr * hop_ms / 1000) hop samples and n_fft the next power of two >= W::

  x_pad  = reflect-pad x by n_fft // 2 on both sides                  (librosa center=True)
  w[n]   = 0.5 - 0.5 cos(2 pi n / W), n < W, centred in n_fft zeros    (periodic Hann)
  X[t,k] = sum_n x_pad[t H + n] w[n] exp(-2 pi i k n / n_fft)           t < N = 1 + T // H
  P[t,k] = |X[t,k]|^2
  M[t,m] = sum_k P[t,k] fb[k,m]                                         (``mel_filterbank``)
  out    = ln(max(M, 1e-10))                                             [N, F]

which equals, to float rounding, ``np.log(np.maximum(librosa.feature.melspectrogram(y=x,
sr=sr, n_fft=n_fft, hop_length=H, win_length=W, window='hann', center=True,
pad_mode='reflect', power=2.0, n_mels=F, fmin=fmin, fmax=fmax), 1e-10)).T``. Note the
explicit ``pad_mode='reflect'``: librosa >= 0.10 pads with zeros by default.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import struct
from typing import Iterable

import numpy as np
import scipy.signal
import soundfile as sf

from st_jax.errors import AudioError, ConfigError

LOG_FLOOR = 1e-10  # mel power floor before the log
STD_FLOOR = 1e-5  # smallest std used to divide by in normalisation
_UNKNOWN_WAV_SIZES = (0, 0xFFFFFFFF)  # data sizes streaming writers leave in the header


# ---------------------------------------------------------------------------------------------
# Decoding


def check_samples(samples: np.ndarray, what: str) -> np.ndarray:
  """Validates decoded audio: 1-D, non-empty, finite. Returns it as float32 [T].

  Raises ``AudioError`` naming ``what`` (a path or other source) otherwise.
  """
  samples = np.asarray(samples)
  if samples.ndim != 1:
    raise AudioError(f"{what}: expected mono audio of shape [samples], got shape "
                     f"{samples.shape}")
  if samples.size == 0:
    raise AudioError(f"{what}: the audio holds zero samples")
  bad = ~np.isfinite(samples)
  if bad.any():
    first = int(np.argmax(bad))
    raise AudioError(f"{what}: {int(bad.sum())} of {samples.size} samples are NaN or Inf "
                     f"(first at sample {first}); the file is corrupt")
  return samples.astype(np.float32, copy=False)


def _declared_wav_shortfall(head: bytes, size: int) -> int:
  """Bytes missing from a RIFF/WAVE ``data`` chunk: declared size - bytes present, or 0.

  ``head`` is the start of the file (chunk headers before ``data``), ``size`` its length.
  libsndfile silently reads a truncated WAV up to the end of the file; this spots it.
  """
  if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
    return 0
  offset = 12
  while offset + 8 <= len(head):
    chunk_id, (chunk_size,) = head[offset:offset + 4], struct.unpack_from("<I", head, offset + 4)
    if chunk_id == b"data":
      present = size - (offset + 8)
      return 0 if chunk_size in _UNKNOWN_WAV_SIZES else max(0, chunk_size - present)
    offset += 8 + chunk_size + (chunk_size & 1)
  return 0


def _decode(source, size: int, head: bytes, sample_rate: int | None,
            what: str) -> tuple[np.ndarray, int]:
  """Shared body of ``load_audio`` and ``decode_audio_bytes`` (``source``: path or file)."""
  if size == 0:
    raise AudioError(f"{what}: the file is empty (0 bytes)")
  try:
    frames, rate = sf.read(source, dtype="float32", always_2d=True)
  except (sf.SoundFileError, RuntimeError) as e:
    reason = getattr(e, "error_string", "") or str(e)
    raise AudioError(f"{what}: not a readable audio file ({reason.strip()}); expected "
                     f"WAV, FLAC or OGG that libsndfile can decode") from None
  missing = _declared_wav_shortfall(head, size)
  if missing:
    raise AudioError(f"{what}: truncated WAV: its header declares {missing} more bytes of "
                     f"audio than the file holds ({frames.shape[0]} frames readable)")
  samples = check_samples(frames.mean(axis=1, dtype=np.float32), what)
  if sample_rate is not None and sample_rate != rate:
    return resample(samples, rate, sample_rate), sample_rate
  return samples, rate


def load_audio(path: str, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
  """Decodes a WAV/FLAC/OGG file -> (samples float32 [T], rate).

  Channels are mixed to mono by their mean. Integer PCM maps to [-1, 1); float files are
  returned as stored. With ``sample_rate`` the audio is resampled to it (``resample``) and
  the returned rate is ``sample_rate``. Raises ``AudioError`` naming ``path`` for a missing,
  empty, undecodable, truncated, zero-length or NaN/Inf-containing file.
  """
  path = os.fspath(path)
  if not os.path.exists(path):
    raise AudioError(f"{path}: audio file does not exist")
  if not os.path.isfile(path):
    raise AudioError(f"{path}: is not a file (expected an audio file)")
  with open(path, "rb") as f:
    head = f.read(4096)
  return _decode(path, os.path.getsize(path), head, sample_rate, path)


def decode_audio_bytes(data: bytes, sample_rate: int | None,
                       what: str) -> tuple[np.ndarray, int]:
  """``load_audio`` for an in-memory file body; ``what`` names the source in errors."""
  return _decode(io.BytesIO(data), len(data), bytes(data[:4096]), sample_rate, what)


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
  """[T] -> [ceil(T * rate_out / rate_in)] float32 by polyphase filtering.

  ``scipy.signal.resample_poly(x, up, down)`` with up/down = rate_out/rate_in reduced by
  their gcd (8000 -> 16000: 2/1, 22050 -> 16000: 320/441, 48000 -> 16000: 1/3), i.e. a
  Kaiser-windowed (beta 5) low-pass FIR at min(rate_in, rate_out) / 2.
  """
  if int(rate_in) != rate_in or int(rate_out) != rate_out or rate_in <= 0 or rate_out <= 0:
    raise ValueError(f"resample: sample rates must be positive integers, got {rate_in} -> "
                     f"{rate_out}")
  samples = np.asarray(samples, np.float32)
  if rate_in == rate_out:
    return samples.copy()
  divisor = math.gcd(int(rate_in), int(rate_out))
  out = scipy.signal.resample_poly(samples, int(rate_out) // divisor, int(rate_in) // divisor)
  return out.astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------------
# Log-mel features


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
  """Slaney mel scale: linear (3 mel per 200 Hz) below 1 kHz, log above (27 mel per x6.4)."""
  hz = np.asarray(hz, np.float64)
  linear = hz / (200.0 / 3)
  log = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) / (np.log(6.4) / 27.0)
  return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
  """Inverse of ``_hz_to_mel``."""
  mel = np.asarray(mel, np.float64)
  return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)),
                  mel * (200.0 / 3))


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
  """Triangular mel filters fb [K = n_fft // 2 + 1, n_mels] float64.

  Centres c_0..c_{n_mels+1} are equally spaced on the Slaney mel scale from fmin to fmax
  (default sample_rate / 2); filter m rises linearly from c_m to 1 at c_{m+1}, falls to 0
  at c_{m+2}, and is scaled by 2 / (c_{m+2} - c_m) (equal area, Slaney norm). Equals
  ``librosa.filters.mel(sr=..., n_fft=..., n_mels=..., fmin=..., fmax=...).T`` (htk=False,
  norm='slaney'), which is the same computation stored as float32.
  """
  fmax = sample_rate / 2.0 if fmax is None else float(fmax)
  if not 0.0 <= fmin < fmax <= sample_rate / 2.0:
    raise ConfigError(f"mel filterbank: need 0 <= fmin < fmax <= sample_rate / 2, got "
                      f"fmin={fmin}, fmax={fmax}, sample_rate={sample_rate}")
  fft_hz = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)  # [K]
  centres = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
  widths = np.diff(centres)  # [n_mels + 1]
  offsets = centres[:, None] - fft_hz[None, :]  # [n_mels + 2, K]
  rising = -offsets[:-2] / widths[:-1, None]
  falling = offsets[2:] / widths[1:, None]
  weights = np.maximum(0.0, np.minimum(rising, falling))  # [n_mels, K]
  weights *= (2.0 / (centres[2:] - centres[:-2]))[:, None]
  return weights.T


def stft_sizes(sample_rate: int, win_ms: float = 25.0, hop_ms: float = 10.0,
               n_fft: int | None = None) -> tuple[int, int, int]:
  """(window W, hop H, n_fft) in samples: W = round(sr win_ms / 1000), H likewise,
  n_fft = next power of two >= W unless given (then it must be even and >= W)."""
  window = int(round(sample_rate * win_ms / 1000.0))
  hop = int(round(sample_rate * hop_ms / 1000.0))
  if window < 1 or hop < 1:
    raise ConfigError(f"front end: win_ms={win_ms} and hop_ms={hop_ms} must each be at least "
                      f"one sample at {sample_rate} Hz")
  n_fft = 1 << (window - 1).bit_length() if n_fft is None else int(n_fft)
  if n_fft < window or n_fft % 2:
    raise ConfigError(f"front end: n_fft={n_fft} must be even and >= the window "
                      f"({window} samples = {win_ms} ms at {sample_rate} Hz)")
  return window, hop, n_fft


def num_frames(num_samples: int, sample_rate: int, hop_ms: float = 10.0) -> int:
  """Frames ``log_mel`` returns for ``num_samples`` samples: 1 + T // H."""
  return 1 + int(num_samples) // int(round(sample_rate * hop_ms / 1000.0))


def frame_paddings(frame_counts, max_frames: int) -> np.ndarray:
  """[B] valid frame counts -> paddings [B, max_frames] float32 (1.0 = padded frame)."""
  counts = np.asarray(frame_counts, np.int64)
  return (np.arange(max_frames)[None, :] >= counts[:, None]).astype(np.float32)


def _hann_window(window: int, n_fft: int) -> np.ndarray:
  """Periodic Hann of ``window`` samples centred in ``n_fft`` zeros (librosa pad_center)."""
  hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(window) / window)
  left = (n_fft - window) // 2
  return np.pad(hann, (left, n_fft - window - left))


def _frames(padded, n_fft: int, hop: int, count: int, xp):
  """[..., T + 2 (n_fft // 2)] -> [..., count, n_fft] overlapping frames.

  numpy: a strided view (no copy). jax: the signal cut into hop-sized chunks [..., M, H] and
  frame i = chunks i, i+1, ..., i+ceil(n_fft/H)-1 side by side, cut to n_fft: shifted slices
  that XLA fuses into one copy (a gather with an index matrix is slower on CPU)."""
  if xp is np:
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop, :]
  pieces = -(-n_fft // hop)
  chunks_needed = count + pieces - 1
  length = chunks_needed * hop
  extra = max(length - padded.shape[-1], 0)
  padded = xp.pad(padded, [(0, 0)] * (padded.ndim - 1) + [(0, extra)])[..., :length]
  chunks = padded.reshape(padded.shape[:-1] + (chunks_needed, hop))
  frames = xp.concatenate([chunks[..., j:j + count, :] for j in range(pieces)], axis=-1)
  return frames[..., :n_fft]


def log_mel(samples, sample_rate: int, n_mels: int = 80, win_ms: float = 25.0,
            hop_ms: float = 10.0, n_fft: int | None = None, fmin: float = 0.0,
            fmax: float | None = None, xp=np, dtype=np.float64):
  """[T] -> [N, F] or [B, T] -> [B, N, F] float32 log-mel, N = 1 + T // H (module doc).

  ``xp=numpy`` computes in ``dtype`` (float64 by default: the data workers' exact path;
  float32 is ~2x faster and within ~1e-5 on bins above the floor) with scipy's FFT;
  ``xp=jax.numpy`` computes in float32 and is traceable under ``jax.jit`` (matmul at HIGHEST
  precision, so no TF32 on GPUs). A batch row equals the row alone when it is unpadded; with
  right-padding only the frames whose window reaches the padding (the last
  ceil((n_fft / 2) / H) valid ones) differ.
  """
  window, hop, n_fft = stft_sizes(sample_rate, win_ms, hop_ms, n_fft)
  x = xp.asarray(samples, dtype if xp is np else xp.result_type(float))  # jax: f32 unless x64
  if x.ndim not in (1, 2) or x.shape[-1] < 2:
    raise ValueError(f"log_mel: expected samples [T] or [B, T] with T >= 2, got {x.shape}")
  count = 1 + x.shape[-1] // hop
  half = n_fft // 2
  padded = xp.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode="reflect")
  frames = _frames(padded, n_fft, hop, count, xp) * xp.asarray(_hann_window(window, n_fft),
                                                                 x.dtype)
  if xp is np:   # scipy's pocketfft keeps float32 and reads the strided frames directly
    import scipy.fft  # pylint: disable=g-import-not-at-top
    spectrum = scipy.fft.rfft(frames, n=n_fft, axis=-1)
  else:
    spectrum = xp.fft.rfft(frames, n=n_fft, axis=-1)  # [..., N, K]
  power = spectrum.real ** 2 + spectrum.imag ** 2
  filters = xp.asarray(mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax), x.dtype)
  if xp is np:
    mel = power @ filters
  else:
    mel = xp.matmul(power, filters, precision="highest")
  return xp.log(xp.maximum(mel, LOG_FLOOR)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Normalisation


@dataclasses.dataclass(frozen=True)
class FeatureStats:
  """Global mean/variance of features [N, F] over a split, from float64 running sums.

  mean = sums / frame_count, std = max(sqrt(squared_sums / frame_count - mean^2), 1e-5),
  ``apply(f) = (f - mean) / std``.
  """
  frame_count: int
  sums: np.ndarray  # [F] float64, sum over frames of f
  squared_sums: np.ndarray  # [F] float64, sum over frames of f^2

  @classmethod
  def accumulate(cls, features_iterable: Iterable[np.ndarray]) -> FeatureStats:
    """Streams utterances [N_i, F] (one at a time in memory) into the running sums."""
    frame_count, sums, squared_sums = 0, None, None
    for features in features_iterable:
      features = np.asarray(features, np.float64)
      if features.ndim != 2 or (sums is not None and features.shape[1] != sums.shape[0]):
        expected = "[frames, bins]" if sums is None else f"[frames, {sums.shape[0]}]"
        raise ValueError(f"FeatureStats.accumulate: expected features {expected}, got "
                         f"{features.shape}")
      if sums is None:
        sums, squared_sums = np.zeros(features.shape[1]), np.zeros(features.shape[1])
      frame_count += features.shape[0]
      sums += features.sum(axis=0)
      squared_sums += np.square(features).sum(axis=0)
    if not frame_count:
      raise ValueError("FeatureStats.accumulate: no frames to compute statistics from")
    return cls(frame_count, sums, squared_sums)

  @property
  def mean(self) -> np.ndarray:
    """[F] float64."""
    return self.sums / self.frame_count

  @property
  def std(self) -> np.ndarray:
    """[F] float64, floored at ``STD_FLOOR``."""
    variance = np.maximum(self.squared_sums / self.frame_count - np.square(self.mean), 0.0)
    return np.maximum(np.sqrt(variance), STD_FLOOR)

  def apply(self, features):
    """[..., F] -> (features - mean) / std, float32 (numpy or jax arrays)."""
    return (features - self.mean.astype(np.float32)) / self.std.astype(np.float32)

  def save(self, path: str) -> None:
    """Writes JSON: frame_count, sums, squared_sums (exact float64), mean and std (to read)."""
    body = {"frame_count": self.frame_count, "sums": self.sums.tolist(),
            "squared_sums": self.squared_sums.tolist(), "mean": self.mean.tolist(),
            "std": self.std.tolist()}
    partial = f"{path}.part"
    with open(partial, "w", encoding="utf-8") as f:
      json.dump(body, f)
    os.replace(partial, path)

  @classmethod
  def load(cls, path: str) -> FeatureStats:
    """Reads ``save``'s JSON; ``ConfigError`` naming ``path`` when it is unreadable."""
    try:
      with open(path, encoding="utf-8") as f:
        body = json.load(f)
      stats = cls(int(body["frame_count"]), np.asarray(body["sums"], np.float64),
                  np.asarray(body["squared_sums"], np.float64))
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise ConfigError(f"{path}: not a readable feature-statistics file ({e!r}); delete it "
                        f"to recompute the statistics") from None
    if stats.frame_count <= 0 or stats.sums.ndim != 1 or stats.sums.shape != \
        stats.squared_sums.shape:
      raise ConfigError(f"{path}: inconsistent feature statistics (frame_count "
                        f"{stats.frame_count}, sums {stats.sums.shape}, squared_sums "
                        f"{stats.squared_sums.shape}); delete it to recompute")
    return stats


def utterance_normalize(features: np.ndarray) -> np.ndarray:
  """[..., N, F] -> (f - mean_N f) / max(std_N f, 1e-5) per bin over time, float32."""
  features = np.asarray(features, np.float64)
  mean = features.mean(axis=-2, keepdims=True)
  std = np.maximum(features.std(axis=-2, keepdims=True), STD_FLOOR)
  return ((features - mean) / std).astype(np.float32)
