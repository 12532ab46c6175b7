"""PNG figures of speech synthesis (matplotlib, Agg backend: no display needed).

  plot_mels(path, reference [T, F], synthesised [T', F], title)   two log-mel panels
  plot_pitch(path, {label: (seconds [N], hz [N])}, title)         F0 contours, one per label

Log-mels are drawn in natural-log units of mel power (st_jax/data/audio.py) on one colour
scale (the reference's 1st..99.9th percentile) so both panels read alike. Each function
creates the parent directory and returns ``path``.
"""

from __future__ import annotations

import os

import numpy as np


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg", force=True)
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _save(fig, plt, path: str) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def plot_mels(path: str, reference: np.ndarray, synthesised: np.ndarray, title: str = "",
              hop_seconds: float = 0.01) -> str:
  """Reference (top) and synthesised (bottom) log-mel [frames, bins] over seconds."""
  plt = _pyplot()
  reference, synthesised = np.asarray(reference), np.asarray(synthesised)
  low, high = np.percentile(reference, [1.0, 99.9])
  seconds = max(len(reference), len(synthesised)) * hop_seconds
  fig, axes = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
  for axis, mel, name in ((axes[0], reference, "reference"), (axes[1], synthesised,
                                                             "synthesised")):
    image = axis.imshow(mel.T, origin="lower", aspect="auto", vmin=low, vmax=high,
                        extent=(0.0, len(mel) * hop_seconds, 0, mel.shape[1]), cmap="magma")
    axis.set_xlim(0.0, seconds)
    axis.set_ylabel("mel bin")
    axis.set_title(f"{name} ({len(mel)} frames)", fontsize=10)
  axes[1].set_xlabel("seconds")
  fig.colorbar(image, ax=list(axes), label="ln mel power")
  fig.suptitle(title[:110], fontsize=10)
  return _save(fig, plt, path)


def plot_pitch(path: str, contours: dict, title: str = "") -> str:
  """F0 step contours (Hz over seconds), one line per label."""
  plt = _pyplot()
  fig, axis = plt.subplots(figsize=(10, 4))
  for label, (seconds, hz) in contours.items():
    length = len(seconds) and seconds[-1]
    axis.step(seconds, hz, where="post", label=f"{label} ({length:.2f} s)")
  axis.set_xlabel("seconds")
  axis.set_ylabel("F0 (Hz)")
  axis.legend()
  axis.grid(alpha=0.3)
  axis.set_title(title[:110], fontsize=10)
  fig.tight_layout()
  return _save(fig, plt, path)
