"""`st-jax plan`: ahead-of-time compile reports on the local fake devices (cpu:8 and a GPU
topology compiled for host devices), topology parsing, HLO collective accounting; the real TPU
compile runs when the [tpu] extra is installed."""

import importlib.util

import pytest

from st_jax import config_lib, info, plan
from st_jax.errors import ConfigError

TINY = ["data.max_frames=400", "data.max_target_tokens=32"]


def tiny(mesh):
  return config_lib.load_config("st_conformer:tiny", [*TINY, *(
      f"mesh.{axis}={size}" for axis, size in zip(("data", "fsdp", "tensor"), mesh))])


def test_cpu8_plan_reports_memory_flops_and_collectives():
  replicated = plan.plan(tiny((8, 1, 1)), "cpu:8", batch_size=8)
  sharded = plan.plan(tiny((1, 8, 1)), "cpu:8", batch_size=8)
  total = info.parameter_counts(tiny((8, 1, 1)))["total"]
  assert replicated["parameters"] == sharded["parameters"] == total
  assert replicated["memory_per_device_bytes"]["params"] == 4 * total       # f32, replicated
  assert sharded["memory_per_device_bytes"]["params"] < 4 * total / 4       # fsdp shards
  assert replicated["collective_bytes_per_device"].get("all-reduce", 0) > 0  # gradients
  assert sharded["collective_bytes_per_device"].get("all-gather", 0) > 0     # fsdp weights
  assert replicated["flops_per_device"] > 0 and replicated["chips"] == 8
  assert replicated["mesh"] == {"data": 8, "fsdp": 1, "tensor": 1}
  text = plan.format_report(replicated)
  assert "memory per device" in text and "FLOPs per step" in text


def test_gpu_topology_is_estimated_on_host_devices():
  report = plan.plan(tiny((4, 2, 1)), "h100:2x4", batch_size=8)
  assert report["platform"] == "gpu" and report["compiled_for"] == "cpu"
  assert report["fits"] and 0 < report["estimated_mfu"] <= 1
  assert report["estimated_step_seconds"] == pytest.approx(
      report["compute_seconds"] + report["communication_seconds"])


def test_collective_bytes_parse_hlo():
  hlo = ("%ar = f32[4,8]{1,0} all-reduce(f32[4,8]{1,0} %x), replica_groups={}\n"
         "%ag = (bf16[16]{0}, bf16[2,2]{1,0}) all-gather-start(bf16[8]{0} %y)\n"
         "%add = f32[4]{0} add(f32[4]{0} %a, f32[4]{0} %b)\n")
  assert plan.collective_bytes(hlo) == {"all-reduce": 128, "all-gather": 40}


def test_bad_topology_and_batch_are_named():
  with pytest.raises(ConfigError, match="expected CHIP:SHAPE"):
    plan.parse_topology("tpu-big")
  with pytest.raises(ConfigError, match="not a multiple of the 8 data-parallel"):
    plan.plan(tiny((8, 1, 1)), "cpu:8", batch_size=4)
  with pytest.raises(ConfigError, match="needs 64 host devices"):
    plan.plan(tiny((8, 8, 1)), "h100:8x8", batch_size=64)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("libtpu") is None,
                    reason="needs the [tpu] extra (libtpu) for TPU ahead-of-time compiles")
def test_tpu_plan_compiles_for_a_v5e_slice():
  report = plan.plan(tiny((4, 4, 1)), "v5e:4x4", batch_size=16)
  assert report["compiled_for"] == "tpu" and report["chips"] == 16 and report["fits"]
