"""`st-jax plan`: compile the real train step ahead of time for a pod topology and report
per-device memory, FLOPs, collective traffic, an estimated step time and MFU, and whether
it fits.

    st-jax plan --config st_conformer:base --topology v5e:16x16 --mesh data=16,fsdp=16

Topologies (chips from the NxM[xK] shape):
  v4:AxBxC, v5e:AxB, v5p:AxBxC, v6e:AxB  TPU: compiled for the real topology from this machine
                                         (jax.experimental.topologies; the `[tpu]` extra).
  h100:AxB, h200:AxB                     GPU: JAX cannot compile for a GPU cluster without one,
                                         so the step is compiled for A*B host-platform (CPU)
                                         devices with the same mesh and shardings: per-device
                                         memory, FLOPs and collectives are those of the same
                                         SPMD-partitioned program (fusion and layouts differ
                                         from the GPU compiler's; treat it as an estimate).
  cpu:N                                  N local host-platform devices (tests).

Estimates (written into the report): t_compute = FLOPs per device / peak; t_comm = collective
bytes per device / interconnect bandwidth per chip; step time = t_compute + t_comm (no
overlap: pessimistic); MFU = t_compute / step time. Memory per device = arguments + outputs -
donated aliases + temporaries (XLA's memory analysis); it fits when that is <= the chip's HBM.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re

from st_jax.errors import ConfigError, MissingExtraError

GiB = 2**30


@dataclasses.dataclass(frozen=True)
class Chip:
  platform: str            # tpu | gpu | cpu
  peak_flops: float        # dense bf16 FLOP/s per chip (datasheet); 0 = unknown
  hbm_bytes: float         # memory per chip
  link_bytes_per_s: float  # interconnect bandwidth per chip used for t_comm


CHIPS = {
    # Published per-chip figures (approximate; interconnect = one direction, all links).
    "v4": Chip("tpu", 275e12, 32 * GiB, 3.0e11),
    "v5e": Chip("tpu", 197e12, 16 * GiB, 2.0e11),     # ICI 1,600 Gbps
    "v5p": Chip("tpu", 459e12, 95 * GiB, 6.0e11),     # ICI 4,800 Gbps
    "v6e": Chip("tpu", 918e12, 32 * GiB, 4.0e11),     # ICI 3,200 Gbps
    "h100": Chip("gpu", 989e12, 80e9, 4.5e11),        # SXM dense bf16, NVLink 900 GB/s both ways
    "h200": Chip("gpu", 989e12, 141e9, 4.5e11),
    "cpu": Chip("cpu", 0.0, 0.0, 0.0),
}


def parse_topology(topology: str) -> tuple[str, tuple[int, ...]]:
  """'v5e:16x16' -> ('v5e', (16, 16)); 'cpu:8' -> ('cpu', (8,))."""
  match = re.fullmatch(r"([a-z0-9]+):(\d+(?:x\d+)*)", topology.strip().lower())
  if not match or match.group(1) not in CHIPS:
    raise ConfigError(f"--topology {topology!r}: expected CHIP:SHAPE with CHIP one of "
                      f"{', '.join(CHIPS)} and SHAPE like 16x16 or 4x4x4 (cpu:8)")
  return match.group(1), tuple(int(n) for n in match.group(2).split("x"))


def host_device_count(topology: str) -> int:
  """Host-platform devices this topology compiles for (0 for TPU: real topology)."""
  chip, shape = parse_topology(topology)
  return 0 if CHIPS[chip].platform == "tpu" else math.prod(shape)


def prepare_host_devices(topology: str) -> None:
  """Before jax is imported: ask for enough fake host devices (XLA_FLAGS)."""
  count = host_device_count(topology)
  flags = os.environ.get("XLA_FLAGS", "")
  if count > 1 and "xla_force_host_platform_device_count" not in flags:
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


def _devices(topology: str):
  import jax  # pylint: disable=g-import-not-at-top
  chip, shape = parse_topology(topology)
  count = math.prod(shape)
  if CHIPS[chip].platform == "tpu":
    from jax.experimental import topologies  # pylint: disable=g-import-not-at-top
    try:
      return list(topologies.get_topology_desc(f"{chip}:{'x'.join(map(str, shape))}",
                                               platform="tpu").devices)
    except Exception as e:  # pylint: disable=broad-except  (missing libtpu, unknown shape)
      import importlib.util  # pylint: disable=g-import-not-at-top
      if importlib.util.find_spec("libtpu") is None:
        raise MissingExtraError("tpu", f"compiling for {topology} (the TPU compiler)",
                                "libtpu") from e
      raise ConfigError(f"the TPU compiler could not describe {topology}: "
                        f"{str(e).splitlines()[0][:300]}") from e
  devices = jax.devices("cpu")
  if len(devices) < count:
    raise ConfigError(f"{topology} needs {count} host devices but jax has {len(devices)}; run "
                      f"`st-jax plan` in a fresh process (it sets XLA_FLAGS="
                      f"--xla_force_host_platform_device_count={count} before importing jax)")
  return devices[:count]


def _mesh(config, devices, shape: tuple[int, ...], chip: str):
  import jax  # pylint: disable=g-import-not-at-top
  from st_jax import sharding  # pylint: disable=g-import-not-at-top
  sizes = sharding.mesh_shape(config.mesh, len(devices))
  auto = (jax.sharding.AxisType.Auto,) * 3
  if CHIPS[chip].platform == "tpu":
    from jax.experimental import mesh_utils  # pylint: disable=g-import-not-at-top
    grid = mesh_utils.create_device_mesh(sizes, devices, allow_split_physical_axes=True)
    return jax.sharding.Mesh(grid, sharding.MESH_AXES, axis_types=auto)
  del shape
  return jax.make_mesh(sizes, sharding.MESH_AXES, axis_types=auto, devices=devices)


_COLLECTIVE = re.compile(r"=\s*(\(?[^=]*?\)?)\s+(all-reduce|all-gather|reduce-scatter|all-to-all|"
                         r"collective-permute)(?:-start)?\(")
_ARRAY = re.compile(r"(pred|s8|u8|s16|u16|s32|u32|s64|u64|bf16|f16|f32|f64)\[([\d,]*)\]")
_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "bf16": 2, "f16": 2, "s32": 4,
          "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8}


_HEADER = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s*\(.*\{\s*$")
_CALLEE = re.compile(r"\b(body|calls|to_apply|branch_computations)=\{?(%[\w.\-]+(?:,\s*%[\w.\-]+)*)")
_TRIP_COUNT = re.compile(r'"known_trip_count":\{"n":"(\d+)"')


def _computations(hlo_text: str) -> tuple[dict[str, list[str]], str]:
  """HLO module text -> ({computation name: its instruction lines}, entry name). Text without
  computation headers is one entry computation."""
  blocks, entry, current = {}, None, None
  for line in hlo_text.splitlines():
    header = _HEADER.match(line)
    if header and not line.startswith(" "):
      current = header.group(1)
      blocks[current] = []
      if line.startswith("ENTRY"):
        entry = current
    elif line.startswith("}"):
      current = None
    elif current is not None:
      blocks[current].append(line)
  if not blocks:
    return {"entry": hlo_text.splitlines()}, "entry"
  return blocks, entry or next(iter(blocks))


def collective_bytes(hlo_text: str) -> dict[str, int]:
  """Bytes of the results of each collective kind one execution of a compiled (per-device) HLO
  module moves: a collective inside a while loop's body counts once per iteration (XLA's
  known_trip_count; 1 when unknown), inside called computations once per call."""
  blocks, entry = _computations(hlo_text)
  memo: dict[str, dict[str, int]] = {}

  def total(name: str, depth: int = 0) -> dict[str, int]:
    if name in memo or depth > 64:
      return memo.get(name, {})
    sums: dict[str, int] = {}
    for line in blocks.get(name, ()):
      for result, kind in _COLLECTIVE.findall(line):
        size = sum(_BYTES[t] * math.prod(int(d) for d in dims.split(",") if d)
                   for t, dims in _ARRAY.findall(result))
        sums[kind] = sums.get(kind, 0) + size
      trips = _TRIP_COUNT.search(line)
      for role, callees in _CALLEE.findall(line):
        times = int(trips.group(1)) if role == "body" and trips else 1
        for callee in callees.split(","):
          for kind, size in total(callee.strip().lstrip("%"), depth + 1).items():
            sums[kind] = sums.get(kind, 0) + times * size
    memo[name] = sums
    return sums
  return total(entry)


def _tree_bytes_per_device(tree) -> int:
  import jax  # pylint: disable=g-import-not-at-top
  total = 0
  for leaf in jax.tree_util.tree_leaves(tree):
    shard = leaf.sharding.shard_shape(leaf.shape)
    total += math.prod(shard) * leaf.dtype.itemsize
  return total


def _compile_step(config, mesh, batch_size: int, frames: int, targets: int):
  """Ahead-of-time compile of ``config``'s train step on ``mesh`` -> (compiled, abstract state,
  FLOPs per device from XLA's cost analysis)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from st_jax import sharding  # pylint: disable=g-import-not-at-top
  from st_jax.models import build_model  # pylint: disable=g-import-not-at-top
  from st_jax.models.model_api import example_batch  # pylint: disable=g-import-not-at-top
  from st_jax.train_setup import StepCompiler, abstract_train_state  # pylint: disable=g-import-not-at-top
  model = build_model(config)
  batch = example_batch(config, batch_size, frames, targets)
  batch["example_mask"] = np.ones((batch_size,), np.float32)
  tx, state, shardings = abstract_train_state(model, config, mesh, batch, jax.random.PRNGKey(0))
  batch_sharding = lambda x: jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec(sharding.BATCH_AXES, *([None] * (x.ndim - 1))))
  abstract_batch = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=batch_sharding(v))
                    for k, v in batch.items()}
  compiler = StepCompiler(model, tx, mesh, shardings)
  compiled = compiler.compile(state, abstract_batch, jax.ShapeDtypeStruct((2,), np.uint32))
  return compiled, state, compiler.flops


