"""Conformer: block equations, padding exactness, attention paths, dropout, bf16."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from st_jax.errors import ConfigError
from st_jax.models import conformer
from test_layers import assert_valid_equal, garbage_in_padding, init_and_apply, paddings_for

D, HEADS, FRAMES = 16, 4, 12


def _encoder(position="relative", conv_norm="layer", implementation="auto", dtype=jnp.float32,
             dropout=0.0, stochastic_depth=0.0, num_layers=1):
  block = conformer.ConformerBlock(
      D, HEADS, ffn_dim=32, conv_kernel_size=5, conv_norm=conv_norm, conv_groups=4,
      position=position, attention_impl=implementation, dropout=dropout,
      stochastic_depth=stochastic_depth, dtype=dtype)
  return conformer.ConformerEncoder(num_layers, block=block)


def _inputs(lengths=(FRAMES, 7)):
  x = np.random.default_rng(0).standard_normal((2, FRAMES, D)).astype(np.float32)
  return x, paddings_for(lengths, FRAMES)


@pytest.mark.parametrize("position,conv_norm", [("relative", "layer"), ("rope", "group")])
def test_padded_frames_never_change_unpadded_outputs(position, conv_norm):
  x, paddings = _inputs()
  variables, apply = init_and_apply(_encoder(position, conv_norm, num_layers=2), x, paddings)
  y, out_paddings = apply(variables, x, paddings)
  y_garbage, _ = apply(variables, garbage_in_padding(x, paddings), paddings)
  assert_valid_equal(y, y_garbage, paddings)
  assert np.all(np.asarray(y)[paddings > 0.5] == 0.0)          # padded outputs are zeroed
  np.testing.assert_array_equal(out_paddings, paddings)
  # The second utterance encoded alone, without any padding, gives the same frames.
  alone, _ = apply(variables, x[1:, :7], paddings[1:, :7])
  np.testing.assert_allclose(alone[0], y[1, :7], atol=1e-5)


def test_efficient_and_reference_attention_paths_agree_in_relative_conformer():
  x, paddings = _inputs()
  variables, apply_efficient = init_and_apply(_encoder(implementation="xla"), x, paddings)
  _, apply_reference = init_and_apply(_encoder(implementation="reference"), x, paddings)
  np.testing.assert_allclose(apply_efficient(variables, x, paddings)[0],
                             apply_reference(variables, x, paddings)[0], atol=2e-5)


def test_block_follows_macaron_equations():
  """With every branch output zeroed except FFN1, y = LN(x + 1/2 FFN1(LN(x)))."""
  x, paddings = _inputs()
  block = conformer.ConformerBlock(D, HEADS, ffn_dim=32, conv_kernel_size=5, dropout=0.0)
  variables, apply = init_and_apply(block, x, paddings)
  params = jax.tree_util.tree_map(np.array, variables["params"])
  for branch, layer in (("self_attn", "out_proj"), ("conv_module", "pointwise_conv2")):
    params[branch][layer] = jax.tree_util.tree_map(np.zeros_like, params[branch][layer])
  params["ffn2"]["fc2"] = jax.tree_util.tree_map(np.zeros_like, params["ffn2"]["fc2"])

  def layer_norm(v, p):
    mean, var = v.mean(-1, keepdims=True), v.var(-1, keepdims=True)
    return (v - mean) / np.sqrt(var + 1e-5) * p["scale"] + p["bias"]

  ffn = params["ffn1"]
  h = layer_norm(x, params["ffn1_layer_norm"]) @ ffn["fc1"]["kernel"] + ffn["fc1"]["bias"]
  h = (h / (1 + np.exp(-h))) @ ffn["fc2"]["kernel"] + ffn["fc2"]["bias"]
  expected = layer_norm(x + 0.5 * h, params["final_layer_norm"])
  np.testing.assert_allclose(apply({"params": params}, x, paddings), expected, atol=1e-4)


def test_block_parameter_names():
  x, paddings = _inputs()
  block = conformer.ConformerBlock(D, HEADS, ffn_dim=32, conv_kernel_size=5)
  params = nn.unbox(jax.eval_shape(block.init, jax.random.key(0), x, paddings))["params"]
  assert set(params) == {"ffn1_layer_norm", "ffn1", "self_attn_layer_norm", "self_attn",
                         "conv_module", "ffn2_layer_norm", "ffn2", "final_layer_norm"}
  assert {"linear_pos", "pos_bias_u", "pos_bias_v", "q_proj", "out_proj"} <= set(
      params["self_attn"])
  assert set(params["conv_module"]) == {"layer_norm", "pointwise_conv1", "depthwise_conv",
                                        "depthwise_layer_norm", "pointwise_conv2"}
  assert params["conv_module"]["depthwise_conv"]["kernel"].shape == (5, 1, D)


def test_masked_group_norm_uses_unpadded_frames_only():
  x, paddings = _inputs()
  norm = conformer.MaskedGroupNorm(num_groups=4)
  variables, apply = init_and_apply(norm, x, paddings)
  y = np.asarray(apply(variables, x, paddings))
  valid = x[1, :7].reshape(7, 4, 4)
  mean, var = valid.mean(axis=(0, 2)), valid.var(axis=(0, 2))
  expected = ((valid - mean[None, :, None]) / np.sqrt(var[None, :, None] + 1e-5)).reshape(7, D)
  params = variables["params"]
  np.testing.assert_allclose(y[1, :7], expected * params["scale"] + params["bias"], atol=1e-4)


def test_dropout_and_stochastic_depth_only_in_training():
  x, paddings = _inputs()
  encoder = _encoder(dropout=0.1, stochastic_depth=0.5)
  variables, apply = init_and_apply(encoder, x, paddings)
  evaluation = apply(variables, x, paddings)[0]
  np.testing.assert_array_equal(evaluation, apply(variables, x, paddings)[0])

  def train(seed):
    rngs = {"dropout": jax.random.key(seed, impl="rbg")}
    return np.asarray(apply(variables, x, paddings, deterministic=False, rngs=rngs)[0])
  assert not np.allclose(train(0), train(1), atol=1e-3)
  assert not np.allclose(train(0), evaluation, atol=1e-3)


def test_bfloat16_compute_with_float32_params_is_close_to_float32():
  x, paddings = _inputs()
  variables, apply32 = init_and_apply(_encoder(), x, paddings)
  _, apply16 = init_and_apply(_encoder(dtype=jnp.bfloat16), x, paddings)
  assert all(v.dtype == np.float32 for v in jax.tree_util.tree_leaves(variables))
  y32, y16 = apply32(variables, x, paddings)[0], apply16(variables, x, paddings)[0]
  assert y16.dtype == jnp.bfloat16
  error = np.abs(np.asarray(y16, np.float32) - np.asarray(y32))
  assert error.mean() < 0.05 and error.max() < 0.5, (error.mean(), error.max())


@pytest.mark.parametrize("kwargs,field", [
    (dict(conv_kernel_size=4), "conv_kernel_size"), (dict(conv_norm="batch"), "conv_norm"),
    (dict(position="sinusoidal"), "position")])
def test_bad_conformer_settings_raise_config_error(kwargs, field):
  x, paddings = _inputs()
  settings = dict(conv_kernel_size=5) | kwargs
  encoder = conformer.ConformerEncoder(1, conformer.ConformerBlock(D, HEADS, 32, **settings))
  with pytest.raises(ConfigError, match=field):
    jax.eval_shape(encoder.init, jax.random.key(0), x, paddings)


def _stacked(unrolled_params, num_layers):
  """Unrolled encoder params (layers_0..layers_{L-1}) -> the scanned layout (layers/block, [L, ...])."""
  layers = [unrolled_params[f"layers_{i}"] for i in range(num_layers)]
  return {"layers": {"block": jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *layers)}}


@pytest.mark.parametrize("remat", ["none", "full", "dots"])
def test_scanned_and_rematerialised_layers_equal_the_unrolled_stack(remat):
  """scan_layers / remat change how the stack is compiled, not what it computes: outputs and
  parameter gradients equal the unrolled stack's (parameters stacked on a `layers` axis)."""
  x, paddings = _inputs()
  unrolled = _encoder(num_layers=3)
  scanned = unrolled.clone(scan_layers=True, remat=remat)
  variables = nn.unbox(unrolled.init(jax.random.key(0), x, paddings))
  stacked = _stacked(variables["params"], 3)
  abstract = jax.eval_shape(scanned.init, jax.random.key(0), x, paddings)["params"]
  assert jax.tree_util.tree_map(lambda a: a.shape, nn.unbox(abstract)) == \
      jax.tree_util.tree_map(lambda a: a.shape, stacked)
  spec = nn.get_partition_spec(abstract)["layers"]["block"]["ffn1"]["fc1"]["kernel"]
  assert tuple(spec) == ("layers", "embed", "mlp")

  def loss(module, params):
    y, _ = module.apply({"params": params}, x, paddings)
    return jnp.sum(jnp.sin(y)), y
  (l_unrolled, y_unrolled), g_unrolled = jax.value_and_grad(
      lambda p: loss(unrolled, p), has_aux=True)(variables["params"])
  (l_scanned, y_scanned), g_scanned = jax.value_and_grad(
      lambda p: loss(scanned, p), has_aux=True)(stacked)
  np.testing.assert_allclose(y_scanned, y_unrolled, atol=1e-5)
  np.testing.assert_allclose(l_scanned, l_unrolled, rtol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(g_scanned),
                  jax.tree_util.tree_leaves(_stacked(g_unrolled, 3))):
    np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_unrolled_remat_keeps_parameter_paths_and_values():
  x, paddings = _inputs()
  plain, remat = _encoder(num_layers=2), _encoder(num_layers=2).clone(remat="full")
  variables = nn.unbox(plain.init(jax.random.key(0), x, paddings))
  assert jax.tree_util.tree_structure(variables) == jax.tree_util.tree_structure(
      nn.unbox(remat.init(jax.random.key(0), x, paddings)))
  grad = jax.grad(lambda p, m: jnp.sum(m.apply({"params": p}, x, paddings)[0] ** 2))
  for a, b in zip(jax.tree_util.tree_leaves(grad(variables["params"], plain)),
                  jax.tree_util.tree_leaves(grad(variables["params"], remat))):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_scanned_stochastic_depth_follows_the_depth_schedule():
  """Scanned layers drop each residual branch with rate sd * l / L. With sd ~ 1 and L = 2,
  layer 2 drops all four of its branches always and layer 1 with p = 0.5^4 = 1/16; a row whose
  every branch dropped is LN(LN(x sqrt(D))) (fresh LN params: scale 1, bias 0). A constant rate
  of sd in every layer would drop everything in nearly all rows."""
  rows = 256
  x = np.random.default_rng(0).standard_normal((rows, FRAMES, D)).astype(np.float32)
  paddings = np.zeros((rows, FRAMES), np.float32)
  scanned = _encoder(num_layers=2, stochastic_depth=0.9999).clone(scan_layers=True)
  variables = scanned.init(jax.random.key(0), x[:2], paddings[:2])
  y = np.asarray(scanned.apply(variables, x, paddings, deterministic=False,
                               rngs={"dropout": jax.random.key(1)})[0])

  def layer_norm(v):
    return (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-5)
  all_dropped = layer_norm(layer_norm(x * np.sqrt(D)))
  fraction = np.mean(np.all(np.abs(y - all_dropped) < 1e-3, axis=(1, 2)))
  assert 0.02 < fraction < 0.15, fraction
  with pytest.raises(ConfigError, match="remat"):
    _encoder().clone(remat="sometimes").init(jax.random.key(0), x[:2], paddings[:2])
