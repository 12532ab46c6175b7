"""Helpers every benchmark shares: timing, statistics, machine info, peer imports, JSON files.

A benchmark module exposes ``NAME`` and ``run(ctx) -> dict`` (the result below); `bench/run.py`
adds the machine info and writes ``<out>/<NAME>.json``; `bench/report.py` turns all of them
into BENCHMARKS.md.

Result layout (small: scalars and short lists only, never arrays)::

  {"name": "decoding", "title": "...", "quick": false, "machine": {...}, "settings": {...},
   "peer": "HF transformers 5.x / torch 2.x" | "peer not measured (install .[parity])",
   "rows": [row(...), ...],            one table line each (see `row`)
   "measurements": {key: stats(...)},  medians and spreads of every timed quantity
   "details": ["one line of text", ...], "elapsed_s": 12.3}

Timing: `interleave` runs the contenders alternately (ours, peer, ours, peer, ...) after their
warm-ups, so slow drifts of the shared 2-core machine hit both sides alike; every timed call
must block on its results (``jax.block_until_ready``; torch CPU ops are synchronous).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import platform
import time
from typing import Any, Callable

import numpy as np

PEER_MISSING = "peer not measured (install .[parity])"
TORCH_THREADS = 2


@dataclasses.dataclass
class Context:
  """What `run.py` hands every benchmark: mode, output folder, results of earlier ones."""
  quick: bool
  out_dir: str
  results: dict = dataclasses.field(default_factory=dict)   # name -> result dict

  def repeats(self, full: int, quick: int = 2) -> int:
    return quick if self.quick else full


def log(message: str) -> None:
  """Progress line (flushed: `make bench` output is usually piped to a log)."""
  print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------- peers

def peer_modules():
  """(torch, transformers) with torch on TORCH_THREADS threads, or None when the [parity]
  extra is missing (or BENCH_NO_PEER=1 pretends it is)."""
  if os.environ.get("BENCH_NO_PEER") == "1":
    return None
  try:
    torch = importlib.import_module("torch")
    transformers = importlib.import_module("transformers")
  except ImportError:
    return None
  torch.set_num_threads(TORCH_THREADS)
  return torch, transformers


def optional_module(name: str):
  """The module, or None when it is not installed (BENCH_NO_PEER=1 hides torch/librosa)."""
  if os.environ.get("BENCH_NO_PEER") == "1" and name in ("torch", "transformers", "librosa"):
    return None
  try:
    return importlib.import_module(name)
  except ImportError:
    return None


def peer_label(*names: str) -> str:
  """'transformers 5.2 / torch 2.13' for the importable `names`, else PEER_MISSING."""
  versions = []
  for name in names:
    module = optional_module(name)
    if module is None:
      return PEER_MISSING
    versions.append(f"{name} {module.__version__}")
  return " / ".join(versions)


# ---------------------------------------------------------------------------- timing

def stats(times) -> dict:
  """Seconds [n] -> {median, min, max, q1, q3, n} (rounded; no arrays in the JSON)."""
  t = np.asarray(times, np.float64)
  q1, median, q3 = np.percentile(t, [25, 50, 75])
  return {"median": _round(median), "min": _round(t.min()), "max": _round(t.max()),
          "q1": _round(q1), "q3": _round(q3), "n": int(t.size)}


def _round(x: float) -> float:
  return float(f"{float(x):.5g}")


def time_call(fn: Callable[[], Any]) -> float:
  """Wall seconds of one blocking call."""
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def interleave(contenders: dict[str, Callable[[], Any]], repeats: int,
               warmup: int = 1) -> dict[str, dict]:
  """Runs each contender `warmup` times, then `repeats` rounds of one call each in turn ->
  {name: stats(seconds)}. Contenders that are None are skipped."""
  live = {k: f for k, f in contenders.items() if f is not None}
  for fn in live.values():
    for _ in range(warmup):
      fn()
  times = {k: [] for k in live}
  for _ in range(repeats):
    for name, fn in live.items():
      times[name].append(time_call(fn))
  return {k: stats(v) for k, v in times.items()}


def block(tree) -> None:
  """jax.block_until_ready for jax trees (no-op for other values)."""
  import jax  # pylint: disable=g-import-not-at-top
  jax.block_until_ready(tree)


# ---------------------------------------------------------------------------- memory

def reset_peak_rss() -> bool:
  """Resets the process's peak RSS (Linux /proc/self/clear_refs '5'); False if unsupported."""
  try:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
      f.write("5")
    return True
  except OSError:
    return False


