"""1 vs 8 fake CPU devices: the same global batch on a 1-device mesh and on data=8.

Run by bench/scaling.py in a subprocess, because the 8 host devices must be requested before
jax is imported:

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m bench.scaling_devices \
      --spec s2t_transformer:small --override data.vocab_size=8000 --batch 8 --frames 500

Prints one line ``RESULT {json}`` with the stats of both step times and their compile times.
Both meshes share the machine's cores, so the difference is the cost of SPMD partitioning
(8 programs, collectives for the gradient all-reduce) rather than any speed-up.
"""

from __future__ import annotations

import os

FLAG = "--xla_force_host_platform_device_count=8"
if FLAG not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + FLAG).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

from bench import common, steps  # noqa: E402


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m bench.scaling_devices")
  parser.add_argument("--spec", default="s2t_transformer:small")
  parser.add_argument("--override", action="append", default=[])
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--frames", type=int, default=500)
  parser.add_argument("--targets", type=int, default=40)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args(argv)
  import jax  # pylint: disable=g-import-not-at-top
  devices = jax.devices()
  if len(devices) < 8:
    print(f"RESULT {json.dumps({'error': f'only {len(devices)} devices'})}")
    return 1
  shape = dict(batch_size=args.batch, frames=args.frames, targets=args.targets)
  runners = {}
  for name, data_axis in (("one_device", 1), ("eight_devices", 8)):
    config, _ = steps.load(args.spec, *args.override, **shape)
    config.mesh.data = data_axis
    common.log(f"scaling_devices: compiling the step on {data_axis} device(s)")
    runners[name] = steps.OurStep(config, devices=devices[:data_axis], **shape)
  timed = common.interleave({k: r.step for k, r in runners.items()}, args.repeats)
  out = {k: dict(step_s=timed[k], compile_s=round(r.compile_s, 2)) for k, r in runners.items()}
  out["device_count"] = len(devices)
  print(f"RESULT {json.dumps(out)}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
