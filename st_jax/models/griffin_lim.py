"""Griffin-Lim vocoder in JAX: log-mel frames -> audio, no parameters, no training.

Shapes: B batch, T frames, F mel bins, K = n_fft // 2 + 1 FFT bins, W window samples,
H hop samples, L = T * H output samples.

STFT / ISTFT with the framing of ``st_jax/data/audio.py`` (centre, reflect pad n_fft // 2,
periodic Hann of W samples centred in n_fft zeros ``w``, hop H)::

  X[t, k] = sum_n xpad[t H + n] w[n] exp(-2 pi i k n / n_fft)                     (stft)
  x[s]    = sum_t w[j] irfft(X[t])[j] / sum_t w[j]^2,   j = s + n_fft / 2 - t H     (istft)

the ISTFT being the least-squares inverse (Griffin & Lim 1984), so istft(stft(x)) = x.

Log-mel -> linear magnitude (``mel_to_magnitude``), fb [K, F] = ``audio.mel_filterbank``::

  M      = exp(log_mel)                                  [B, T, F]   power mel
  P_0    = max(M fb^+, 0)                                [B, T, K]   fb^+ = pinv(fb)
  P_i+1  = max(P_i - eta (P_i fb - M) fb^T, 0),  eta = 1 / ||fb||_2^2
  A      = sqrt(P)                                                   target magnitude

(projected gradient steps on the non-negative least squares ||P fb - M||^2 that librosa's
``mel_to_stft`` solves with L-BFGS-B).

Fast Griffin-Lim (Perraudin, Balazs & Sondergaard 2013; librosa.griffinlim), momentum a::

  c_0 = exp(i phi_0), phi_0 ~ U[0, 2 pi) from ``seed``;  t_{-1} = 0
  t_n     = stft(istft(A c_n))
  c_{n+1} = u / (|u| + 1e-16),  u = t_n - a / (1 + a) t_{n-1}
  audio   = istft(A c_N)

a = 0 is plain Griffin-Lim. Padded frames get zero magnitude and no weight in the ISTFT, so
their samples come out as zeros.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from st_jax.data import audio as audio_lib

_EPS = 1e-16


def _window(win_length: int, n_fft: int) -> jax.Array:
  return jnp.asarray(audio_lib._hann_window(win_length, n_fft), jnp.float32)  # pylint: disable=protected-access


def stft(samples: jax.Array, n_fft: int, hop: int, win_length: int,
         num_frames: int | None = None) -> jax.Array:
  """[B, L] -> complex64 [B, N, K]; N = 1 + L // H (as ``audio.log_mel``) unless given."""
  count = 1 + samples.shape[-1] // hop if num_frames is None else int(num_frames)
  half = n_fft // 2
  padded = jnp.pad(samples.astype(jnp.float32), ((0, 0), (half, half)), mode="reflect")
  frames = audio_lib._frames(padded, n_fft, hop, count, jnp)  # pylint: disable=protected-access
  return jnp.fft.rfft(frames * _window(win_length, n_fft), n=n_fft, axis=-1)


def istft(spectrum: jax.Array, n_fft: int, hop: int, win_length: int, length: int,
          frame_weights: jax.Array | None = None) -> jax.Array:
  """complex [B, N, K] -> [B, length] float32 least-squares inverse of ``stft``.

  ``frame_weights`` [B, N] (1 = use the frame, 0 = ignore it) enter both the overlap-add and
  the window normaliser; samples no used frame covers come out as zeros.
  """
  batch, count, _ = spectrum.shape
  window = _window(win_length, n_fft)
  weights = jnp.ones((batch, count), jnp.float32) if frame_weights is None else frame_weights
  frames = jnp.fft.irfft(spectrum, n=n_fft, axis=-1) * window * weights[..., None]
  total = (count - 1) * hop + n_fft
  index = (jnp.arange(count)[:, None] * hop + jnp.arange(n_fft)[None, :]).reshape(-1)
  signal = jnp.zeros((batch, total), jnp.float32).at[:, index].add(frames.reshape(batch, -1))
  norm = jnp.zeros((batch, total), jnp.float32).at[:, index].add(
      (weights[..., None] * window ** 2).reshape(batch, -1))
  start = n_fft // 2
  if start + length > total:
    raise ValueError(f"istft: {count} frames cover at most {total - start} samples, asked for "
                     f"{length}")
  signal, norm = signal[:, start:start + length], norm[:, start:start + length]
  return jnp.where(norm > 1e-8, signal / jnp.maximum(norm, 1e-8), 0.0)


def mel_to_magnitude(log_mel: jax.Array, filterbank: np.ndarray, nnls_steps: int) -> jax.Array:
  """[..., F] natural-log power mel -> [..., K] non-negative linear magnitude (module doc)."""
  fb = jnp.asarray(filterbank, jnp.float32)
  mel = jnp.exp(log_mel.astype(jnp.float32))
  power = jnp.maximum(jnp.matmul(mel, jnp.asarray(np.linalg.pinv(filterbank), jnp.float32),
                                 precision="highest"), 0.0)
  eta = 1.0 / float(np.linalg.norm(filterbank, 2) ** 2)

  def step(_, p):
    residual = jnp.matmul(p, fb, precision="highest") - mel
    return jnp.maximum(p - eta * jnp.matmul(residual, fb.T, precision="highest"), 0.0)
  power = jax.lax.fori_loop(0, nnls_steps, step, power)
  return jnp.sqrt(power)


