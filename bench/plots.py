"""Optional PNG plots (matplotlib is not a dependency: without it they are skipped with a note).

  ratios.png      speed ratio (peer / ours, > 1 = st_jax faster) of every table row that has one
  scaling.png     our train-step time vs input frames (B fixed) and vs batch size (T fixed)
"""

from __future__ import annotations

import os

from bench import common


def write_plots(results: dict, out_dir: str) -> list[str]:
  """Writes the PNGs into `out_dir` -> their paths ([] without matplotlib)."""
  matplotlib = common.optional_module("matplotlib")
  if matplotlib is None:
    common.log("matplotlib not installed: skipping plots (pip install matplotlib for PNGs)")
    return []
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  paths = []
  bars = [(f"{name}: {r['label']}", r["ratio"]) for name, result in results.items()
          for r in result.get("rows", []) if r.get("ratio") is not None]
  if bars:
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(bars) + 1.2))
    ax.barh([b[0] for b in bars], [b[1] for b in bars])
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("ratio (> 1: st_jax better)")
    ax.invert_yaxis()
    fig.tight_layout()
    paths.append(_save(fig, out_dir, "ratios.png", plt))
  curves = results.get("scaling", {}).get("curves", {})
  if curves:
    fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.5))
    axes = axes if len(curves) > 1 else [axes]
    for ax, (name, curve) in zip(axes, curves.items()):
      ax.plot(curve["x"], curve["seconds"], "o-")
      ax.set_xlabel(curve["x_label"])
      ax.set_ylabel("step time (s)")
      ax.set_title(name)
    fig.tight_layout()
    paths.append(_save(fig, out_dir, "scaling.png", plt))
  return paths


def _save(fig, out_dir: str, name: str, plt) -> str:
  path = os.path.join(out_dir, name)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