def _scanned_layers_flops(config, mesh, batch_size, frames, targets, scanned: float):
  """FLOPs per device of a scanned encoder's step (None when the encoder is not scanned).

  XLA's cost analysis counts a while loop's body once, so the scanned step shows
  F_scan = a + b (a: everything but the L blocks, b: one block's forward + backward). The same
  step unrolled with 2 blocks gives F_2 = a + 2b, so b = F_2 - F_scan and the step costs
  F = a + L b = F_scan + (L - 1)(F_2 - F_scan). (The optimizer update of the stacked
  parameters, elementwise and negligible next to b, sits in a for the scanned program.)
  Collective bytes need no such step: `collective_bytes` multiplies loop bodies by their
  trip counts.
  """
  encoder = config.model.get("encoder", {})
  layers = int(encoder.get("num_layers", 0))
  if not encoder.get("scan_layers", False) or layers < 2:
    return None
  two = config.copy_and_resolve_references()
  two.model.encoder.num_layers, two.model.encoder.scan_layers = 2, False
  _, _, unrolled = _compile_step(two, mesh, batch_size, frames, targets)
  return scanned + (layers - 1) * (unrolled - scanned)


def plan(config, topology: str, batch_size: int | None = None, frames: int | None = None,
         targets: int | None = None) -> dict:
  """Compiles the train step of ``config`` for ``topology`` -> the report dict."""
  import jax  # pylint: disable=g-import-not-at-top
  from st_jax import sharding  # pylint: disable=g-import-not-at-top
  chip_name, shape = parse_topology(topology)
  chip = CHIPS[chip_name]
  devices = _devices(topology)
  mesh = _mesh(config, devices, shape, chip_name)
  dp = sharding.data_parallel_size(mesh)
  batch_size = batch_size or config.data.batch_size
  if batch_size % dp:
    raise ConfigError(f"global batch {batch_size} is not a multiple of the {dp} data-parallel "
                      f"shards (data x fsdp); pass --batch-size")
  frames = frames or config.data.max_frames
  targets = targets or config.data.max_target_tokens
  compiled, state, flops = _compile_step(config, mesh, batch_size, frames, targets)
  collectives = collective_bytes(compiled.as_text())
  corrected = _scanned_layers_flops(config, mesh, batch_size, frames, targets, flops)
  flops = flops if corrected is None else corrected
  memory = compiled.memory_analysis()
  per_device = {"params": _tree_bytes_per_device(state.params),
                "optimizer_state": _tree_bytes_per_device(state.opt_state),
                "arguments": memory.argument_size_in_bytes,
                "outputs": memory.output_size_in_bytes,
                "donated_aliases": memory.alias_size_in_bytes,
                "temporaries": memory.temp_size_in_bytes,
                "generated_code": memory.generated_code_size_in_bytes}
  total = (per_device["arguments"] + per_device["outputs"] - per_device["donated_aliases"] +
           per_device["temporaries"])
  report = {
      "config": config.get("name", ""), "topology": topology, "chips": len(devices),
      "platform": chip.platform, "compiled_for": devices[0].platform,
      "mesh": dict(zip(sharding.MESH_AXES, (int(mesh.shape[a]) for a in sharding.MESH_AXES))),
      "global_batch": {"utterances": batch_size, "frames": frames, "target_tokens": targets},
      "parameters": int(sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(
          state.params))),
      "memory_per_device_bytes": {**per_device, "total": total},
      "hbm_per_device_bytes": chip.hbm_bytes,
      "fits": bool(chip.hbm_bytes == 0 or total <= chip.hbm_bytes),
      "flops_per_device": flops,
      "collective_bytes_per_device": collectives,
      "peak_flops_per_chip": chip.peak_flops,
  }
  report["flops_per_step"] = report["flops_per_device"] * len(devices)
  if corrected is not None:
    report["cost_note"] = ("scanned encoder: XLA's cost analysis counts the loop body once; "
                           "FLOPs extrapolated from a 2-block unrolled compile "
                           "(st_jax/plan.py _scanned_layers_flops)")
  if chip.peak_flops:
    t_compute = report["flops_per_device"] / chip.peak_flops
    t_comm = sum(collectives.values()) / chip.link_bytes_per_s
    report.update(estimated_step_seconds=t_compute + t_comm, compute_seconds=t_compute,
                  communication_seconds=t_comm,
                  estimated_mfu=t_compute / max(t_compute + t_comm, 1e-30))
  return report


