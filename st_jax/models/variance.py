"""FastSpeech 2 pieces: variance predictors, the length regulator, the postnet.

Shapes: B batch, U symbols, T frames (a static maximum), D model dim, C conv channels,
F mel bins, K conv kernel.

Length regulator with static shapes (jits for a fixed T): with e_u = sum_{v<=u} d_v the end
frame of symbol u (cumsum of the durations d [B, U]),

  idx_t   = #{u : e_u <= t}                     the symbol covering frame t
  y_t     = x_{idx_t}  if t < e_{U-1} else 0     frames past the total are padding
  A[t, u] = 1 if e_u - d_u <= t < e_u            the hard alignment [B, T, U]

Zero durations skip a symbol; padded symbols must have d = 0. Per-symbol means of a frame
signal s weighted by w (pitch over voiced frames, energy over all frames):
  s̄_u = sum_t A[t, u] w_t s_t / sum_t A[t, u] w_t    (0 where the denominator is 0).

All convolutions see their padded positions zeroed first, so padding never leaks into
unpadded outputs.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from st_jax.models.layers import Dtype, constrain, dense, layer_norm, mask_padded, partitioned


def conv1d(features: int, kernel: int, names: tuple, dtype: Dtype, param_dtype: Dtype,
           name: str | None = None) -> nn.Conv:
  """'SAME' 1-D convolution over time: [B, L, Cin] -> [B, L, features]; names = (in, out)."""
  return nn.Conv(features, (kernel,), padding="SAME", dtype=dtype, param_dtype=param_dtype,
                 kernel_init=partitioned(nn.initializers.xavier_uniform(), (None,) + names),
                 bias_init=partitioned(nn.initializers.zeros, names[1:]), name=name)


def length_regulate(x: jax.Array, durations: jax.Array,
                    num_frames: int) -> tuple[jax.Array, jax.Array]:
  """x [B, U, D], durations [B, U] int -> (frames [B, T, D], frame paddings [B, T])."""
  ends = jnp.cumsum(durations.astype(jnp.int32), axis=1)                 # [B, U]
  t = jnp.arange(num_frames, dtype=jnp.int32)
  index = (ends[:, None, :] <= t[None, :, None]).sum(-1)                  # [B, T]
  paddings = (t[None, :] >= ends[:, -1:]).astype(jnp.float32)
  frames = jnp.take_along_axis(x, jnp.minimum(index, x.shape[1] - 1)[..., None], axis=1)
  return mask_padded(frames, paddings), paddings


def alignment_matrix(durations: jax.Array, num_frames: int) -> jax.Array:
  """durations [B, U] -> hard alignment A [B, T, U] float32 (module doc)."""
  ends = jnp.cumsum(durations.astype(jnp.int32), axis=1)
  starts = ends - durations
  t = jnp.arange(num_frames, dtype=jnp.int32)[None, :, None]
  return ((t >= starts[:, None, :]) & (t < ends[:, None, :])).astype(jnp.float32)


def symbol_means(values: jax.Array, weights: jax.Array, alignment: jax.Array) -> jax.Array:
  """values, weights [B, T], alignment [B, T, U] -> weighted mean per symbol [B, U]."""
  total = jnp.einsum("bt,btu->bu", values * weights, alignment)
  count = jnp.einsum("bt,btu->bu", weights, alignment)
  return jnp.where(count > 0, total / jnp.maximum(count, 1e-9), 0.0)


class VariancePredictor(nn.Module):
  """Duration / pitch / energy predictor (FastSpeech 2): x [B, U, D] -> [B, U].

  h = Dropout(LN(ReLU(Conv_K(mask(x)))));  h = Dropout(LN(ReLU(Conv_K(mask(h)))))
  y = mask(h w + b)
  """
  filters: int
  kernel_size: int = 3
  dropout: float = 0.5
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, paddings, deterministic: bool = True) -> jax.Array:
    proj = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    for i, names in enumerate((("embed", "mlp"), ("conv", "mlp"))):
      x = conv1d(self.filters, self.kernel_size, names, name=f"conv_{i}", **proj)(
          mask_padded(x, paddings))
      x = layer_norm(name=f"layer_norm_{i}", names=("mlp",), **proj)(nn.relu(x))
      x = nn.Dropout(self.dropout)(constrain(x, ("batch", "length", "mlp")),
                                   deterministic=deterministic)
    y = dense(1, ("mlp", None), name="proj", **proj)(x)[..., 0]
    return mask_padded(y.astype(jnp.float32), paddings)


class VarianceEmbedding(nn.Module):
  """A per-symbol scalar (pitch or energy) back into the model dim (FastPitch):
  v [B, U] -> Conv_K(mask(v)) [B, U, D]."""
  features: int
  kernel_size: int = 3
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, values, paddings) -> jax.Array:
    x = mask_padded(values[..., None].astype(self.dtype), paddings)
    x = conv1d(self.features, self.kernel_size, ("conv", "embed"), self.dtype,
               self.param_dtype, name="conv")(x)
    return mask_padded(x, paddings)


class Postnet(nn.Module):
  """Residual conv postnet: mel [B, T, F] -> mel + r [B, T, F] (5 layers by default).

  h_0 = mel;  h_i = Dropout(tanh(LN(Conv_K(mask(h_{i-1}))))) for i < L;  r = Conv_K(mask(h_{L-1}))
  (layer norm instead of the paper's batch norm: stateless and padding-exact).
  """
  channels: int
  num_layers: int = 5
  kernel_size: int = 5
  dropout: float = 0.5
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, mel, paddings, deterministic: bool = True) -> jax.Array:
    proj = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = mel
    for i in range(self.num_layers - 1):
      names = ("mel" if i == 0 else "conv", "mlp")
      h = conv1d(self.channels, self.kernel_size, names, name=f"conv_{i}", **proj)(
          mask_padded(h, paddings))
      h = jnp.tanh(layer_norm(name=f"layer_norm_{i}", names=("mlp",), **proj)(h))
      h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
    residual = conv1d(mel.shape[-1], self.kernel_size, ("conv", "mel"),
                      name=f"conv_{self.num_layers - 1}", **proj)(mask_padded(h, paddings))
    return mask_padded(mel + residual.astype(mel.dtype), paddings)
