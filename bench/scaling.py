"""Scaling of our train step (s2t_transformer:small): batch size, input length, fake devices.

Shapes: B batch, T input frames (T' = T / 4 encoder frames), S = 40 target tokens.

  vs batch   B = 2, 4, 8 at T = 1000:   efficiency = (B_max / B_min) * t(B_min) / t(B_max)
  vs length  T = 250, 500, 1000 at B=8: efficiency = (T_max / T_min) * t(T_min) / t(T_max)
  devices    the same global batch on 1 device vs a data=8 mesh of 8 fake CPU devices
             (subprocess `bench.scaling_devices`; both share the 2 cores, so this measures
             the partitioning overhead, not a speed-up): ratio = t(1) / t(8)

Efficiency 1 = time grows exactly linearly; > 1 = the fixed per-step work (optimizer update,
decoder) is amortised; < 1 = super-linear cost (attention's T'^2) or cache effects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench import common, steps

NAME = "scaling"
TITLE = "Train-step scaling with batch size, input length and device count"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FULL = dict(spec="s2t_transformer:small", overrides=("data.vocab_size=8000",), targets=40,
            batches=(2, 4, 8), frames=(250, 500, 1000), fixed_batch=8, fixed_frames=1000,
            device_frames=500, device_overrides=(), repeats=3)
QUICK = dict(spec="s2t_transformer:tiny", targets=10, overrides=(
    "data.vocab_size=1000", "model.encoder.num_layers=1", "model.decoder.num_layers=1"),
             batches=(1, 2), frames=(100, 200), fixed_batch=2, fixed_frames=200,
             device_frames=100, repeats=2, device_overrides=())


def _curve(setup: dict, key: str, values, repeats: int) -> dict:
  """Step-time stats for each value of `key` ('batch_size' or 'frames'), the other fixed."""
  out = {}
  overrides = setup["overrides"] + ("train.label_smoothing=0.1",)
  for value in values:
    shape = dict(batch_size=setup["fixed_batch"], frames=setup["fixed_frames"],
                 targets=setup["targets"])
    shape[key] = value
    common.log(f"scaling: {setup['spec']} B={shape['batch_size']} T={shape['frames']}: "
               f"compile (cached if measured before) + {repeats} steps")
    runner = steps.our_step(setup["spec"], *overrides, **shape)
    out[value] = dict(common.interleave({"s": runner.step}, repeats)["s"],
                      compile_s=round(runner.compile_s, 2))
  return out


def _devices(setup: dict, repeats: int) -> dict:
  """Runs bench.scaling_devices in a subprocess -> its RESULT dict (or {'error': ...})."""
  command = [sys.executable, "-m", "bench.scaling_devices", "--spec", setup["spec"],
             "--batch", "8", "--frames", str(setup["device_frames"]), "--targets",
             str(setup["targets"]), "--repeats", str(repeats)]
  for override in setup["overrides"] + setup["device_overrides"] + (
      "train.label_smoothing=0.1",):
    command += ["--override", override]
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join(
                 p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
  common.log("scaling: 1 vs 8 fake devices in a subprocess")
  proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=1200, check=False)
  for line in proc.stdout.splitlines():
    if line.startswith("RESULT "):
      return json.loads(line[len("RESULT "):])
  return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"}


def _efficiency(curve: dict) -> float:
  low, high = min(curve), max(curve)
  return (high / low) * curve[low]["median"] / curve[high]["median"]


def run(ctx: common.Context) -> dict:
  setup = QUICK if ctx.quick else FULL
  repeats = ctx.repeats(setup["repeats"])
  by_batch = _curve(setup, "batch_size", setup["batches"], repeats)
  by_frames = _curve(setup, "frames", setup["frames"], repeats)
  devices = _devices(setup, repeats)
  spec = setup["spec"]
  rows = [
      common.row(f"{spec} B {min(by_batch)}->{max(by_batch)} (T={setup['fixed_frames']}) "
                 f"efficiency", "x", _efficiency(by_batch), goal=">= 1 (per-utterance cost "
                 "does not grow)", met=_efficiency(by_batch) >= 1.0,
                 peer_note="no peer (ours alone)",
                 limit="2 CPU cores are already saturated at the smallest batch"),
      common.row(f"{spec} T {min(by_frames)}->{max(by_frames)} (B={setup['fixed_batch']}) "
                 f"efficiency", "x", _efficiency(by_frames), goal=">= 0.9 (near-linear in T)",
                 met=_efficiency(by_frames) >= 0.9, peer_note="no peer (ours alone)",
                 limit="self-attention cost grows as T'^2")]
  details = [f"vs batch (T={setup['fixed_frames']}): " + ", ".join(
      f"B={b}: {s['median']:.3f} s ({b * setup['fixed_frames'] / 100 / s['median']:.1f} "
      f"audio-s/s)" for b, s in by_batch.items()),
             f"vs length (B={setup['fixed_batch']}): " + ", ".join(
                 f"T={t}: {s['median']:.3f} s" for t, s in by_frames.items()),
             "compile times: " + ", ".join(
                 f"B={b} {s['compile_s']:.0f} s" for b, s in by_batch.items()) + "; " + ", ".join(
                     f"T={t} {s['compile_s']:.0f} s" for t, s in by_frames.items())]
  if "error" in devices:
    details.append(f"1 vs 8 fake devices: not measured ({devices['error']})")
  else:
    one, eight = devices["one_device"]["step_s"], devices["eight_devices"]["step_s"]
    ratio = one["median"] / eight["median"]
    rows.append(common.row(f"{spec} B=8 T={setup['device_frames']} step on 8 fake devices "
                           f"(peer column: 1 device)", "s", eight["median"], one["median"],
                           ratio=ratio, goal="ratio >= 0.8 (partitioning overhead < 25%)",
                           met=ratio >= 0.8, peer_note="",
                           limit="8 device programs and their all-reduces share 2 cores"))
    details.append(f"devices (B=8, T={setup['device_frames']}): 1 device {one['median']:.3f} s "
                   f"(compile {devices['one_device']['compile_s']:.0f} s), 8 fake devices "
                   f"{eight['median']:.3f} s (compile {devices['eight_devices']['compile_s']:.0f}"
                   f" s); both on the same 2 cores")
  curves = {f"vs batch (T={setup['fixed_frames']})": dict(
      x=list(by_batch), seconds=[s["median"] for s in by_batch.values()], x_label="batch size"),
            f"vs frames (B={setup['fixed_batch']})": dict(
      x=list(by_frames), seconds=[s["median"] for s in by_frames.values()],
      x_label="input frames")}
  settings = dict(config=spec, batches=list(setup["batches"]), frames=list(setup["frames"]),
                  targets=setup["targets"], repeats=repeats,
                  device_case=f"B=8 T={setup['device_frames']}, mesh data=1 vs data=8")
  return dict(title=TITLE, settings=settings, peer="none (ours at different sizes)", rows=rows,
              measurements=dict(by_batch={str(k): v for k, v in by_batch.items()},
                                by_frames={str(k): v for k, v in by_frames.items()},
                                devices=devices),
              curves=curves, details=details)