def format_report(report: dict) -> str:
  """Human-readable summary of `plan`'s dict."""
  mem = report["memory_per_device_bytes"]
  lines = [f"{report['config']} on {report['topology']} ({report['chips']} chips, compiled for "
           f"{report['compiled_for']}), mesh {report['mesh']}, global batch "
           f"{report['global_batch']}",
           f"  parameters {report['parameters']:,}",
           "  memory per device: " + ", ".join(
               f"{k} {v / GiB:.3f} GiB" for k, v in mem.items()),
           f"  fits in {report['hbm_per_device_bytes'] / GiB:.0f} GiB HBM: {report['fits']}"
           if report["hbm_per_device_bytes"] else "  HBM: unknown for this platform",
           f"  FLOPs per step {report['flops_per_step']:.3e} ({report['flops_per_device']:.3e} "
           f"per device)",
           "  collectives per device: " + (", ".join(
               f"{k} {v / 2**20:.1f} MiB" for k, v in
               report["collective_bytes_per_device"].items()) or "none")]
  if "estimated_step_seconds" in report:
    lines.append(f"  estimated step {1000 * report['estimated_step_seconds']:.1f} ms (compute "
                 f"{1000 * report['compute_seconds']:.1f} ms + communication "
                 f"{1000 * report['communication_seconds']:.1f} ms), MFU "
                 f"{100 * report['estimated_mfu']:.0f}% of {report['peak_flops_per_chip']:.3g} "
                 f"FLOP/s per chip")
  return "\n".join(lines)