@dataclasses.dataclass(frozen=True)
class GriffinLim:
  """log-mel [B, T, F] + frame paddings [B, T] -> audio [B, T * H]; traceable, jit it whole.

  Front-end fields mirror ``config.data`` (audio.log_mel); ``n_iter`` Griffin-Lim iterations
  with ``momentum`` (0.99: fast Griffin-Lim, 0: the original); ``nnls_steps`` projected-gradient
  steps of the mel inversion; ``seed`` draws the initial phases.
  """
  sample_rate: int = 16000
  n_mels: int = 80
  win_ms: float = 25.0
  hop_ms: float = 10.0
  n_iter: int = 60
  momentum: float = 0.99
  nnls_steps: int = 100
  seed: int = 0

  @property
  def sizes(self) -> tuple[int, int, int]:
    """(window W, hop H, n_fft) in samples."""
    return audio_lib.stft_sizes(self.sample_rate, self.win_ms, self.hop_ms)

  @property
  def hop_length(self) -> int:
    return self.sizes[1]

  def filterbank(self) -> np.ndarray:
    """fb [K, F] of the front end."""
    return audio_lib.mel_filterbank(self.sample_rate, self.sizes[2], self.n_mels)

  def magnitude(self, log_mel: jax.Array, frame_paddings: jax.Array) -> jax.Array:
    """Target magnitude A [B, T, K], zero on padded frames."""
    valid = (frame_paddings < 0.5)[..., None]
    return jnp.where(valid, mel_to_magnitude(log_mel, self.filterbank(), self.nnls_steps), 0.0)

  def __call__(self, log_mel: jax.Array, frame_paddings: jax.Array | None = None,
               n_iter: int | None = None) -> jax.Array:
    win_length, hop, n_fft = self.sizes
    batch, frames, _ = log_mel.shape
    paddings = jnp.zeros((batch, frames), jnp.float32) if frame_paddings is None \
        else frame_paddings.astype(jnp.float32)
    weights = 1.0 - paddings
    target = self.magnitude(log_mel, paddings)
    # The iterations rebuild every sample the frames cover, (T - 1) H + n_fft / 2 of them, so
    # the last frame never reads the stft's reflect padding: valid frames then do not depend on
    # how many padded frames follow them. The initial phases are drawn for one row and shared
    # by all rows; with jax's partitionable threefry (the default) phase [t, k] is the same
    # for every T. So a row's audio depends on its own frames only, not on the batch or the
    # padded length (what lets `st-jax export` batch and bucket synthesis).
    inverse = lambda s, n: istft(s, n_fft, hop, win_length, n, weights)
    forward = lambda x: stft(x, n_fft, hop, win_length, num_frames=frames)
    covered = (frames - 1) * hop + n_fft // 2
    phases = jax.random.uniform(jax.random.key(self.seed), (1,) + target.shape[1:],
                                jnp.float32, 0.0, 2.0 * np.pi)
    angles = jnp.broadcast_to(jnp.exp(1j * phases).astype(jnp.complex64), target.shape)
    beta = self.momentum / (1.0 + self.momentum)

    def iterate(_, carry):
      angles, previous = carry
      rebuilt = forward(inverse(target * angles, covered))
      update = rebuilt - beta * previous
      return update / (jnp.abs(update) + _EPS), rebuilt
    angles, _ = jax.lax.fori_loop(0, self.n_iter if n_iter is None else n_iter, iterate,
                                  (angles, jnp.zeros_like(angles)))
    audio = inverse(target * angles, frames * hop)
    sample_valid = jnp.repeat(weights, hop, axis=1) > 0.5
    return jnp.where(sample_valid, audio, 0.0)

  def spectral_convergence(self, audio: jax.Array, log_mel: jax.Array,
                           frame_paddings: jax.Array | None = None) -> jax.Array:
    """[B]: || A - |stft(audio)| ||_F / ||A||_F over valid frames, A = the target magnitude
    of ``log_mel`` (what Griffin-Lim makes consistent; lower is better)."""
    win_length, hop, n_fft = self.sizes
    batch, frames, _ = log_mel.shape
    paddings = jnp.zeros((batch, frames)) if frame_paddings is None else frame_paddings
    target = self.magnitude(log_mel, paddings)
    rebuilt = jnp.abs(stft(audio, n_fft, hop, win_length, num_frames=frames))
    rebuilt = jnp.where((paddings < 0.5)[..., None], rebuilt, 0.0)
    return jnp.linalg.norm((target - rebuilt).reshape(batch, -1), axis=-1) / jnp.maximum(
        jnp.linalg.norm(target.reshape(batch, -1), axis=-1), _EPS)
