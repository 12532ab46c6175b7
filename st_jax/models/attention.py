"""Multi-head attention: efficient and reference paths, RoPE, Transformer-XL relative positions,
and an explicit KV cache for incremental decoding.

Shapes: B batch, T query length, S key length, D model dim, N heads, H head dim (D = N H),
L cache length.

  q = x Wq + bq,  k = m Wk (+ bk),  v = m Wv + bv          [B, T|S, N, H]
  A = softmax(q k^T / sqrt(H) + bias, masked)               [B, N, T, S]
  y = (A v) Wo + bo                                          [B, T, D]

`implementation` selects how softmax(...)v is computed: 'reference' is the einsum written out
above (softmax in float32); 'auto' / 'xla' / 'cudnn' call `jax.nn.dot_product_attention`
('auto' lets JAX pick, e.g. cuDNN flash attention on GPU). The efficient kernels have no
attention-probability dropout, so a training step with attention_dropout > 0 takes the reference
path. Relative positions add a position term computed reference-style (einsum + rel-shift) and
passed as `bias` to whichever path is selected.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from st_jax.errors import ConfigError
from st_jax.models.layers import (MASK_VALUE, Dtype, constrain, dense, partitioned,
                                  relative_sinusoids)

IMPLEMENTATIONS = ("auto", "xla", "cudnn", "reference")
POSITION_KINDS = ("none", "rope", "relative")


def check_implementation(implementation: str) -> None:
  if implementation not in IMPLEMENTATIONS:
    raise ConfigError(f"model.attention_impl={implementation!r} is not one of {IMPLEMENTATIONS}")


def reference_attention(q, k, v, mask, bias=None, dropout=None):
  """softmax(q k^T / sqrt(H) + bias) v with masked logits; q [B,T,N,H], k/v [B,S,N,H]."""
  logits = jnp.einsum("btnh,bsnh->bnts", q, k).astype(jnp.float32) / math.sqrt(q.shape[-1])
  if bias is not None:
    logits = logits + bias.astype(jnp.float32)
  logits = jnp.where(mask, logits, MASK_VALUE)
  probs = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
  if dropout is not None:
    probs = dropout(probs)
  return jnp.einsum("bnts,bsnh->btnh", probs, v)


def dot_product_attention(q, k, v, mask, bias=None, implementation: str = "auto", dropout=None):
  """Dispatches to the reference einsum or `jax.nn.dot_product_attention`. Returns [B,T,N,H]."""
  check_implementation(implementation)
  if implementation == "reference" or dropout is not None:
    return reference_attention(q, k, v, mask, bias, dropout)
  mask = jnp.broadcast_to(mask, (q.shape[0], 1, q.shape[1], k.shape[1]))
  return jax.nn.dot_product_attention(
      q, k, v, bias=None if bias is None else bias.astype(q.dtype), mask=mask,
      implementation=None if implementation == "auto" else implementation)


def apply_rope(x: jax.Array, positions: jax.Array, max_wavelength: float = 10000.0) -> jax.Array:
  """Rotary embedding on x [B, T, N, H] at positions [B, T] (or [T]); rotates halves of H.

  (x1, x2) -> (x1 cos(p w) - x2 sin(p w), x2 cos(p w) + x1 sin(p w)),  w_i = 10000^(-2i/H).
  """
  half = x.shape[-1] // 2
  inv_freq = max_wavelength ** (-jnp.arange(half, dtype=jnp.float32) / half)
  angles = jnp.asarray(positions, jnp.float32)[..., None] * inv_freq     # [B, T, H/2]
  angles = jnp.broadcast_to(angles, x.shape[:2] + (half,))[:, :, None, :]
  sin, cos = jnp.sin(angles), jnp.cos(angles)
  x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:].astype(jnp.float32)
  return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


def rel_shift(scores: jax.Array) -> jax.Array:
  """[B, N, T, 2T-1] scores over distances (T-1 .. -(T-1)) -> [B, N, T, T] with
  out[..., i, j] = scores[..., i, T-1-i+j] (distance i - j), by the pad-reshape trick."""
  batch, heads, length, positions = scores.shape
  padded = jnp.pad(scores, ((0, 0), (0, 0), (0, 0), (1, 0)))        # [B, N, T, 2T]
  padded = padded.reshape(batch, heads, positions + 1, length)[:, :, 1:]
  return padded.reshape(batch, heads, length, positions)[..., :length]


class MultiHeadAttention(nn.Module):
  """Multi-head attention (see module docstring for equations) with parameter names mirroring
  HF: q_proj, k_proj, v_proj, out_proj; relative positions add linear_pos, pos_bias_u/v.

  position 'relative' (Transformer-XL / Conformer paper, self-attention only):
    AC = (q + u) k^T,  BD = rel_shift((q + v_b) (R W_pos)^T),  logits = (AC + BD) / sqrt(H)
    with R = `relative_sinusoids(T, D)` and per-head biases u, v_b [N, H].
  position 'rope': q, k rotated by `apply_rope` at the given positions.
  """
  num_heads: int
  d_model: int
  implementation: str = "auto"
  attention_dropout: float = 0.0
  k_bias: bool = True           # Whisper's k_proj has no bias
  position: str = "none"
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  def setup(self):
    if self.position not in POSITION_KINDS:
      raise ConfigError(f"attention position {self.position!r} is not one of {POSITION_KINDS}")
    if self.d_model % self.num_heads:
      raise ConfigError(f"model.d_model={self.d_model} is not divisible by "
                        f"model.num_heads={self.num_heads}")
    heads = (self.num_heads, self.head_dim)
    proj = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.q_proj = dense(heads, ("embed", "heads", "kv"), **proj)
    self.k_proj = dense(heads, ("embed", "heads", "kv"), use_bias=self.k_bias, **proj)
    self.v_proj = dense(heads, ("embed", "heads", "kv"), **proj)
    self.out_proj = dense(self.d_model, ("heads", "kv", "embed"), in_dims=2, **proj)
    self.dropout = nn.Dropout(self.attention_dropout)
    if self.position == "relative":
      self.linear_pos = dense(heads, ("embed", "heads", "kv"), use_bias=False, **proj)
      bias_init = partitioned(nn.initializers.xavier_uniform(), ("heads", "kv"))
      self.pos_bias_u = self.param("pos_bias_u", bias_init, heads, self.param_dtype)
      self.pos_bias_v = self.param("pos_bias_v", bias_init, heads, self.param_dtype)

  @property
  def head_dim(self) -> int:
    return self.d_model // self.num_heads

  def project_kv(self, memory: jax.Array, positions=None) -> tuple[jax.Array, jax.Array]:
    """memory [B, S, D] -> keys, values [B, S, N, H] (keys rotated when position == 'rope')."""
    k = self.k_proj(memory)
    if self.position == "rope":
      k = apply_rope(k, positions)
    names = ("batch", "length", "heads", "kv")
    return constrain(k, names), constrain(self.v_proj(memory), names)

  def attend(self, x, keys, values, mask, positions=None, deterministic: bool = True):
    """Queries from x [B, T, D] attend precomputed keys/values [B, S, N, H] -> [B, T, D]."""
    q = constrain(self.q_proj(x), ("batch", "length", "heads", "kv"))
    bias = None
    if self.position == "rope":
      q = apply_rope(q, positions)
    elif self.position == "relative":
      table = jnp.asarray(relative_sinusoids(x.shape[1], x.shape[-1]), self.dtype)
      pos = self.linear_pos(table[None])[0]                                   # [2T-1, N, H]
      scores = jnp.einsum("btnh,pnh->bntp", q + self.pos_bias_v.astype(q.dtype), pos)
      bias = rel_shift(scores) / math.sqrt(self.head_dim)
      q = q + self.pos_bias_u.astype(q.dtype)
    use_dropout = not deterministic and self.attention_dropout > 0.0
    dropout = (lambda p: self.dropout(p, deterministic=False)) if use_dropout else None
    context = dot_product_attention(q, keys, values, mask, bias, self.implementation, dropout)
    context = constrain(context, ("batch", "length", "heads", "kv"))
    return constrain(self.out_proj(context), ("batch", "length", "embed"))

  def __call__(self, x, mask, positions=None, deterministic: bool = True) -> jax.Array:
    """Self-attention over x [B, T, D] with mask [B|1, 1, T|1, T] (True = attend)."""
    keys, values = self.project_kv(x, positions)
    return self.attend(x, keys, values, mask, positions, deterministic)

  def decode(self, x, cache: dict, position, deterministic: bool = True):
    """One cached self-attention step: x [B, 1, D] at `position` (scalar or [B]).

    Writes this step's key/value into cache {'key', 'value'} [B, L, N, H] at `position` and
    attends to cached positions <= position. Returns (y [B, 1, D], new cache).
    """
    if self.position == "relative":
      raise ConfigError("relative-position attention cannot be used in a cached decoder")
    batch_position = jnp.broadcast_to(jnp.asarray(position, jnp.int32), (x.shape[0],))
    keys, values = self.project_kv(x, batch_position[:, None])
    slots = jnp.arange(cache["key"].shape[1])
    if jnp.ndim(position) == 0:   # one position for all rows (beam/greedy search): write the
      # slot in place instead of selecting over the whole [B, L, N, H] cache every step
      at = (0, jnp.asarray(position, jnp.int32), 0, 0)
      cache = {"key": jax.lax.dynamic_update_slice(cache["key"],
                                                   keys.astype(cache["key"].dtype), at),
               "value": jax.lax.dynamic_update_slice(cache["value"],
                                                     values.astype(cache["value"].dtype), at)}
    else:
      write = (slots[None, :] == batch_position[:, None])[:, :, None, None]   # [B, L, 1, 1]
      cache = {"key": jnp.where(write, keys.astype(cache["key"].dtype), cache["key"]),
               "value": jnp.where(write, values.astype(cache["value"].dtype), cache["value"])}
    mask = (slots[None, :] <= batch_position[:, None])[:, None, None, :]      # [B, 1, 1, L]
    y = self.attend(x, cache["key"].astype(self.dtype), cache["value"].astype(self.dtype), mask,
                    batch_position[:, None], deterministic)
    return y, cache
