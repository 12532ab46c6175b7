"""orbax checkpoints of the train state together with the grain iterator state.

A checkpoint ``W/checkpoints/<step>/`` holds three items:
  state     the sharded TrainState (params, optimizer state, step, bad-step counters)
  data      the input iterator's state (grain), one file per process
  meta      JSON: config hash, config family, metrics of the dev evaluation at that step

Restore order (``restore``): build the mesh and the abstract sharded state for the *current*
config, then restore ``state`` onto those shardings (so a checkpoint saved on one mesh shape is
resharded onto another), then ``data`` into a freshly built iterator, so the next batch is the
one that would have come next.

Saves are asynchronous (``train.async_checkpointing``); keep the last ``train.keep_checkpoints``
plus the best by ``train.best_metric``. orbax writes into a temporary directory and renames it
when complete, so a failed save (e.g. disk full) leaves the previous checkpoint valid.
"""

from __future__ import annotations

import os

import grain
import jax
import orbax.checkpoint as ocp

from st_jax.errors import ConfigError, UserError


def make_manager(workdir: str, train) -> ocp.CheckpointManager:
  """CheckpointManager over ``workdir/checkpoints`` with the config's retention policy."""
  best_metric = train.best_metric or None
  options = ocp.CheckpointManagerOptions(
      max_to_keep=train.keep_checkpoints,
      best_fn=(lambda m: m[best_metric]) if best_metric else None,
      best_mode=train.best_mode,
      keep_checkpoints_without_metrics=True,
      enable_async_checkpointing=train.async_checkpointing,
      create=True)
  return ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, "checkpoints")),
                               options=options,
                               item_names=("state", "data", "meta"))


def save(manager, step: int, state, iterator, meta: dict, metrics: dict | None = None,
         force: bool = False) -> bool:
  """Saves (asynchronously) the state, the iterator position and ``meta`` at ``step``."""
  try:
    return manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        data=grain.checkpoint.CheckpointSave(iterator),
        meta=ocp.args.JsonSave(meta)), metrics=metrics, force=force)
  except OSError as e:
    raise UserError(f"saving the checkpoint of step {step} into {manager.directory} failed "
                    f"({e}); the previous checkpoint is still valid") from e


def read_meta(manager, step: int) -> dict:
  return manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]


def check_compatible(manager, step: int, config_hash: str, workdir: str):
  """ConfigError when the workdir's checkpoint belongs to a different model config."""
  meta = read_meta(manager, step)
  if meta.get("model_hash") != config_hash:
    raise ConfigError(
        f"{workdir} holds a checkpoint (step {step}) of a different model config "
        f"({meta.get('config_name')}); use a new --workdir or the same config")


def restore(manager, step: int, abstract_state, iterator):
  """(state restored onto ``abstract_state``'s shardings, iterator moved to its position)."""
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(abstract_state),
      data=grain.checkpoint.CheckpointRestore(iterator)))
  return restored["state"], iterator


def abstract_like(state_shapes, shardings):
  """ShapeDtypeStructs carrying the target shardings (what orbax restores onto)."""
  return jax.tree_util.tree_map(
      lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), state_shapes, shardings)


def init_params_from(source: str, params, include_patterns) -> tuple:
  """Fine-tuning start: copies parameters of ``source``'s latest checkpoint into ``params``.

  A parameter is taken when its '/'-joined path matches one of ``include_patterns`` and the
  source has the same path with the same shape (e.g. ``("^encoder/",)`` takes the encoder
  only; a new output vocabulary keeps its fresh initialisation). Returns (params, taken paths).
  """
  import re  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from st_jax.optim import path_names  # pylint: disable=g-import-not-at-top
  flat_source = {}
  def collect(path, leaf):
    flat_source["/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)] = leaf
  jax.tree_util.tree_map_with_path(collect, _source_params(source))
  patterns = [re.compile(p) for p in include_patterns]
  taken = []

  def take(name, current):
    candidate = flat_source.get(name, flat_source.get(name.removeprefix("base/")))  # LoRA
    if candidate is None or not any(p.search(name) for p in patterns) or \
        tuple(candidate.shape) != tuple(current.shape):
      return current
    taken.append(name)
    return jax.device_put(np.asarray(candidate, current.dtype), current.sharding)
  params = jax.tree_util.tree_map(take, path_names(params), params)
  if not taken:
    raise ConfigError(f"train.init_from={source!r}: no parameter matched "
                      f"train.init_include={tuple(include_patterns)} with the same shape")
  return params, taken


def checkpoint_steps(workdir: str) -> list[int]:
  """Steps of the finished checkpoints in ``workdir/checkpoints`` (ascending)."""
  directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
  if not os.path.isdir(directory):
    return []
  with ocp.CheckpointManager(directory, item_names=("state", "data", "meta")) as manager:
    return sorted(manager.all_steps())


def load_params(workdir: str, step: int | None = None) -> tuple[int, dict]:
  """(step, params) of a workdir's checkpoint (the latest when ``step`` is None), restored onto
  the first local device whatever mesh or number of processes saved it."""
  steps = checkpoint_steps(workdir)
  if not steps:
    raise ConfigError(f"{workdir} holds no finished checkpoint (train it with `st-jax train "
                      f"--workdir {workdir}` first)")
  step = steps[-1] if step is None else int(step)
  if step not in steps:
    raise ConfigError(f"{workdir} has no checkpoint of step {step}; it has {steps}")
  path = os.path.abspath(os.path.join(workdir, "checkpoints", str(step), "state"))
  checkpointer = ocp.StandardCheckpointer()
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree_util.tree_map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
      checkpointer.metadata(path).item_metadata.tree)
  return step, checkpointer.restore(path, target)["params"]


def _source_params(source: str):
  """Parameters of a workdir's latest checkpoint, or of a Hugging Face checkpoint directory
  (config.json + safetensors/bin: Speech2Text or Whisper, converted by convert_hf)."""
  if os.path.isdir(os.path.join(source, "checkpoints")):
    return load_params(source)[1]
  if os.path.exists(os.path.join(source, "config.json")):
    from st_jax.models import convert_hf  # pylint: disable=g-import-not-at-top
    return convert_hf.convert_directory(source)[1]
  raise ConfigError(f"train.init_from={source!r} is neither a workdir with checkpoints/ nor a "
                    f"Hugging Face checkpoint directory with config.json")
