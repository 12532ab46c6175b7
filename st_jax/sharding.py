"""The ONE logical-axis rules table, and helpers that apply it.

Models name every parameter and major activation dimension with a *logical* axis name
(`batch`, `length`, `embed`, ...). This table maps those names to the physical mesh axes
`data`, `fsdp` and `tensor`. Rules are tried in order and a mesh axis is used at most once per
array, so an activation `[batch, length, embed]` becomes `P(('data', 'fsdp'), None, None)`
(`embed` finds `fsdp` taken by `batch`) while a weight `[embed, mlp]` becomes
`P('fsdp', 'tensor')`: FSDP shards weights over `fsdp` and the batch over `data` x `fsdp`.

Logical names:
  batch         examples in a batch                    length      time frames / tokens
  embed         model dimension D                      mlp         feed-forward hidden dim
  heads         attention heads N                      kv          per-head dim H
  vocab         output / embedding vocabulary V        mel         input feature bins
  conv          conv channels of the front end         classes     classifier labels
  cache_length  KV-cache positions (decode)           layers      stacked layers (nn.scan)
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import numpy as np

from st_jax.errors import ConfigError

MESH_AXES = ("data", "fsdp", "tensor")

LOGICAL_AXIS_RULES: tuple[tuple[str, Any], ...] = (
    ("batch", ("data", "fsdp")),
    ("length", None),
    ("cache_length", None),
    ("embed", "fsdp"),
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("kv", None),
    ("vocab", "tensor"),
    ("mel", None),
    ("conv", None),
    ("classes", None),
    ("layers", None),
)

LOGICAL_AXIS_NAMES = frozenset(name for name, _ in LOGICAL_AXIS_RULES)


def logical_to_mesh_specs(logical_tree: Any) -> Any:
  """Maps logical partitioning to mesh `PartitionSpec`s with `LOGICAL_AXIS_RULES`.

  Args:
    logical_tree: a pytree whose leaves are `nn.Partitioned` boxes (e.g. the output of
      `jax.eval_shape(module.init, ...)`), logical `PartitionSpec`s, or tuples of names.

  Returns:
    The same tree structure with `jax.sharding.PartitionSpec` leaves over `MESH_AXES`.
  """
  def is_names(leaf):  # a plain non-empty tuple of axis names (not e.g. optax's EmptyState())
    return type(leaf) is tuple and leaf and all(name is None or isinstance(name, str)
                                                 for name in leaf)

  def to_logical_spec(leaf):
    if isinstance(leaf, nn.Partitioned):
      return leaf.get_partition_spec()
    if isinstance(leaf, jax.sharding.PartitionSpec):
      return leaf
    if is_names(leaf):
      return jax.sharding.PartitionSpec(*leaf)
    return jax.sharding.PartitionSpec()  # unannotated leaf: replicated

  logical_specs = jax.tree_util.tree_map(
      to_logical_spec, logical_tree,
      is_leaf=lambda x: isinstance(x, (nn.Partitioned, jax.sharding.PartitionSpec)) or is_names(x))
  return nn.logical_to_mesh(logical_specs, LOGICAL_AXIS_RULES)


# ---- Meshes and shardings ---------------------------------------------------------------------

BATCH_AXES = ("data", "fsdp")   # a global batch's leading dimension is split over both


def mesh_shape(mesh_config, num_devices: int) -> tuple[int, int, int]:
  """(data, fsdp, tensor) sizes; one size may be -1 and takes the remaining devices."""
  sizes = [int(mesh_config[axis]) for axis in MESH_AXES]
  if sizes.count(-1) > 1:
    raise ConfigError(f"mesh {dict(zip(MESH_AXES, sizes))}: at most one axis may be -1")
  known = int(np.prod([s for s in sizes if s != -1]))
  if -1 in sizes:
    if num_devices % known:
      raise ConfigError(f"mesh {dict(zip(MESH_AXES, sizes))} does not divide {num_devices} "
                        f"devices")
    sizes[sizes.index(-1)] = num_devices // known
  if int(np.prod(sizes)) != num_devices:
    raise ConfigError(f"mesh {dict(zip(MESH_AXES, sizes))} needs {int(np.prod(sizes))} devices "
                      f"but {num_devices} are available; set one axis to -1 to fill")
  return tuple(sizes)


def make_mesh(mesh_config, devices=None) -> jax.sharding.Mesh:
  """The (data, fsdp, tensor) mesh with Auto axes over ``devices`` (default: all).

  With ``mesh.dcn_data`` > 1 (multi-slice), the data axis spans slices over DCN and the other
  axes stay inside a slice (``mesh_utils.create_hybrid_device_mesh``).
  """
  devices = list(devices if devices is not None else jax.devices())
  shape = mesh_shape(mesh_config, len(devices))
  auto = (jax.sharding.AxisType.Auto,) * len(MESH_AXES)
  dcn = int(mesh_config.get("dcn_data", 1))
  if dcn > 1:
    from jax.experimental import mesh_utils  # pylint: disable=g-import-not-at-top
    if shape[0] % dcn:
      raise ConfigError(f"mesh.data={shape[0]} is not divisible by mesh.dcn_data={dcn}")
    grid = mesh_utils.create_hybrid_device_mesh(
        (shape[0] // dcn, shape[1], shape[2]), (dcn, 1, 1), devices)
    return jax.sharding.Mesh(grid, MESH_AXES, axis_types=auto)
  return jax.make_mesh(shape, MESH_AXES, axis_types=auto, devices=devices)


def data_parallel_size(mesh) -> int:
  """Number of batch shards: data x fsdp."""
  return int(np.prod([mesh.shape[a] for a in BATCH_AXES]))


def named_shardings(mesh, specs):
  """PartitionSpec tree -> NamedSharding tree on ``mesh``."""
  return jax.tree_util.tree_map(lambda s: jax.sharding.NamedSharding(mesh, s), specs,
                                is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
