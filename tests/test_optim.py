"""Schedules, weight-decay masks, freezing and gradient accumulation."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from st_jax import optim
from st_jax.errors import ConfigError


def train_config(**overrides):
  t = ml_collections.ConfigDict(dict(
      learning_rate=1e-3, warmup_steps=10, num_steps=110, schedule="cosine",
      final_lr_fraction=0.1, optimizer="adamw", adam_b1=0.9, adam_b2=0.98, adam_eps=1e-9,
      momentum=0.9, weight_decay=0.0, weight_decay_exclude=("bias", "scale", "embedding"),
      grad_clip=0.0, freeze="", grad_accum_steps=1))
  t.update(overrides)
  return t


PARAMS = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)},
          "encoder": {"kernel": jnp.ones((2, 2))}}


def test_schedules():
  cos = optim.schedule(train_config())
  np.testing.assert_allclose([cos(0), cos(9), cos(10), cos(60), cos(110), cos(500)],
                             [1e-4, 1e-3, 1e-3, 0.55e-3, 1e-4, 1e-4], rtol=1e-5)
  noam = optim.schedule(train_config(schedule="inverse_sqrt"))
  np.testing.assert_allclose([noam(4), noam(9), noam(39)], [5e-4, 1e-3, 0.5e-3], rtol=1e-5)
  const = optim.schedule(train_config(schedule="constant"))
  np.testing.assert_allclose([const(0), const(50)], [1e-4, 1e-3], rtol=1e-5)
  with pytest.raises(ConfigError, match="train.schedule='linear'"):
    optim.schedule(train_config(schedule="linear"))


def test_weight_decay_skips_biases():
  tx = optim.make_optimizer(train_config(schedule="constant", warmup_steps=1,
                                         weight_decay=0.5, learning_rate=0.1), PARAMS)
  zero_grads = jax.tree_util.tree_map(jnp.zeros_like, PARAMS)
  updates, _ = tx.update(zero_grads, tx.init(PARAMS), PARAMS)
  np.testing.assert_allclose(updates["dense"]["kernel"], -0.05)   # -lr * wd * w
  np.testing.assert_allclose(updates["dense"]["bias"], 0.0)


def test_freeze_by_regex():
  tx = optim.make_optimizer(train_config(freeze="^encoder/"), PARAMS)
  grads = jax.tree_util.tree_map(jnp.ones_like, PARAMS)
  updates, _ = tx.update(grads, tx.init(PARAMS), PARAMS)
  assert np.all(updates["encoder"]["kernel"] == 0)
  assert np.all(updates["dense"]["kernel"] != 0)
  with pytest.raises(ConfigError, match="matches no parameter"):
    optim.make_optimizer(train_config(freeze="^decoder/"), PARAMS)


def test_accumulating_two_half_batches_equals_one_full_batch():
  rng = np.random.default_rng(0)
  g1 = jax.tree_util.tree_map(lambda p: jnp.asarray(rng.normal(size=p.shape)), PARAMS)
  g2 = jax.tree_util.tree_map(lambda p: jnp.asarray(rng.normal(size=p.shape)), PARAMS)
  full = optim.make_optimizer(train_config(optimizer="sgd", momentum=0.0), PARAMS)
  mean = jax.tree_util.tree_map(lambda a, b: (a + b) / 2, g1, g2)
  expected, _ = full.update(mean, full.init(PARAMS), PARAMS)
  accum = optim.make_optimizer(train_config(optimizer="sgd", momentum=0.0,
                                            grad_accum_steps=2), PARAMS)
  state = accum.init(PARAMS)
  first, state = accum.update(g1, state, PARAMS)
  assert all(np.all(u == 0) for u in jax.tree_util.tree_leaves(first))
  second, _ = accum.update(g2, state, PARAMS)
  for a, b in zip(jax.tree_util.tree_leaves(second), jax.tree_util.tree_leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-10)


def test_clipping_bounds_the_update_norm():
  tx = optim.make_optimizer(train_config(optimizer="sgd", momentum=0.0, grad_clip=1.0,
                                         schedule="constant", warmup_steps=1,
                                         learning_rate=1.0), PARAMS)
  grads = jax.tree_util.tree_map(lambda p: 100 * jnp.ones_like(p), PARAMS)
  updates, _ = tx.update(grads, tx.init(PARAMS), PARAMS)
  assert float(optax.tree.norm(updates)) == pytest.approx(1.0, rel=1e-5)