def peak_rss_mb() -> float | None:
  """Peak resident memory of this process since the last reset (VmHWM), MiB."""
  try:
    with open("/proc/self/status", encoding="ascii") as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return round(int(line.split()[1]) / 1024.0, 1)
  except OSError:
    pass
  return None


# ---------------------------------------------------------------------------- machine + rows

def machine_info() -> dict:
  """CPU model, cores, library versions and the jax device."""
  cpu = platform.processor() or "unknown"
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
    cpu = names[0] if names else cpu
  except OSError:
    pass
  info = {"cpu": cpu, "cores": os.cpu_count(),
          "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
          else os.cpu_count(), "python": platform.python_version(),
          "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}
  for name in ("jax", "jaxlib", "flax", "optax", "numpy", "torch", "transformers", "librosa"):
    module = optional_module(name)
    info[name] = getattr(module, "__version__", None) if module else None
  import jax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  info["device"] = f"{device.platform}:{getattr(device, 'device_kind', '?')} x{jax.device_count()}"
  if info["torch"]:
    info["torch_threads"] = TORCH_THREADS
  return info


def row(label: str, unit: str, ours: float | None, peer: float | None = None, *,
        ratio: float | None = None, goal: str = "", met: bool | None = None,
        peer_note: str = "", limit: str = "") -> dict:
  """One table line. `ratio` > 1 means ours is better (peer time / our time, or our
  throughput / peer throughput); `met` None means no goal or not measurable. `peer_note`
  fills the peer column when `peer` is None (default PEER_MISSING); `limit` says what keeps
  a missed goal from being met."""
  if peer is None and not peer_note:
    peer_note = PEER_MISSING
  return {"label": label, "unit": unit, "ours": _maybe_round(ours), "peer": _maybe_round(peer),
          "ratio": _maybe_round(ratio), "goal": goal, "met": None if met is None else bool(met),
          "peer_note": peer_note,
          "limit": limit}


def _maybe_round(x):
  return None if x is None else _round(x)


def speedup(peer_seconds: float | None, our_seconds: float | None) -> float | None:
  """peer time / our time (None when either is missing)."""
  if not peer_seconds or not our_seconds:
    return None
  return peer_seconds / our_seconds


def write_json(out_dir: str, name: str, result: dict) -> str:
  """Writes ``out_dir/name.json`` atomically (via .tmp) and returns its path."""
  os.makedirs(out_dir, exist_ok=True)
  path = os.path.join(out_dir, f"{name}.json")
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    json.dump(result, f, indent=1, default=_plain)
    f.write("\n")
  os.replace(path + ".tmp", path)
  return path


def _plain(value):
  """numpy scalars/arrays -> python values for json.dump."""
  return value.tolist() if hasattr(value, "tolist") else str(value)


def read_results(out_dir: str) -> dict[str, dict]:
  """name -> result of every ``*.json`` in `out_dir` (unreadable files skipped)."""
  results = {}
  if not os.path.isdir(out_dir):
    return results
  for filename in sorted(os.listdir(out_dir)):
    if filename.endswith(".json"):
      try:
        with open(os.path.join(out_dir, filename), encoding="utf-8") as f:
          results[filename[:-5]] = json.load(f)
      except (OSError, ValueError):
        continue
  return results
