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


def test_scanned_encoder_plan_counts_every_layer():
  """XLA counts a scanned loop body once; the plan extrapolates so the scanned step's FLOPs and
  collective bytes match the unrolled step's (same model, same mesh)."""
  base = ["data.max_frames=200", "data.max_target_tokens=16", "mesh.data=2", "mesh.fsdp=4",
          "model.encoder.num_layers=4"]
  unrolled = plan.plan(config_lib.load_config("pretrain_bestrq:tiny", base), "cpu:8",
                       batch_size=8)
  scanned = plan.plan(config_lib.load_config(
      "pretrain_bestrq:tiny", [*base, "model.encoder.scan_layers=True"]), "cpu:8", batch_size=8)
  assert "cost_note" in scanned and "cost_note" not in unrolled
  assert scanned["parameters"] == unrolled["parameters"]
  assert scanned["flops_per_device"] == pytest.approx(unrolled["flops_per_device"], rel=0.03)
  # fsdp gathers every block's weights at least once per step in both programs (the scanned
  # one again in the backward loop instead of keeping them)
  assert scanned["collective_bytes_per_device"]["all-gather"] >= \
      0.9 * unrolled["collective_bytes_per_device"]["all-gather"]


def test_collectives_inside_loops_count_once_per_iteration():
  hlo = """%body.1 (p: (s32[], f32[8])) -> (s32[], f32[8]) {
  %ag = f32[16]{0} all-gather(f32[8]{0} %x), dimensions={0}
  %c = f32[4]{0} call(f32[4]{0} %y), to_apply=%inner.2
}

%inner.2 (q: f32[4]) -> f32[4] {
  %ar = f32[4]{0} all-reduce(f32[4]{0} %q), to_apply=%add.3
}

%add.3 (a: f32[], b: f32[]) -> f32[] {
  %s = f32[] add(f32[] %a, f32[] %b)
}

ENTRY %main.4 (x: f32[8]) -> f32[8] {
  %w = (s32[], f32[8]) while((s32[], f32[8]) %t), condition=%cond.5, body=%body.1, backend_config={"known_trip_count":{"n":"5"}}
  %rs = f32[2]{0} reduce-scatter(f32[8]{0} %x), dimensions={0}
}
"""
  assert plan.collective_bytes(hlo) == {"all-gather": 5 * 64, "all-reduce": 5 * 16,
                                        "reduce-scatter": 8}
