"""Layers, attention, front ends and the logical-axis rules (tiny shapes, CPU)."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from st_jax import sharding
from st_jax.errors import ConfigError
from st_jax.models import attention, frontends, layers

P = jax.sharding.PartitionSpec


# Helpers shared with the other model tests (imported as `from test_layers import ...`).


def paddings_for(lengths, total):
  """Right paddings [B, total] (1.0 = pad) for the given unpadded lengths."""
  return (np.arange(total)[None, :] >= np.asarray(lengths)[:, None]).astype(np.float32)


def garbage_in_padding(x, paddings, seed=7):
  """x with every padded position replaced by large random values."""
  noise = 100.0 * np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)
  mask = paddings.reshape(paddings.shape + (1,) * (x.ndim - paddings.ndim)) > 0.5
  return np.where(mask, noise.astype(x.dtype) if x.dtype.kind == "f" else x, x)


def assert_valid_equal(a, b, paddings, atol=1e-5):
  """a and b agree at the unpadded positions of paddings [B, T]."""
  valid = np.asarray(paddings) < 0.5
  np.testing.assert_allclose(np.asarray(a)[valid], np.asarray(b)[valid], atol=atol, rtol=1e-5)


def random_like(abstract, seed=0):
  """Random numpy values for an abstract (eval_shape) parameter tree: fast test init with no
  XLA compile (norm scales ~1, biases ~0, matrices ~ N(0, 1/fan_in))."""
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    if "scale" in jax.tree_util.keystr(path):
      values = 1.0 + 0.1 * rng.standard_normal(leaf.shape)
    elif len(leaf.shape) <= 1:
      values = 0.1 * rng.standard_normal(leaf.shape)
    else:
      values = rng.standard_normal(leaf.shape) / np.sqrt(np.prod(leaf.shape[:-1]))
    return values.astype(leaf.dtype)
  return jax.tree_util.tree_map_with_path(fill, nn.unbox(abstract))


def init_and_apply(module, *args, **kwargs):
  """(random variables, jitted apply) of a module for the given example args."""
  abstract = jax.eval_shape(module.init, jax.random.key(0), *args, **kwargs)
  return random_like(abstract), jax.jit(module.apply, static_argnames=("deterministic",))


def test_sinusoid_table_matches_fairseq_formula_and_offset():
  table = layers.sinusoid_table(10, 8)
  half = 4
  freq = np.exp(np.arange(half) * -(math.log(10000.0) / (half - 1)))
  expected = np.concatenate([np.sin(7 * freq), np.cos(7 * freq)])
  np.testing.assert_allclose(table[7], expected, atol=1e-6)
  module = layers.PositionEmbedding("sinusoidal", max_length=8, features=8, offset=2)
  out = module.apply({}, jnp.array([0, 5]))
  np.testing.assert_allclose(out, table[[2, 7]], atol=1e-6)  # S2T: position 0 -> row 2


def test_relative_sinusoids_centre_row_is_distance_zero():
  table = layers.relative_sinusoids(4, 6)
  assert table.shape == (7, 6)
  np.testing.assert_allclose(table[3], [0, 1, 0, 1, 0, 1], atol=1e-7)   # distance 0
  np.testing.assert_allclose(table[0, 0], math.sin(3.0), atol=1e-6)      # distance +3
  np.testing.assert_allclose(table[6, 0], math.sin(-3.0), atol=1e-6)     # distance -3


def test_rel_shift_matches_explicit_gather():
  length = 5
  scores = np.random.default_rng(0).standard_normal((2, 3, length, 2 * length - 1)).astype(
      np.float32)
  shifted = np.asarray(attention.rel_shift(jnp.asarray(scores)))
  i, j = np.meshgrid(np.arange(length), np.arange(length), indexing="ij")
  np.testing.assert_array_equal(shifted, scores[:, :, i, length - 1 - i + j])


def test_rope_logits_depend_only_on_relative_position():
  rng = np.random.default_rng(1)
  q = jnp.asarray(rng.standard_normal((1, 4, 2, 8)), jnp.float32)
  k = jnp.asarray(rng.standard_normal((1, 4, 2, 8)), jnp.float32)
  positions = jnp.arange(4)[None]
  logits = lambda p: jnp.einsum("btnh,bsnh->bnts", attention.apply_rope(q, p),
                                attention.apply_rope(k, p))
  np.testing.assert_allclose(logits(positions), logits(positions + 17), atol=1e-4)
  assert not np.allclose(logits(positions), jnp.einsum("btnh,bsnh->bnts", q, k), atol=1e-3)


@pytest.mark.parametrize("position", ["none", "rope", "relative"])
def test_efficient_and_reference_attention_agree_and_ignore_padding(position):
  rng = np.random.default_rng(2)
  x = rng.standard_normal((2, 6, 16)).astype(np.float32)
  paddings = paddings_for([6, 3], 6)

  def run(implementation, inputs):
    module = attention.MultiHeadAttention(4, 16, implementation, position=position)
    args = (layers.key_mask(paddings), jnp.arange(6)[None])
    variables, apply = init_and_apply(module, inputs, *args)
    return apply(variables, inputs, *args)

  reference, efficient = run("reference", x), run("xla", x)
  np.testing.assert_allclose(reference, efficient, atol=1e-5)
  assert_valid_equal(run("xla", x), run("xla", garbage_in_padding(x, paddings)), paddings)


def test_attention_rejects_bad_heads_and_implementation():
  x = jnp.zeros((1, 2, 10))
  with pytest.raises(ConfigError, match="num_heads"):
    jax.eval_shape(attention.MultiHeadAttention(3, 10).init, jax.random.key(0), x,
                   layers.key_mask(x[..., 0]))
  with pytest.raises(ConfigError, match="attention_impl"):
    attention.check_implementation("flash")


@pytest.mark.parametrize("factor", [4, 6, 8])
def test_conv2d_subsampling_lengths_and_padding(factor):
  lengths, frames = [50, 29], 50
  x = np.random.default_rng(3).standard_normal((2, frames, 24)).astype(np.float32)
  paddings = paddings_for(lengths, frames)
  module = frontends.Conv2dSubsampling(d_model=8, channels=4, factor=factor)
  variables, apply = init_and_apply(module, x, paddings)
  y, out_paddings = apply(variables, x, paddings)
  expected = [frontends.subsampled_length(n, "conv2d", factor) for n in lengths]
  np.testing.assert_array_equal((1 - out_paddings).sum(-1), expected)
  assert y.shape == (2, expected[0], 8)
  with pytest.raises(ConfigError, match="n_mels"):
    jax.eval_shape(module.init, jax.random.key(0), x[..., :factor], paddings)
  y2, _ = apply(variables, garbage_in_padding(x, paddings), paddings)
  assert_valid_equal(y, y2, out_paddings)
  alone, _ = apply(variables, x[1:, :lengths[1]], paddings[1:, :lengths[1]])
  np.testing.assert_allclose(alone[0], y[1, :expected[1]], atol=1e-5)


@pytest.mark.parametrize("module", [
    frontends.Conv1dSubsampler(d_model=8, channels=12, kernel_sizes=(5, 5)),
    frontends.WhisperConvFrontEnd(d_model=8)], ids=["conv1d", "whisper"])
def test_conv1d_front_ends_match_unpadded_utterance(module):
  lengths, frames = [21, 13], 21
  x = np.random.default_rng(4).standard_normal((2, frames, 6)).astype(np.float32)
  paddings = paddings_for(lengths, frames)
  variables, apply = init_and_apply(module, x, paddings)
  y, out_paddings = apply(variables, x, paddings)
  kind = "conv1d" if isinstance(module, frontends.Conv1dSubsampler) else "whisper_conv"
  expected = [frontends.subsampled_length(n, kind) for n in lengths]
  np.testing.assert_array_equal((1 - out_paddings).sum(-1), expected)
  y2, _ = apply(variables, garbage_in_padding(x, paddings), paddings)
  assert_valid_equal(y, y2, out_paddings)
  alone, _ = apply(variables, x[1:, :lengths[1]], paddings[1:, :lengths[1]])
  np.testing.assert_allclose(alone[0], y[1, :expected[1]], atol=1e-5)


def test_conv1d_subsampler_shapes_follow_hf_speech2text():
  module = frontends.Conv1dSubsampler(d_model=8, channels=12, kernel_sizes=(5, 5))
  x = jnp.zeros((1, 10, 6))
  shapes = jax.tree_util.tree_map(jnp.shape, nn.unbox(jax.eval_shape(
      module.init, jax.random.key(0), x, jnp.zeros((1, 10)))))
  # HF: Conv1d(F, C, 5) then Conv1d(C / 2, 2 D, 5); ours are [k, in, out].
  assert shapes["params"]["conv_layers_0"]["kernel"] == (5, 6, 12)
  assert shapes["params"]["conv_layers_1"]["kernel"] == (5, 6, 16)


def test_feed_forward_gelu_is_exact_erf():
  gelu = layers.activation_fn("gelu")
  x = jnp.array([-1.0, 0.5, 2.0])
  expected = 0.5 * x * (1 + jax.scipy.special.erf(x / math.sqrt(2)))
  np.testing.assert_allclose(gelu(x), expected, atol=1e-6)
  with pytest.raises(ConfigError, match="activation"):
    layers.activation_fn("mish")


def test_stochastic_depth_drops_whole_examples():
  module = layers.StochasticDepth(rate=0.5)
  x = jnp.ones((64, 3, 2))
  assert (module.apply({}, x, deterministic=True) == x).all()
  rngs = {"dropout": jax.random.key(0, impl="rbg")}
  y = np.asarray(module.apply({}, x, deterministic=False, rngs=rngs))
  per_example = y.reshape(64, -1)
  assert set(np.unique(per_example)) == {0.0, 2.0}
  assert (per_example == per_example[:, :1]).all()      # whole example kept or dropped


def test_logical_names_must_be_in_rules_table():
  with pytest.raises(ValueError, match="not in sharding"):
    layers.constrain(jnp.zeros((2, 2)), ("batch", "hidden"))
  with pytest.raises(ValueError, match="not in sharding"):
    layers.partitioned(nn.initializers.zeros, ("embed", "ffn"))


def test_logical_to_mesh_specs_applies_rules():
  tree = {"kernel": ("embed", "mlp"), "activation": ("batch", "length", "embed"),
          "out": nn.Partitioned(jnp.zeros((2, 3)), ("embed", "vocab")), "step": jnp.zeros(())}
  specs = sharding.logical_to_mesh_specs(tree)
  assert specs["kernel"] == P("fsdp", "tensor")
  assert specs["activation"] == P(("data", "fsdp"), None, None)   # fsdp already used by batch
  assert specs["out"] == P("fsdp", "tensor")
  assert specs["step"] == P()


@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 (fake CPU) devices")
def test_layer_runs_sharded_under_the_rules_table():
  """Parameters and activation constraints resolve on a data x fsdp x tensor mesh."""
  from st_jax.models import transformer  # pylint: disable=g-import-not-at-top
  layer = transformer.TransformerLayer(16, 4, ffn_dim=32, dropout=0.0)
  x = np.random.default_rng(5).standard_normal((4, 6, 16)).astype(np.float32)
  mask = layers.key_mask(paddings_for([6, 5, 4, 3], 6))
  variables, apply = init_and_apply(layer, x, mask)
  expected = apply(variables, x, mask)[0]
  mesh = jax.make_mesh((2, 2, 2), sharding.MESH_AXES,
                       axis_types=(jax.sharding.AxisType.Auto,) * 3)
  with jax.set_mesh(mesh), nn.logical_axis_rules(sharding.LOGICAL_AXIS_RULES):
    abstract = jax.eval_shape(layer.init, jax.random.key(0), x, mask)
    specs = sharding.logical_to_mesh_specs(abstract)
    assert specs["params"]["self_attn"]["q_proj"]["kernel"] == P("fsdp", "tensor", None)
    lowered = jax.jit(layer.apply).lower(variables, x, mask)
    assert lowered.as_text().count("sharding_constraint") >= 5
    out = lowered.compile()(variables, x, mask)[0]
  np.testing.assert_allclose(out, expected, atol=1e-5)
