"""Small building blocks shared by every model.

Shapes: B batch, T frames (or tokens), S target length, D model dim, F feed-forward dim,
V vocab, P positions. Speech layers take `(x [B, T, D], paddings [B, T])`, paddings 1.0 = padded.

Every parameter is created through `partitioned(init, names)` and every major activation goes
through `constrain(x, names)`, both with logical axis names from `st_jax.sharding`.
Layer norms use epsilon 1e-5 and exact variance, as PyTorch does, so that converted
fairseq / Hugging Face checkpoints reproduce their logits.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from st_jax import sharding
from st_jax.errors import ConfigError

Dtype = Any
LAYER_NORM_EPSILON = 1e-5
# Finite "minus infinity" for masked logits: exp() underflows to 0, fully masked rows stay NaN-free.
MASK_VALUE = -1e9

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "gelu": functools.partial(nn.gelu, approximate=False),  # PyTorch / HF "gelu" (erf)
    "gelu_tanh": functools.partial(nn.gelu, approximate=True),
    "swish": nn.swish,
}


def activation_fn(name: str) -> Callable[[jax.Array], jax.Array]:
  if name not in ACTIVATIONS:
    raise ConfigError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
  return ACTIVATIONS[name]


def _check_names(names: Sequence[str | None]) -> tuple[str | None, ...]:
  unknown = [n for n in names if n is not None and n not in sharding.LOGICAL_AXIS_NAMES]
  if unknown:
    raise ValueError(f"logical axis names {unknown} are not in sharding.LOGICAL_AXIS_RULES")
  return tuple(names)


def partitioned(init: Callable[..., jax.Array], names: Sequence[str | None]):
  """Parameter initializer annotated with logical axis names (one per dimension)."""
  return nn.with_logical_partitioning(init, _check_names(names))


def constrain(x: jax.Array, names: Sequence[str | None]) -> jax.Array:
  """Sharding constraint on an activation by logical names (no-op outside axis rules)."""
  return nn.with_logical_constraint(x, _check_names(names))


def mask_padded(x: jax.Array, paddings: jax.Array) -> jax.Array:
  """Zeros `x [B, T, ...]` where `paddings [B, T]` is 1; `where`, so NaN garbage is removed too."""
  valid = paddings.reshape(paddings.shape + (1,) * (x.ndim - paddings.ndim)) < 0.5
  return jnp.where(valid, x, jnp.zeros((), x.dtype))


def key_mask(paddings: jax.Array) -> jax.Array:
  """Attention mask [B, 1, 1, S] (True = attend) from key paddings [B, S]."""
  return (paddings < 0.5)[:, None, None, :]


def causal_mask(length: int) -> jax.Array:
  """Attention mask [1, 1, S, S]: query s attends keys <= s."""
  return jnp.tril(jnp.ones((length, length), dtype=bool))[None, None]


class Dense(nn.Module):
  """Linear layer y = x W + b contracting the last `in_dims` dims of x: W [*in, *features].

  (Our own rather than nn.DenseGeneral, whose flat-then-reshape kernel init breaks logical
  partitioning of multi-dimensional kernels under `nn.logical_axis_rules`.)
  """
  features: tuple[int, ...]
  names: tuple[str | None, ...]
  in_dims: int = 1
  use_bias: bool = True
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32
  kernel_init: Callable[..., jax.Array] = nn.initializers.xavier_uniform()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    in_shape = x.shape[x.ndim - self.in_dims:]

    def init(key, shape, dtype):  # fan-in/out of the equivalent 2-D matrix
      flat = (int(np.prod(in_shape)), int(np.prod(self.features)))
      return self.kernel_init(key, flat, dtype).reshape(shape)

    kernel = self.param("kernel", partitioned(init, self.names), in_shape + self.features,
                        self.param_dtype)
    y = jnp.tensordot(x.astype(self.dtype), kernel.astype(self.dtype), axes=self.in_dims)
    if self.use_bias:
      bias = self.param("bias", partitioned(nn.initializers.zeros, self.names[self.in_dims:]),
                        self.features, self.param_dtype)
      y = y + bias.astype(self.dtype)
    return y


def dense(features: int | Sequence[int], names: Sequence[str | None], *, in_dims: int = 1,
          use_bias: bool = True, dtype: Dtype = jnp.float32, param_dtype: Dtype = jnp.float32,
          name: str | None = None) -> Dense:
  """`Dense` with kernel dims named `names` (input dims then output dims)."""
  features = (features,) if isinstance(features, int) else tuple(features)
  return Dense(features, tuple(names), in_dims, use_bias, dtype, param_dtype, name=name)


def layer_norm(dtype: Dtype, param_dtype: Dtype, name: str | None = None,
               names: Sequence[str | None] = ("embed",)) -> nn.LayerNorm:
  """LayerNorm(x) = (x - mean) / sqrt(var + 1e-5) * gamma + beta over the last dim."""
  return nn.LayerNorm(
      epsilon=LAYER_NORM_EPSILON, use_fast_variance=False, dtype=dtype, param_dtype=param_dtype,
      scale_init=partitioned(nn.initializers.ones, names),
      bias_init=partitioned(nn.initializers.zeros, names), name=name)


def embedding(num_embeddings: int, features: int, dtype: Dtype, param_dtype: Dtype,
              name: str | None = None) -> nn.Embed:
  """Token embedding E [V, D] ~ N(0, 1/D) (fairseq init); `attend` gives tied logits x E^T."""
  return nn.Embed(
      num_embeddings, features, dtype=dtype, param_dtype=param_dtype,
      embedding_init=partitioned(nn.initializers.normal(stddev=features**-0.5), ("vocab", "embed")),
      name=name)


def sinusoid_table(num_positions: int, dim: int) -> np.ndarray:
  """Absolute sinusoids [P, D] as fairseq / HF Speech2Text / Whisper build them.

  w_i = exp(-i * log(10000) / (D/2 - 1)),  table[p] = [sin(p w_0..w_{D/2-1}), cos(p w_0..)].
  Computed in float32 like the PyTorch references (p * w_i rounds as theirs does).
  """
  half = dim // 2
  inv_timescales = np.exp(np.arange(half, dtype=np.float32) *
                          np.float32(-math.log(10000.0) / (half - 1)))
  angles = np.arange(num_positions, dtype=np.float32)[:, None] * inv_timescales[None, :]
  table = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
  if dim % 2:
    table = np.pad(table, ((0, 0), (0, 1)))
  return table.astype(np.float32)


def relative_sinusoids(length: int, dim: int) -> np.ndarray:
  """Relative-position sinusoids [2T-1, D] for distances T-1, T-2, ..., -(T-1).

  Transformer-XL / ESPnet / HF Wav2Vec2-Conformer layout: R[r, 2i] = sin(r w_i),
  R[r, 2i+1] = cos(r w_i), w_i = 10000^(-2i/D).
  """
  distances = np.arange(length - 1, -length, -1, dtype=np.float32)[:, None]
  inv_freq = np.exp(np.arange(0, dim, 2, dtype=np.float32) * np.float32(-math.log(10000.0) / dim))
  table = np.zeros((2 * length - 1, dim), np.float32)
  table[:, 0::2] = np.sin(distances * inv_freq)
  table[:, 1::2] = np.cos(distances * inv_freq[: dim // 2])
  return table


class PositionEmbedding(nn.Module):
  """Absolute position embeddings pe[p + offset] for integer positions p.

  kind 'sinusoidal': fixed `sinusoid_table` (no parameters); `offset` 2 reproduces fairseq /
  Speech2Text (positions start at padding_idx + 1). kind 'learned': parameter `embedding`
  [max_length, D] (Whisper decoder). Positions beyond `max_length` are an error when static.
  """
  kind: str
  max_length: int
  features: int
  offset: int = 0
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, positions: jax.Array) -> jax.Array:
    if self.kind == "sinusoidal":
      table = jnp.asarray(sinusoid_table(self.max_length + self.offset, self.features))
    elif self.kind == "learned":
      table = self.param("embedding", partitioned(nn.initializers.normal(0.02), (None, "embed")),
                         (self.max_length, self.features), self.param_dtype)
    else:
      raise ConfigError(f"unknown absolute position kind {self.kind!r}; "
                        "expected 'sinusoidal' or 'learned'")
    return jnp.take(table, positions + self.offset, axis=0)


def check_length(length: int, max_length: int, field: str) -> None:
  if length > max_length:
    raise ConfigError(f"a sequence of {length} positions exceeds {field}={max_length}; "
                      f"raise {field} or shorten / split the input")


class FeedForward(nn.Module):
  """Position-wise feed-forward: x [B, T, D] -> [B, T, D].

  y = fc2(dropout(act(fc1(x))))  with fc1: D -> F, fc2: F -> D.
  """
  hidden_dim: int
  activation: str = "relu"
  activation_dropout: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
    features = x.shape[-1]
    h = dense(self.hidden_dim, ("embed", "mlp"), dtype=self.dtype, param_dtype=self.param_dtype,
              name="fc1")(x)
    h = constrain(activation_fn(self.activation)(h), ("batch", "length", "mlp"))
    h = nn.Dropout(self.activation_dropout)(h, deterministic=deterministic)
    return dense(features, ("mlp", "embed"), dtype=self.dtype, param_dtype=self.param_dtype,
                 name="fc2")(h)


class StochasticDepth(nn.Module):
  """Drops a whole residual branch per example: y = b * x / (1 - rate), b ~ Bernoulli(1 - rate).

  Identity when deterministic or rate == 0. Uses the 'dropout' rng stream. `scale` (a traced
  scalar, e.g. the depth fraction of a layer inside `nn.scan`) multiplies `rate`.
  """
  rate: float

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool = True,
               scale: jax.Array | None = None) -> jax.Array:
    if deterministic or self.rate == 0.0:
      return x
    rate = self.rate if scale is None else self.rate * scale
    keep = jax.random.bernoulli(self.make_rng("dropout"), 1.0 - rate,
                                (x.shape[0],) + (1,) * (x.ndim - 1))
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype))
