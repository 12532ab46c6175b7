"""`st-jax export`: a trained workdir -> a self-contained directory of `jax.export` functions.

Shape legend: B batch (symbolic), N samples of a length bucket, T = 1 + N // H frames
(H hop samples), F mel bins, K beam size, L maximum output tokens of the bucket.

Each serialized function is the whole speech-to-text inference, one per length bucket::

  samples [B, N] f32 (16 kHz, right-padded), sample_counts [B] i32
    -> x_b    = reflect-extend row b beyond its count (what np.pad does to the unpadded row)
    -> log-mel [B, T, F]        jnp path of st_jax.data.audio.log_mel, in float64 (float32
                                on TPU, which has no float64 FFT), cast to float32
    -> (f - mean) / std         global CMVN, the train-split statistics baked in as constants
    -> f = 0, padding = 1 on frames t >= 1 + count_b // H
    -> encoder + beam search    decode.Decoder (greedy when K = 1), L fixed per bucket
    -> tokens [B, L] i32 (best hypothesis, EOS then PAD), scores [B] f32 (its normalised
       log-probability)

Every row therefore equals `inference.features_of` on its unpadded audio (to float32
rounding; on TPU within the float32 FFT's 1e-4) and decodes like `inference.Transcriber` does
with the same L.

Why a symbolic batch but declared length buckets: the batch dimension is free
(`jax.export.symbolic_shape("batch")`), so the server picks its batch sizes at start-up
without re-exporting. Audio length is bucketed instead of symbolic because (1) beam search needs
a static output length L (cache shape, loop bound) and L follows the input length, (2) every
shape the server will run must be compiled before it reports ready, which needs a finite
list, and (3) padding waste stays bounded by the ratio of neighbouring buckets.
L = clip(ceil(0.5 T), 8, 256) rounded up to 8 (`inference.make_decoder`), the in-process
bound for an utterance of the bucket's full length.

Weights are an argument (`params.npz`), not baked-in constants: one copy serves all buckets
(constants would repeat in every function), the serialized functions stay small, and the
weights are checksummed and inspectable on their own. The CMVN statistics (2 F numbers) are
part of the front end and are baked in.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
from typing import Sequence

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np

import st_jax
from st_jax import config_lib, inference
from st_jax.data import audio as audio_lib
from st_jax.errors import ConfigError
from serving import artifact

DEFAULT_BUCKETS = artifact.DEFAULT_BUCKETS
TASKS = {"translate": "st", "transcribe": "asr"}   # export task -> workdir data.task
PLATFORMS = ("cpu", "cuda", "rocm", "tpu")
MIN_SAMPLES = 2   # the log-mel reflect padding needs two samples


@dataclasses.dataclass(frozen=True)
class Bucket:
  """One exported shape: audio up to ``max_samples``, ``frames`` T, output length L."""
  seconds: float
  max_samples: int
  frames: int
  max_output_tokens: int


def _log_mel(samples, data):
  """[B, N'] -> [B, 1 + N' // H, F] float32 log-mel, computed in float64 where the platform
  has float64 FFTs (then equal to the numpy front end to float32 rounding) and in float32 on
  TPU (within 1e-4 on bins within 60 dB of their frame's peak, tests/test_audio.py)."""
  def log_mel(x):
    return audio_lib.log_mel(x, data.sample_rate, n_mels=data.n_mels, win_ms=data.win_ms,
                             hop_ms=data.hop_ms, xp=jnp)

  def exact(x):
    with jax.enable_x64(True):
      return log_mel(x.astype(jnp.float64))
  return jax.lax.platform_dependent(samples, tpu=log_mel, default=exact)


def front_end(samples, counts, data, stats):
  """samples [B, N] f32, counts [B] i32 -> (features [B, T, F] f32, paddings [B, T] f32).

  Row b equals `inference.features_of(samples[b, :counts[b]])` on its first 1 + counts[b] // H
  frames; later frames are 0 with padding 1. Reflect padding of the row's own end is built
  by indexing: with P = 2 (n - 1), position j reads x[r(j)], r(j) = j mod P if that is < n
  else P - (j mod P), which is np.pad(mode="reflect") repeated as often as needed; the
  array is extended to N + n_fft / 2 so no valid frame reaches `log_mel`'s own padding.
  """
  _, hop, n_fft = audio_lib.stft_sizes(data.sample_rate, data.win_ms, data.hop_ms)
  length = samples.shape[1]
  frames = 1 + length // hop
  counts = jnp.clip(counts, MIN_SAMPLES, length)[:, None]
  period = 2 * (counts - 1)
  position = jnp.arange(length + n_fft // 2)[None, :] % period
  extended = jnp.take_along_axis(
      samples, jnp.where(position < counts, position, period - position), axis=1)
  feats = _log_mel(extended, data)[:, :frames]
  if data.normalization == "global":
    feats = stats.apply(feats)
  padded = jnp.arange(frames)[None, :] >= 1 + counts // hop
  return jnp.where(padded[..., None], 0.0, feats), padded.astype(jnp.float32)


def make_buckets(seconds: Sequence[float], data, decoder) -> list[Bucket]:
  """Sorted distinct bucket lengths in seconds -> Buckets with their T and L."""
  values = sorted({float(s) for s in seconds})
  if not values or values[0] <= 0:
    raise ConfigError(f"export length buckets must be positive seconds, got {list(seconds)}")
  hop = audio_lib.stft_sizes(data.sample_rate, data.win_ms, data.hop_ms)[1]
  buckets = []
  for s in values:
    samples = int(round(s * data.sample_rate))
    if samples < hop:
      raise ConfigError(f"export length bucket {s:g} s is shorter than one hop ({hop} samples)")
    if buckets and samples == buckets[-1].max_samples:
      continue
    frames = 1 + samples // hop
    length = decoder.output_length({"feature_paddings": np.zeros((1, frames), np.float32)})
    buckets.append(Bucket(s, samples, frames, length))
  return buckets


def inference_function(trained: inference.Trained, decoder, bucket: Bucket):
  """infer(weights [leaves of params], samples [B, N], counts [B]) -> (tokens [B, L], scores
  [B]) for ``bucket`` (module docstring)."""
  treedef = jax.tree.structure(trained.params)
  data = trained.config.data

  def infer(weights, samples, counts):
    params = jax.tree.unflatten(treedef, weights)
    features, paddings = front_end(samples, counts, data, trained.stats)
    tokens, scores = decoder(params, {"features": features, "feature_paddings": paddings},
                             max_length=bucket.max_output_tokens)
    return tokens[:, 0], scores[:, 0]
  return infer


def _weight_names(params) -> list[str]:
  """"encoder/layers_0/kernel"-style names of the leaves, in flattening order."""
  def name(path):
    return "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))))
                    for k in path)
  return [name(path) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]


def write_weights(staging: str, tree) -> tuple[list, dict]:
  """Writes the leaves of ``tree`` to ``params.npz`` -> (leaves, the manifest's "weights")."""
  leaves, names = jax.tree.leaves(tree), _weight_names(tree)
  np.savez(os.path.join(staging, artifact.WEIGHTS),
           **{n: np.asarray(leaf) for n, leaf in zip(names, leaves)})
  return leaves, {"file": artifact.WEIGHTS, "names": names,
                  "shapes": [list(np.shape(x)) for x in leaves],
                  "dtypes": [str(np.asarray(x).dtype) for x in leaves],
                  "parameters": int(sum(np.size(x) for x in leaves))}


def serialize(fn, staging: str, file: str, platforms: Sequence[str], *specs):
  """jax.export of ``jax.jit(fn)`` at argument ``specs`` written to ``staging/file``."""
  exported = jax.export.export(jax.jit(fn), platforms=platforms)(*specs)
  with open(os.path.join(staging, file), "wb") as f:
    f.write(exported.serialize())
  return exported


def manifest_header(task: str, platforms: Sequence[str], exported, workdir: str,
                    trained_step: int, config) -> dict:
  """The manifest fields every task shares (format, platforms, versions, source, created)."""
  return {
      "format": artifact.FORMAT, "format_version": artifact.FORMAT_VERSION, "task": task,
      "platforms": list(platforms),
      "versions": {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
                   "st_jax": st_jax.__version__,
                   "calling_convention": int(exported.calling_convention_version)},
      "source": {"workdir": os.path.abspath(workdir), "step": int(trained_step),
                 "config_hash": config_lib.model_hash(config)},
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
  }


def check_platforms(platforms: Sequence[str]) -> list[str]:
  unknown = [p for p in platforms if p not in PLATFORMS]
  if unknown:
    raise ConfigError(f"export platforms {unknown} are not among {list(PLATFORMS)}")
  return ["cpu"] + sorted({p for p in platforms if p != "cpu"}, key=PLATFORMS.index)


def prepare_out(out_dir: str) -> str:
  """A fresh staging directory beside ``out_dir``; refuses to replace a non-export directory."""
  if os.path.exists(out_dir) and os.listdir(out_dir) and not os.path.exists(
      os.path.join(out_dir, artifact.MANIFEST)):
    raise ConfigError(f"{out_dir} exists and is not an export directory; choose another --out")
  staging = f"{out_dir.rstrip(os.sep)}.partial"
  shutil.rmtree(staging, ignore_errors=True)
  os.makedirs(staging)
  return staging


def replace_out(staging: str, out_dir: str) -> None:
  old = f"{out_dir.rstrip(os.sep)}.old"
  shutil.rmtree(old, ignore_errors=True)
  if os.path.exists(out_dir):
    os.replace(out_dir, old)
  os.replace(staging, out_dir)
  shutil.rmtree(old, ignore_errors=True)


def _io_spec(trained: inference.Trained) -> tuple[list, list]:
  rate = trained.config.data.sample_rate
  inputs = [
      {"name": "weights", "shape": "weights.names", "dtype": "weights.dtypes",
       "doc": "params.npz arrays in weights.names order"},
      {"name": "samples", "shape": ["batch", "max_samples"], "dtype": "float32",
       "doc": f"mono audio at {rate} Hz in [-1, 1], right-padded with anything"},
      {"name": "sample_counts", "shape": ["batch"], "dtype": "int32",
       "doc": f"valid samples per row, {MIN_SAMPLES} <= count <= max_samples"}]
  outputs = [
      {"name": "tokens", "shape": ["batch", "max_output_tokens"], "dtype": "int32",
       "doc": "best hypothesis: ids, then EOS, then PAD (or truncated at max_output_tokens)"},
      {"name": "scores", "shape": ["batch"], "dtype": "float32",
       "doc": "log p(tokens) / ((5 + |tokens|) / 6) ** length_penalty"}]
  return inputs, outputs


def load_for_export(workdir: str, task: str, step: int | None = None) -> inference.Trained:
  """The trained ``workdir`` for ``task`` (translate: st, transcribe: asr); ConfigError for
  another task or a normalisation the exported front end lacks."""
  trained = inference.load_trained(workdir, step)
  if trained.task != TASKS[task]:
    other = {v: k for k, v in TASKS.items()}.get(trained.task)
    hint = f"use --task {other}" if other else "export an st or asr workdir"
    raise ConfigError(f"{workdir} holds a {trained.task!r} model, which does not {task}; "
                      f"{hint}")
  if trained.config.data.normalization not in ("global", "none"):
    raise ConfigError(f"{workdir}: data.normalization={trained.config.data.normalization!r} "
                      f"cannot be exported (the exported front end supports 'global' and "
                      f"'none')")
  return trained


def speech_input_fields(trained: inference.Trained, task: str, staging: str, beam_size: int,
                        length_penalty: float, ctc_weight: float) -> dict:
  """Manifest fields of a speech-input export (languages, front end, decoding, tokenizer),
  with the target tokenizer copied into ``staging``."""
  data = trained.config.data
  tokenizer_file = "target.model"
  shutil.copyfile(trained.target_tokenizer.model_path, os.path.join(staging, tokenizer_file))
  return {
      "source_language": data.src_lang,
      "target_language": data.src_lang if task == "transcribe" else data.tgt_lang,
      "sample_rate": int(data.sample_rate), "min_samples": MIN_SAMPLES,
      "decoding": {"beam_size": int(beam_size), "length_penalty": float(length_penalty),
                   "ctc_weight": float(ctc_weight)},
      "special_ids": {"pad": 0, "bos": 1, "eos": 2},
      "front_end": {"type": "log_mel", "n_mels": int(data.n_mels), "win_ms": float(data.win_ms),
                    "hop_ms": float(data.hop_ms), "normalization": data.normalization,
                    "fft_dtype": {"tpu": "float32", "other": "float64"}},
      "tokenizer": tokenizer_file,
  }


def bucket_fields(bucket: Bucket) -> dict:
  return {"bucket_seconds": bucket.seconds, "max_samples": bucket.max_samples,
          "frames": bucket.frames, "max_output_tokens": bucket.max_output_tokens}


def export_model(workdir: str, task: str, out_dir: str, beam_size: int = 4,
                 length_buckets: Sequence[float] = DEFAULT_BUCKETS,
                 platforms: Sequence[str] = ("cpu",), length_penalty: float = 1.0,
                 ctc_weight: float = 0.0, step: int | None = None) -> dict:
  """Exports ``workdir`` for ``task`` (translate: an st workdir, transcribe: an asr one) into
  ``out_dir`` (replaced if it is an older export) -> the manifest written (`artifact.py`)."""
  if task not in TASKS:
    raise ConfigError(f"export --task {task!r}: expected one of {sorted(TASKS)} here "
                      f"(synthesize and s2st: serving/tts_export.py export_speech)")
  platforms = check_platforms(platforms)
  trained = load_for_export(workdir, task, step)
  decoder = inference.make_decoder(trained, beam_size, length_penalty, ctc_weight)
  buckets = make_buckets(length_buckets, trained.config.data, decoder)
  staging = prepare_out(out_dir)
  leaves, weights = write_weights(staging, trained.params)
  fields = speech_input_fields(trained, task, staging, beam_size, length_penalty, ctc_weight)

  batch, = jax.export.symbolic_shape("batch")
  weight_specs = [jax.ShapeDtypeStruct(np.shape(x), x.dtype) for x in leaves]
  functions = []
  for bucket in buckets:
    file = f"{task}_{bucket.seconds:g}s.jax"
    exported = serialize(inference_function(trained, decoder, bucket), staging, file, platforms,
                         weight_specs, jax.ShapeDtypeStruct((batch, bucket.max_samples),
                                                            jnp.float32),
                         jax.ShapeDtypeStruct((batch,), jnp.int32))
    functions.append({"file": file, **bucket_fields(bucket)})
  inputs, outputs = _io_spec(trained)
  manifest = manifest_header(task, platforms, exported, workdir, trained.step, trained.config)
  manifest.update(fields, weights=weights, inputs=inputs, outputs=outputs, functions=functions)
  artifact.write_manifest(staging, manifest)
  replace_out(staging, out_dir)
  return artifact.read_manifest(out_dir)


def describe(out_dir: str, manifest: dict) -> str:
  """What `st-jax export` prints: every file with its size, then buckets and platforms."""
  lines = [f"wrote {out_dir} ({manifest['task']} {manifest['source_language']}->"
           f"{manifest['target_language']}, step {manifest['source']['step']}, beam "
           f"{manifest['decoding']['beam_size']}, {manifest['weights']['parameters']:,} "
           f"parameters):"]
  for name in [artifact.MANIFEST] + sorted(manifest["files"]):
    size = os.path.getsize(os.path.join(out_dir, name))
    lines.append(f"  {name:<28} {size / 1024:10.1f} KiB")
  lines.append("  buckets: " + ", ".join(
      f"{f['bucket_seconds']:g} s ({f['max_samples']} samples -> <= {f['max_output_tokens']} "
      f"tokens)" for f in manifest["functions"]))
  lines.append(f"  platforms: {', '.join(manifest['platforms'])}; batch: any (symbolic)")
  return "\n".join(lines)
