"""Transformer encoder and decoder (Vaswani et al.), shaped so that fairseq S2T / HF Speech2Text
and Whisper checkpoints map onto them one parameter at a time.

Shapes: B batch, T source frames/tokens, S target length, D model dim, N heads, H head dim,
V vocab, L cache length.

Parameter names mirror HF: layers_{i}/{self_attn, self_attn_layer_norm, encoder_attn,
encoder_attn_layer_norm, ffn/{fc1, fc2}, final_layer_norm}, embed_tokens, embed_positions,
layer_norm. Fixed sinusoidal positions have no parameters.

Incremental decoding uses an explicit cache pytree whose every leaf has a leading batch dim,
so beam search can reorder it by rows; only 'self' changes per hypothesis, so beam search
repeats and reorders that entry alone (decode.py `_beam_cache`, `_reorder_cache`) and the
K beams of an utterance attend its one copy of the cross-attention K/V:
  {'self': {'layers_i': {'key', 'value'} [B, L, N, H]},      filled step by step
   'cross': {'layers_i': {'key', 'value'} [B, T, N, H]},     encoder keys/values, computed once
   'memory_paddings': [B, T]}
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from st_jax.errors import ConfigError
from st_jax.models.attention import MultiHeadAttention
from st_jax.models.layers import (Dtype, FeedForward, PositionEmbedding, causal_mask, check_length,
                                  constrain, dense, embedding, key_mask, layer_norm, mask_padded)

NORMS = ("pre", "post")


class TransformerLayer(nn.Module):
  """Encoder layer, or decoder layer when cross_attention: x [B, S, D] -> [B, S, D].

  pre-norm:  x = x + Drop(SelfAttn(LN(x)));  [x = x + Drop(CrossAttn(LN(x), memory))];
             x = x + Drop(FFN(LN(x)))
  post-norm: x = LN(x + Drop(SelfAttn(x)));  [x = LN(x + Drop(CrossAttn(x, memory)))];
             x = LN(x + Drop(FFN(x)))
  """
  d_model: int
  num_heads: int
  ffn_dim: int
  activation: str = "relu"
  norm: str = "pre"
  cross_attention: bool = False
  position: str = "none"            # 'rope' rotates self-attention queries/keys
  attention_impl: str = "auto"
  dropout: float = 0.1
  attention_dropout: float = 0.0
  activation_dropout: float = 0.0
  k_bias: bool = True
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  def setup(self):
    if self.norm not in NORMS:
      raise ConfigError(f"model.*.norm={self.norm!r} is not one of {NORMS}")
    proj = dict(dtype=self.dtype, param_dtype=self.param_dtype)

    def attention(position):
      return MultiHeadAttention(self.num_heads, self.d_model, self.attention_impl,
                                self.attention_dropout, self.k_bias, position, **proj)

    self.self_attn = attention(self.position)
    self.self_attn_layer_norm = layer_norm(**proj)
    if self.cross_attention:
      self.encoder_attn = attention("none")
      self.encoder_attn_layer_norm = layer_norm(**proj)
    self.ffn = FeedForward(self.ffn_dim, self.activation, self.activation_dropout, **proj)
    self.final_layer_norm = layer_norm(**proj)
    self.residual_dropout = nn.Dropout(self.dropout)

  def _residual(self, x, sublayer, norm, deterministic):
    if self.norm == "pre":
      return x + self.residual_dropout(sublayer(norm(x)), deterministic=deterministic)
    return norm(x + self.residual_dropout(sublayer(x), deterministic=deterministic))

  def project_memory(self, memory: jax.Array) -> dict:
    """Cross-attention keys/values of memory [B, T, D]: {'key', 'value'} [B, T, N, H]."""
    keys, values = self.encoder_attn.project_kv(memory)
    return {"key": keys, "value": values}

  def __call__(self, x, mask, memory_kv=None, memory_mask=None, positions=None, cache=None,
               position=None, deterministic: bool = True):
    """Full pass (cache None; mask [B|1, 1, S, S]) or one cached step (x [B, 1, D] at
    `position`, cache {'key', 'value'}). Returns (x, new cache or None). In a cached step
    memory_kv / memory_mask may hold B / K rows for x's B = B/K * K beam rows (row b*K + k is
    beam k of utterance b): the beams then share their utterance's memory, unrepeated."""
    new_cache = None

    def self_attention(h):
      nonlocal new_cache
      if cache is None:
        return self.self_attn(h, mask, positions, deterministic)
      y, new_cache = self.self_attn.decode(h, cache, position, deterministic)
      return y

    def cross_attention(h):
      rows, group = h.shape[0], h.shape[0] // memory_kv["key"].shape[0]
      if group > 1:   # beam search: the K beams of utterance b are K queries of one memory
        h = h.reshape(rows // group, group * h.shape[1], h.shape[2])
      y = self.encoder_attn.attend(h, memory_kv["key"], memory_kv["value"], memory_mask,
                                   deterministic=deterministic)
      return y.reshape(rows, -1, y.shape[-1])

    x = self._residual(x, self_attention, self.self_attn_layer_norm, deterministic)
    if self.cross_attention:
      x = self._residual(x, cross_attention, self.encoder_attn_layer_norm, deterministic)
    x = self._residual(x, lambda h: self.ffn(h, deterministic), self.final_layer_norm,
                       deterministic)
    return constrain(x, ("batch", "length", "embed")), new_cache


class TransformerEncoder(nn.Module):
  """(x [B, T, D], paddings [B, T]) -> same shapes; `layer` is the per-layer template.

  x = dropout(x * (sqrt(D) if scale_embedding else 1) + PE[t + offset])
  x = Layer_l(x) for l = 1..L;   y = mask(LN(x)) (LN when final_norm)
  position: 'sinusoidal' (fixed, offset 2 = fairseq/S2T, 0 = Whisper), 'learned', 'rope'
  (rotary inside self-attention) or 'none'.
  """
  num_layers: int
  layer: TransformerLayer
  position: str = "sinusoidal"
  position_offset: int = 0
  max_length: int = 6000
  scale_embedding: bool = False
  final_norm: bool = True

  @nn.compact
  def __call__(self, x, paddings, deterministic: bool = True) -> tuple[jax.Array, jax.Array]:
    x = x.astype(self.layer.dtype)
    if self.scale_embedding:
      x = x * jnp.sqrt(jnp.asarray(self.layer.d_model, x.dtype))
    positions = jnp.arange(x.shape[1])[None, :]
    if self.position in ("sinusoidal", "learned"):
      check_length(x.shape[1], self.max_length, "model.encoder.max_length")
      x = x + PositionEmbedding(self.position, self.max_length, self.layer.d_model,
                                self.position_offset, self.layer.param_dtype,
                                name="embed_positions")(positions).astype(x.dtype)
    elif self.position not in ("rope", "none"):
      raise ConfigError(f"model.encoder.position={self.position!r} is not one of "
                        "'sinusoidal', 'learned', 'rope', 'none'")
    x = nn.Dropout(self.layer.dropout)(x, deterministic=deterministic)
    layer_position = "rope" if self.position == "rope" else "none"
    for i in range(self.num_layers):
      layer = self.layer.clone(parent=self, name=f"layers_{i}", position=layer_position)
      x, _ = layer(x, key_mask(paddings), positions=positions, deterministic=deterministic)
    if self.final_norm:
      x = layer_norm(self.layer.dtype, self.layer.param_dtype, name="layer_norm")(x)
    return mask_padded(x, paddings), paddings


class TransformerDecoder(nn.Module):
  """Autoregressive decoder: tokens [B, S] + memory [B, T, D] -> logits [B, S, V] (float32).

  x = dropout(E[y_s] * (sqrt(D) if scale_embedding else 1) + PE[s + offset])
  x = Layer_l(x, memory) (causal self-attention, cross-attention to unpadded memory)
  logits = LN(x) E^T (tie_embeddings) or LN(x) W_out
  S2T: sinusoidal positions, offset 2, scaled embeddings; Whisper: learned positions, unscaled.
  """
  vocab_size: int
  num_layers: int
  layer: TransformerLayer
  position: str = "sinusoidal"
  position_offset: int = 0
  max_length: int = 1024
  scale_embedding: bool = False
  final_norm: bool = True
  tie_embeddings: bool = True

  def setup(self):
    d_model, dtype, param_dtype = self.layer.d_model, self.layer.dtype, self.layer.param_dtype
    self.embed_tokens = embedding(self.vocab_size, d_model, dtype, param_dtype)
    self.embed_positions = PositionEmbedding(self.position, self.max_length, d_model,
                                             self.position_offset, param_dtype)
    self.layers = [self.layer.clone(cross_attention=True, position="none")
                   for _ in range(self.num_layers)]
    if self.final_norm:
      self.layer_norm = layer_norm(dtype, param_dtype)
    if not self.tie_embeddings:
      self.lm_head = dense(self.vocab_size, ("embed", "vocab"), use_bias=False, dtype=dtype,
                           param_dtype=param_dtype)
    self.embed_dropout = nn.Dropout(self.layer.dropout)

  def _embed(self, tokens, positions, deterministic):
    x = self.embed_tokens(tokens)
    if self.scale_embedding:
      x = x * jnp.sqrt(jnp.asarray(self.layer.d_model, x.dtype))
    x = x + self.embed_positions(positions).astype(x.dtype)
    x = self.embed_dropout(x, deterministic=deterministic)
    return constrain(x, ("batch", "length", "embed"))

  def _logits(self, x):
    if self.final_norm:
      x = self.layer_norm(x)
    logits = self.embed_tokens.attend(x) if self.tie_embeddings else self.lm_head(x)
    return constrain(logits.astype(jnp.float32), ("batch", "length", "vocab"))

  def project_memory(self, memory: jax.Array) -> dict:
    """Cross-attention keys/values per layer: {'layers_i': {'key', 'value'} [B, T, N, H]}."""
    return {f"layers_{i}": layer.project_memory(memory) for i, layer in enumerate(self.layers)}

  def __call__(self, tokens, memory, memory_paddings, deterministic: bool = True) -> jax.Array:
    """Teacher-forced logits [B, S, V]; position s sees tokens <= s and unpadded memory."""
    check_length(tokens.shape[1], self.max_length, "model.decoder.max_length")
    x = self._embed(tokens, jnp.arange(tokens.shape[1])[None, :], deterministic)
    self_mask, memory_mask = causal_mask(tokens.shape[1]), key_mask(memory_paddings)
    memory_kv = self.project_memory(memory)
    for i, layer in enumerate(self.layers):
      x, _ = layer(x, self_mask, memory_kv[f"layers_{i}"], memory_mask,
                   deterministic=deterministic)
    return self._logits(x)

  def init_cache(self, memory, memory_paddings, max_length: int) -> dict:
    """Decode cache (see module docstring) for memory [B, T, D]: cross-attention K/V and
    empty self-attention K/V [B, L, N, H]."""
    heads, head_dim = self.layer.num_heads, self.layer.d_model // self.layer.num_heads
    empty = jnp.zeros((memory.shape[0], max_length, heads, head_dim), self.layer.dtype)
    return {"self": {f"layers_{i}": {"key": empty, "value": empty}
                     for i in range(self.num_layers)},
            "cross": self.project_memory(memory),
            "memory_paddings": memory_paddings}

  def decode_step(self, tokens, cache: dict, position) -> tuple[jax.Array, dict]:
    """tokens [B] at `position` (scalar or [B]) -> (logits [B, V] float32, updated cache)."""
    positions = jnp.broadcast_to(jnp.asarray(position, jnp.int32), tokens.shape)[:, None]
    x = self._embed(tokens[:, None], positions, deterministic=True)
    memory_mask = key_mask(cache["memory_paddings"])
    new_self = {}
    for i, layer in enumerate(self.layers):
      name = f"layers_{i}"
      x, new_self[name] = layer(x, None, cache["cross"][name], memory_mask,
                                cache=cache["self"][name],   # a scalar stays one (in place)
                                position=jnp.asarray(position, jnp.int32))
    return self._logits(x)[:, 0], {**cache, "self": new_self}
