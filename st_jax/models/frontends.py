"""Encoder front ends: log-mel frames or tokens -> (x [B, T', D], paddings [B, T']).

Shapes: B batch, T input frames, T' output frames, F mel bins (n_mels), C conv channels,
D model dim, V vocab.

Padding rule shared by all conv front ends: padded input frames are zeroed before every
convolution, and an output frame is padded when its centre (SAME convs) or any frame of its
window (VALID convs) is padded. Each utterance's output therefore equals what the front end
computes on that utterance alone, unpadded -- independent of how much padding the batch adds.
(fairseq / HF Speech2Text let zero-padding plus conv biases of the *batch* leak into the last
one or two valid frames; on unpadded inputs we match them exactly.)
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from st_jax.errors import ConfigError
from st_jax.models.layers import (Dtype, activation_fn, constrain, dense, embedding, mask_padded,
                                  partitioned)

# Subsampling factor -> (kernel, stride) of each conv2d layer (ESPnet Conv2dSubsampling{,6,8}).
CONV2D_LAYOUTS = {4: ((3, 2), (3, 2)), 6: ((3, 2), (5, 3)), 8: ((3, 2), (3, 2), (3, 2))}


def _conv(features: int, kernel: Sequence[int], stride: Sequence[int], padding, names, dtype,
          param_dtype, name: str) -> nn.Conv:
  return nn.Conv(features, tuple(kernel), strides=tuple(stride), padding=padding, dtype=dtype,
                 param_dtype=param_dtype,
                 kernel_init=partitioned(nn.initializers.lecun_normal(), names),
                 bias_init=partitioned(nn.initializers.zeros, names[-1:]), name=name)


def window_paddings(paddings: jax.Array, kernel: int, stride: int) -> jax.Array:
  """Paddings after a VALID conv: max over each window, [B, T] -> [B, (T - k) // s + 1]."""
  return jax.lax.reduce_window(paddings, -jnp.inf, jax.lax.max, (1, kernel), (1, stride), "VALID")


class Conv2dSubsampling(nn.Module):
  """2-D conv subsampling by 4, 6 or 8 in time (and frequency), as in ESPnet / Conformer.

  h_0 = x[..., None]            [B, T, F, 1]
  h_i = ReLU(Conv2d_{k_i, s_i}(h_{i-1}))   VALID, C channels; layouts in CONV2D_LAYOUTS
  y   = out(reshape(h_L, [B, T', C * F']))   [B, T', D]
  """
  d_model: int
  channels: int
  factor: int = 4
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, features: jax.Array, paddings: jax.Array) -> tuple[jax.Array, jax.Array]:
    if self.factor not in CONV2D_LAYOUTS:
      raise ConfigError(f"model.frontend.subsampling={self.factor} is not supported by conv2d; "
                        f"expected one of {sorted(CONV2D_LAYOUTS)}")
    h = mask_padded(features, paddings)[..., None].astype(self.dtype)
    for i, (kernel, stride) in enumerate(CONV2D_LAYOUTS[self.factor]):
      h = _conv(self.channels, (kernel, kernel), (stride, stride), "VALID",
                (None, None, None, "conv"), self.dtype, self.param_dtype, f"conv_layers_{i}")(h)
      h = constrain(nn.relu(h), ("batch", "length", None, "conv"))
      paddings = window_paddings(paddings, kernel, stride)
    batch, frames, freq, channels = h.shape
    if freq == 0:
      raise ConfigError(f"data.n_mels={features.shape[-1]} is too few mel bins for "
                        f"{self.factor}x conv2d subsampling")
    h = h.transpose(0, 1, 3, 2).reshape(batch, frames, channels * freq)
    x = dense(self.d_model, ("conv", "embed"), dtype=self.dtype, param_dtype=self.param_dtype,
              name="out")(h)
    return constrain(x, ("batch", "length", "embed")), paddings


class Conv1dSubsampler(nn.Module):
  """fairseq S2T / HF Speech2Text `Conv1dSubsampler`: 1-D convs over time, stride 2 each.

  h_0 = x [B, T, F];  h_i = GLU(Conv1d_{k_i, stride 2, pad k_i // 2}(h_{i-1}))
  channels: C -> C/2 after each GLU, the last conv outputs 2D -> D.  T' = ceil(T / 2^L).
  Parameter names mirror HF: conv_layers_{i}/{kernel [k, C_in, C_out], bias}.
  """
  d_model: int
  channels: int = 1024
  kernel_sizes: Sequence[int] = (5, 5)
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, features: jax.Array, paddings: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = features.astype(self.dtype)
    last = len(self.kernel_sizes) - 1
    for i, kernel in enumerate(self.kernel_sizes):
      out_channels = self.channels if i < last else 2 * self.d_model
      h = _conv(out_channels, (kernel,), (2,), [(kernel // 2, kernel // 2)],
                (None, "mel" if i == 0 else None, "conv"), self.dtype, self.param_dtype,
                f"conv_layers_{i}")(mask_padded(h, paddings))
      h = constrain(jax.nn.glu(h, axis=-1), ("batch", "length", "conv"))
      paddings = paddings[:, ::2]
    return constrain(h, ("batch", "length", "embed")), paddings


class WhisperConvFrontEnd(nn.Module):
  """Whisper encoder stem: two GELU 1-D convs, the second with stride 2.

  h = GELU(conv1(x))   k=3, stride 1, pad 1, F -> D
  y = GELU(conv2(h))   k=3, stride 2, pad 1, D -> D        T' = ceil(T / 2)
  """
  d_model: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, features: jax.Array, paddings: jax.Array) -> tuple[jax.Array, jax.Array]:
    gelu = activation_fn("gelu")
    h = features.astype(self.dtype)
    for name, stride, names in (("conv1", 1, (None, "mel", "embed")),
                                ("conv2", 2, (None, "conv", "embed"))):
      h = _conv(self.d_model, (3,), (stride,), [(1, 1)], names, self.dtype, self.param_dtype,
                name)(mask_padded(h, paddings))
      h = constrain(gelu(h), ("batch", "length", "embed"))
      paddings = paddings[:, ::stride]
    return h, paddings


class TokenEmbedding(nn.Module):
  """Text front end for MT: tokens [B, U] -> (E[tokens] [B, U, D], paddings [B, U])."""
  vocab_size: int
  d_model: int
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, tokens: jax.Array, paddings: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = embedding(self.vocab_size, self.d_model, self.dtype, self.param_dtype,
                  name="embed_tokens")(tokens)
    return constrain(x, ("batch", "length", "embed")), paddings


def subsampled_length(length: int, frontend_type: str, factor: int = 4,
                      num_conv1d_layers: int = 2) -> int:
  """Number of output frames the front end produces for `length` unpadded input frames."""
  if frontend_type == "conv2d":
    for kernel, stride in CONV2D_LAYOUTS[factor]:
      length = max((length - kernel) // stride + 1, 0)
    return length
  if frontend_type == "conv1d":
    for _ in range(num_conv1d_layers):
      length = (length + 1) // 2
    return length
  if frontend_type == "whisper_conv":
    return (length + 1) // 2
  return length
