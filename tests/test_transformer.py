"""Transformer encoder/decoder: S2T/Whisper equations, padding exactness, cached decoding."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from st_jax.errors import ConfigError
from st_jax.models import layers, transformer
from test_layers import assert_valid_equal, garbage_in_padding, init_and_apply, paddings_for

D, HEADS, VOCAB, FRAMES, TARGET = 16, 4, 23, 9, 6


def _layer(norm="pre", k_bias=True, dropout=0.0):
  return transformer.TransformerLayer(D, HEADS, ffn_dim=32, norm=norm, k_bias=k_bias,
                                      dropout=dropout)


def _memory():
  x = np.random.default_rng(0).standard_normal((2, FRAMES, D)).astype(np.float32)
  return x, paddings_for([FRAMES, 5], FRAMES)


def _tokens():
  return np.random.default_rng(1).integers(1, VOCAB, (2, TARGET)).astype(np.int32)


@pytest.mark.parametrize("position,norm", [("sinusoidal", "pre"), ("learned", "post"),
                                           ("rope", "pre")])
def test_encoder_padding_never_changes_unpadded_outputs(position, norm):
  x, paddings = _memory()
  encoder = transformer.TransformerEncoder(2, _layer(norm), position, position_offset=2,
                                           max_length=32, scale_embedding=True)
  variables, apply = init_and_apply(encoder, x, paddings)
  y, _ = apply(variables, x, paddings)
  assert_valid_equal(y, apply(variables, garbage_in_padding(x, paddings), paddings)[0], paddings)
  alone, _ = apply(variables, x[1:, :5], paddings[1:, :5])
  np.testing.assert_allclose(alone[0], y[1, :5], atol=1e-5)


def test_s2t_encoder_input_is_scaled_features_plus_offset_sinusoids():
  """No layers, no final norm: y_t = sqrt(D) x_t + PE[t + 2] (fairseq / HF Speech2Text)."""
  x, paddings = _memory()
  encoder = transformer.TransformerEncoder(0, _layer(), "sinusoidal", position_offset=2,
                                           max_length=32, scale_embedding=True, final_norm=False)
  y, _ = encoder.apply({}, x, np.zeros_like(paddings))
  expected = math.sqrt(D) * x + layers.sinusoid_table(34, D)[2:2 + FRAMES]
  np.testing.assert_allclose(y, expected, atol=1e-5)


def test_tied_decoder_logits_are_embedding_transpose():
  """No layers, no final norm: logits = (sqrt(D) E[y_s] + PE[s + 2]) E^T."""
  x, paddings = _memory()
  tokens = _tokens()
  decoder = transformer.TransformerDecoder(VOCAB, 0, _layer(), "sinusoidal", position_offset=2,
                                           scale_embedding=True, final_norm=False)
  variables, apply = init_and_apply(decoder, tokens, x, paddings)
  table = np.asarray(variables["params"]["embed_tokens"]["embedding"])
  hidden = math.sqrt(D) * table[tokens] + layers.sinusoid_table(1026, D)[2:2 + TARGET]
  np.testing.assert_allclose(apply(variables, tokens, x, paddings), hidden @ table.T, atol=1e-4)
  assert set(variables["params"]) == {"embed_tokens"}          # tied: no separate projection


def _decoder(position="learned", norm="pre", k_bias=True):
  return transformer.TransformerDecoder(VOCAB, 2, _layer(norm, k_bias), position, max_length=16,
                                        tie_embeddings=False)


def test_decoder_ignores_padded_memory_and_later_targets():
  x, paddings = _memory()
  tokens = _tokens()
  variables, apply = init_and_apply(_decoder(), tokens, x, paddings)
  logits = apply(variables, tokens, x, paddings)
  assert logits.shape == (2, TARGET, VOCAB) and logits.dtype == jnp.float32
  np.testing.assert_allclose(apply(variables, tokens, garbage_in_padding(x, paddings), paddings),
                             logits, atol=1e-5)
  target_paddings = paddings_for([TARGET, 3], TARGET)
  changed = np.where(target_paddings > 0.5, (tokens + 5) % VOCAB, tokens)
  assert_valid_equal(apply(variables, changed, x, paddings), logits, target_paddings)


def test_cached_decoding_equals_full_forward():
  """Whisper-like (learned positions, no key bias), post-norm; test_heads covers S2T-like."""
  x, paddings = _memory()
  tokens = _tokens()
  decoder = _decoder("learned", "post", k_bias=False)
  variables, apply = init_and_apply(decoder, tokens, x, paddings)
  full = apply(variables, tokens, x, paddings)
  cache = decoder.apply(variables, x, paddings, 10, method="init_cache")
  batch = tokens.shape[0]
  assert all(leaf.shape[0] == batch for leaf in jax.tree_util.tree_leaves(cache))
  step = jax.jit(lambda v, t, c, p: decoder.apply(v, t, c, p, method="decode_step"))
  steps = []
  for s in range(TARGET):
    position_arg = s if s % 2 else jnp.full((batch,), s)      # scalar or per-example [B]
    logits, cache = step(variables, tokens[:, s], cache, position_arg)
    steps.append(logits)
  np.testing.assert_allclose(jnp.stack(steps, axis=1), full, atol=1e-5)


def test_whisper_shaped_parameters():
  x, paddings = _memory()
  tokens = _tokens()
  decoder = transformer.TransformerDecoder(VOCAB, 1, _layer(k_bias=False), "learned",
                                           max_length=16)
  params = nn.unbox(jax.eval_shape(decoder.init, jax.random.key(0), tokens, x, paddings))
  params = params["params"]
  assert params["embed_positions"]["embedding"].shape == (16, D)
  assert "bias" not in params["layers_0"]["self_attn"]["k_proj"]
  assert "bias" in params["layers_0"]["self_attn"]["q_proj"]
  assert set(params["layers_0"]) == {"self_attn", "self_attn_layer_norm", "encoder_attn",
                                     "encoder_attn_layer_norm", "ffn", "final_layer_norm"}
  assert "lm_head" not in params


def test_too_long_inputs_raise_config_error():
  x, paddings = _memory()
  encoder = transformer.TransformerEncoder(1, _layer(), "sinusoidal", max_length=4)
  with pytest.raises(ConfigError, match="model.encoder.max_length"):
    jax.eval_shape(encoder.init, jax.random.key(0), x, paddings)
  with pytest.raises(ConfigError, match="norm"):
    jax.eval_shape(transformer.TransformerEncoder(1, _layer(norm="sandwich")).init,
                   jax.random.key(0), x, paddings)
