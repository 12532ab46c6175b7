"""train_step / eval_step: pure functions of (state, batch, rng), jitted by train.py.

``TrainState`` is a pytree: step, params, opt_state, and two NaN/Inf counters. A step whose
loss or gradient norm is not finite is skipped: params and optimizer state stay as they were,
``skipped_steps`` and ``bad_streak`` grow (the loop stops after ``train.max_bad_steps``
consecutive bad steps). Randomness of step t is ``fold_in(rng, t)``.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  skipped_steps: jax.Array   # total non-finite steps skipped
  bad_streak: jax.Array      # consecutive non-finite steps up to now

  @classmethod
  def create(cls, params, tx):
    zero = jnp.zeros((), jnp.int32)
    return cls(step=zero, params=params, opt_state=tx.init(params), skipped_steps=zero,
               bad_streak=zero)


def train_step(model, tx, state: TrainState, batch: dict, rng: jax.Array):
  """One optimisation step -> (new state, metrics of this batch).

  metrics: loss (mean per weight unit), loss_sum, weight, grad_norm, finite (0/1), plus the
  model's own sums (e.g. accuracy).
  """
  step_rng = jax.random.fold_in(rng, state.step)

  def loss_fn(params):
    return model.loss_fn(params, batch, step_rng, train=True)

  (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  grad_norm = optax.tree.norm(grads)
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  keep = lambda new, old: jax.tree_util.tree_map(lambda n, o: jnp.where(finite, n, o), new, old)
  new_state = state.replace(
      step=state.step + 1,
      params=keep(params, state.params),
      opt_state=keep(opt_state, state.opt_state),
      skipped_steps=state.skipped_steps + (~finite).astype(jnp.int32),
      bad_streak=jnp.where(finite, 0, state.bad_streak + 1))
  metrics = dict(metrics, loss=loss, grad_norm=grad_norm, finite=finite.astype(jnp.float32))
  return new_state, metrics


def eval_step(model, params, batch: dict):
  """Metric sums of one batch without dropout (loss_sum, weight, accuracy sums ...)."""
  _, metrics = model.loss_fn(params, batch, jax.random.PRNGKey(0), train=False)
  return metrics
