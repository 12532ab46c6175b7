"""Vocoders: log-mel frames (as ``st_jax/data/audio.py`` ``log_mel`` computes them) -> audio.

    vocoder = load_vocoder("griffin_lim")            # or the workdir of a trained HiFi-GAN
    audio = vocoder(log_mel, frame_paddings)         # [B, T, F], [B, T] -> [B, T * H] float32

Shapes: B batch, T frames, F mel bins (80), H hop samples (160 at 16 kHz / 10 ms).

Two kinds:
  griffin_lim   phase reconstruction (st_jax/models/griffin_lim.py); no training, works at
                once, sounds phasey/metallic.
  a workdir     a HiFi-GAN generator trained with ``st-jax train --config vocoder:small``
                (st_jax/models/hifigan.py); natural-sounding once trained.

Padded frames (paddings 1.0) give zero samples. Each call pads T up to a multiple of
``FRAME_BUCKET`` frames so that a handful of compiled shapes serve every utterance length.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from st_jax.data import audio as audio_lib
from st_jax.errors import ConfigError
from st_jax.models.griffin_lim import GriffinLim

GRIFFIN_LIM = "griffin_lim"
FRAME_BUCKET = 32   # calls are padded to a multiple of this many frames (fewer compilations)
_FRONT_END = ("sample_rate", "n_mels", "win_ms", "hop_ms")


@dataclasses.dataclass
class Vocoder:
  """``vocoder(log_mel [B, T, F], frame_paddings [B, T] | None) -> audio [B, T * H]`` numpy.

  ``fn`` is the traceable function behind it (jax arrays in and out, for jit / export);
  ``apply(params, log_mel, paddings)`` is the same function with its weights ``params`` (a
  pytree, {} for Griffin-Lim) as an argument, so an export can pass them instead of baking
  them into every function.
  """
  name: str
  sample_rate: int
  hop_length: int
  n_mels: int
  fn: Callable[[jax.Array, jax.Array], jax.Array]
  params: Any = dataclasses.field(default_factory=dict)
  apply: Callable[[Any, jax.Array, jax.Array], jax.Array] | None = None

  def __post_init__(self):
    self._jitted = jax.jit(self.fn)

  def __call__(self, log_mel, frame_paddings=None) -> np.ndarray:
    log_mel = np.asarray(log_mel, np.float32)
    if log_mel.ndim != 3 or log_mel.shape[-1] != self.n_mels:
      raise ConfigError(f"vocoder {self.name}: expected log-mel [batch, frames, {self.n_mels}], "
                        f"got shape {log_mel.shape}; the acoustic model and the vocoder must "
                        f"use the same data.n_mels")
    batch, frames, _ = log_mel.shape
    paddings = np.zeros((batch, frames), np.float32) if frame_paddings is None else \
        np.asarray(frame_paddings, np.float32)
    if paddings.shape != (batch, frames):
      raise ValueError(f"vocoder {self.name}: frame_paddings {paddings.shape} do not match "
                       f"log_mel {log_mel.shape}")
    extra = -frames % FRAME_BUCKET
    log_mel = np.pad(log_mel, ((0, 0), (0, extra), (0, 0)),
                     constant_values=np.log(audio_lib.LOG_FLOOR))
    paddings = np.pad(paddings, ((0, 0), (0, extra)), constant_values=1.0)
    audio = self._jitted(jnp.asarray(log_mel), jnp.asarray(paddings))
    return np.asarray(audio, np.float32)[:, :frames * self.hop_length]


def load_vocoder(spec: str, *, data=None, step: int | None = None, **options) -> Vocoder:
  """The vocoder named by ``spec``: "griffin_lim" or the path of a vocoder workdir.

  ``data``: the acoustic model's ``config.data`` (or any mapping with sample_rate, n_mels,
  win_ms, hop_ms); Griffin-Lim takes its front end from it, a workdir vocoder must match it.
  ``step``: checkpoint of a workdir (default: latest). ``options`` are Griffin-Lim fields
  (n_iter, momentum, nnls_steps, seed). Raises ConfigError for an unknown spec, a workdir that
  holds no vocoder, or mismatched front ends.
  """
  spec = str(spec)
  if spec == GRIFFIN_LIM:
    front_end = {k: data[k] for k in _FRONT_END} if data is not None else {}
    unknown = set(options) - {f.name for f in dataclasses.fields(GriffinLim)}
    if unknown:
      raise ConfigError(f"vocoder griffin_lim: unknown options {sorted(unknown)}; valid: "
                        f"n_iter, momentum, nnls_steps, seed")
    gl = GriffinLim(**front_end, **options)
    return Vocoder(f"griffin_lim(n_iter={gl.n_iter})", gl.sample_rate, gl.hop_length, gl.n_mels,
                   gl, {}, lambda _, log_mel, paddings: gl(log_mel, paddings))
  if not os.path.isdir(spec):
    raise ConfigError(f"vocoder {spec!r}: expected {GRIFFIN_LIM!r} or the directory of a "
                      f"vocoder trained with `st-jax train --config vocoder:small --workdir "
                      f"W`; {spec!r} is neither")
  if options:
    raise ConfigError(f"vocoder {spec}: options {sorted(options)} apply to griffin_lim only")
  return _load_trained(spec, data, step)


def _load_trained(workdir: str, data, step: int | None) -> Vocoder:
  from st_jax import checkpointing, config_lib  # pylint: disable=g-import-not-at-top
  from st_jax.models import build_model  # pylint: disable=g-import-not-at-top
  if not os.path.exists(os.path.join(workdir, "config.json")):
    raise ConfigError(f"vocoder {workdir}: no config.json there, so it is not a workdir of "
                      f"`st-jax train`; train a vocoder with `st-jax train --config "
                      f"vocoder:small --workdir {workdir}` or pass {GRIFFIN_LIM!r}")
  config = config_lib.load_workdir_config(workdir)
  if config.data.get("task") != "vocoder":
    raise ConfigError(f"vocoder {workdir}: this workdir holds a {config.get('name', '?')!r} "
                      f"model (data.task={config.data.get('task')!r}), not a vocoder; pass a "
                      f"workdir trained with --config vocoder:VARIANT or {GRIFFIN_LIM!r}")
  if data is not None:
    mismatch = ", ".join(f"data.{k}: model {data[k]} vs vocoder {config.data[k]}"
                         for k in _FRONT_END if data[k] != config.data[k])
    if mismatch:
      raise ConfigError(f"vocoder {workdir}: its front end differs from the acoustic model's "
                        f"({mismatch}); train the vocoder with the same data settings or use "
                        f"{GRIFFIN_LIM!r}")
  model = build_model(config)
  step, params = checkpointing.load_params(workdir, step)
  params = jax.tree_util.tree_map(jnp.asarray, params)
  _, hop, _ = audio_lib.stft_sizes(config.data.sample_rate, config.data.win_ms,
                                   config.data.hop_ms)
  return Vocoder(f"{config.get('name', 'vocoder')}:{workdir}@{step}", config.data.sample_rate,
                 hop, config.data.n_mels,
                 lambda log_mel, paddings: model.generate(params, log_mel, paddings), params,
                 model.generate)
