"""The pieces train.py puts together: sharded state creation, per-shape compiled steps,
global batches, dev-loss evaluation, TensorBoard writer.

Sharded state creation (no unsharded copy ever exists):
    abstract = eval_shape(init)            params carry logical axis names (nn.Partitioned)
    specs    = logical_to_mesh_specs(...)  the rules table in sharding.py
    state    = jit(init, out_shardings=NamedSharding(mesh, specs))()
"""

from __future__ import annotations

import functools
import logging
import os

import flax.linen as nn
import jax
import numpy as np

from st_jax import optim
from st_jax import sharding
from st_jax import steps as steps_lib
from st_jax.data import pipeline as pipeline_lib

log = logging.getLogger(__name__)


def _state_builder(model, config, example_batch: dict, rng):
  """(optimizer, boxed-state constructor) for ``model`` on batches shaped like the example."""
  init_rng = jax.random.fold_in(rng, 0x1417)
  batch = {k: np.zeros(v.shape, v.dtype) for k, v in example_batch.items()}

  # the optimizer's masks need only the parameter tree's structure and names
  tx = optim.make_optimizer(config.train,
                            nn.unbox(jax.eval_shape(model.init, init_rng, batch)))

  def boxed_state():
    return steps_lib.TrainState.create(model.init(init_rng, batch), tx)
  return tx, boxed_state


def abstract_train_state(model, config, mesh, example_batch: dict, rng):
  """-> (optimizer, TrainState of ShapeDtypeStructs carrying their shardings, shardings):
  what `create_train_state` would build, without allocating it (ahead-of-time planning)."""
  tx, boxed_state = _state_builder(model, config, example_batch, rng)
  abstract = jax.eval_shape(boxed_state)
  shardings = sharding.named_shardings(mesh, sharding.logical_to_mesh_specs(abstract))
  shapes = jax.tree_util.tree_map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
      nn.unbox(abstract), shardings)
  return tx, shapes, shardings


def create_train_state(model, config, mesh, example_batch: dict, rng):
  """-> (optimizer, TrainState created directly with its shardings, state shardings)."""
  tx, boxed_state = _state_builder(model, config, example_batch, rng)
  abstract = jax.eval_shape(boxed_state)
  shardings = sharding.named_shardings(mesh, sharding.logical_to_mesh_specs(abstract))
  with jax.set_mesh(mesh):
    state = jax.jit(lambda: nn.unbox(boxed_state()), out_shardings=shardings)()
  return tx, state, shardings


class StepCompiler:
  """Compiled train steps keyed by batch shapes, compiled ahead of time (lower().compile()).

  ``traces`` counts Python traces of the step, so tests can check nothing recompiles.
  """

  def __init__(self, model, tx, mesh, state_shardings):
    self.mesh, self.traces, self._compiled = mesh, 0, {}
    self.first = None

    def step(state, batch, rng):
      self.traces += 1
      with nn.logical_axis_rules(sharding.LOGICAL_AXIS_RULES):   # activation constraints
        return steps_lib.train_step(model, tx, state, batch, rng)
    self._jitted = jax.jit(step, in_shardings=(state_shardings, None, None),
                           out_shardings=(state_shardings, None), donate_argnums=(0,))

  def compile(self, state, batch, rng):
    """The compiled step for ``batch``'s shapes (compiling it on first sight)."""
    key = tuple(sorted((k, v.shape) for k, v in batch.items()))
    compiled = self._compiled.get(key)
    if compiled is None:
      with jax.set_mesh(self.mesh):
        compiled = self._jitted.lower(state, batch, rng).compile()
      self._compiled[key] = compiled
      if self.first is None:
        self.first = compiled
    return compiled

  def __call__(self, state, batch, rng):
    compiled = self.compile(state, batch, rng)
    with jax.set_mesh(self.mesh):
      return compiled(state, batch, rng)

  @property
  def flops(self) -> float:
    """XLA's FLOP count of the first compiled step (0 when unavailable)."""
    if self.first is None:
      return 0.0
    cost = self.first.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float((cost or {}).get("flops", 0.0))

  def describe(self) -> str:
    """One line: compiled memory use and FLOPs per step of the first compiled shape."""
    memory = self.first.memory_analysis() if self.first is not None else None
    parts = [f"{self.flops / 1e9:.2f} GFLOP/step"]
    if memory is not None:
      for name in ("argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes",
                   "generated_code_size_in_bytes"):
        value = getattr(memory, name, None)
        if value is not None:
          parts.append(f"{name.replace('_size_in_bytes', '')} {value / 2**20:.1f} MiB")
    return "compiled train step: " + ", ".join(parts)


def global_batch(local: dict, mesh) -> dict:
  """Process-local numpy rows -> global jax.Arrays sharded over ('data', 'fsdp')."""
  def place(x):
    spec = jax.sharding.PartitionSpec(sharding.BATCH_AXES, *([None] * (x.ndim - 1)))
    return jax.make_array_from_process_local_data(jax.sharding.NamedSharding(mesh, spec), x)
  return {k: place(v) for k, v in local.items()}


@functools.lru_cache(maxsize=8)
def _eval_fn(model):
  return jax.jit(functools.partial(steps_lib.eval_step, model))


def evaluate_loss(model, config, mesh, params, train_pipe) -> dict:
  """Dev-split token loss, perplexity and accuracy (metric sums over every dev utterance)."""
  pipe = pipeline_lib.make_pipeline(config.data, config.train.eval_split, train=False,
                                    batch_multiple=sharding.data_parallel_size(mesh),
                                    process_index=jax.process_index(),
                                    process_count=jax.process_count(),
                                    boundaries=train_pipe.plan.boundaries)
  totals = {}
  with jax.set_mesh(mesh):
    for local in pipe.iterator():
      metrics = jax.device_get(_eval_fn(model)(params, global_batch(local, mesh)))
      for k, v in metrics.items():
        totals[k] = totals.get(k, 0.0) + float(np.sum(v))
  weight = max(totals.get("weight", 0.0), 1e-9)
  out = {"loss": totals.get("loss_sum", 0.0) / weight}
  if "nll_sum" in totals:   # token models (TTS and vocoders have no perplexity)
    out["perplexity"] = float(np.exp(min(totals["nll_sum"] / weight, 50.0)))
  if "correct" in totals:
    out["accuracy"] = totals["correct"] / weight
  return out


def open_summary_writer(workdir: str):
  """TensorBoard event writer in ``workdir/tb`` (a no-op on processes other than 0)."""
  from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top

  class _Null:
    def add_scalar(self, *a, **k):
      pass

    def close(self):
      pass
  if jax.process_index() != 0:
    return _Null()
  return SummaryWriter(os.path.join(workdir, "tb"))
