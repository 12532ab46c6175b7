"""Loads an export directory and runs it with jax, numpy, sentencepiece and soundfile only.

    model = load_artifact("exports/st")            # verifies checksums, versions, platform
    model.translate([samples_16k, "b.wav"])        # -> ["...", "..."]

Shape legend: B batch rows (one of `batch_sizes`), N samples of a length bucket, L output
tokens of the bucket.

Each input is validated (mono, non-empty, finite, at most the longest bucket), put in the
shortest bucket that holds it, and the rows of a bucket are decoded together in batches padded
to the next compiled batch size (filler rows repeat the last row). Every (bucket, batch size)
is compiled once (`warm_up` compiles all of them ahead of time); `compile_count` counts them.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Iterable, Sequence

import jax
import numpy as np
import sentencepiece as spm

from serving import artifact as artifact_lib
from serving import audio_io
from serving.errors import ArtifactError, InputError


def default_batch_sizes(max_batch: int) -> tuple[int, ...]:
  """Powers of two below ``max_batch``, and ``max_batch``: (1, 2, 4, 8) for 8, (1, 2, 4, 6)
  for 6. A batch of n rows runs at the smallest size >= n."""
  if int(max_batch) < 1:
    raise ValueError(f"max_batch must be >= 1, got {max_batch}")
  sizes = [1 << i for i in range(int(max_batch).bit_length()) if 1 << i < max_batch]
  return tuple(sizes + [int(max_batch)])


class Executables:
  """Compiled (function, input shapes) pairs of one export, compiled on first use (thread-safe);
  ``count`` counts compilations."""

  def __init__(self, weights: list):
    self.weights, self.count = weights, 0
    self._compiled: dict[Any, Any] = {}
    self._lock = threading.Lock()

  def get(self, key, exported, shapes: Sequence):
    """The executable of ``exported`` for argument ``shapes`` (after the weights)."""
    with self._lock:
      if key not in self._compiled:
        self._compiled[key] = jax.jit(exported.call).lower(self.weights, *shapes).compile()
        self.count += 1
      return self._compiled[key]

  def __call__(self, key, exported, *args):
    """Runs ``exported`` on the weights and ``args`` (numpy arrays) -> its numpy outputs."""
    shapes = [jax.ShapeDtypeStruct(np.shape(a), np.asarray(a).dtype) for a in args]
    return jax.tree.map(np.asarray, self.get(key, exported, shapes)(self.weights, *args))


class Artifact:
  """An export loaded for inference (build with `load_artifact`).

  Attributes: manifest (dict), task, sample_rate, max_samples [per bucket, ascending],
  max_seconds, batch_sizes, compile_count.
  """

  def __init__(self, directory: str, manifest: dict, functions: list, weights: list,
               tokenizer: spm.SentencePieceProcessor, batch_sizes: Sequence[int]):
    self.directory, self.manifest = directory, manifest
    self.task = manifest["task"]
    self.sample_rate = int(manifest["sample_rate"])
    self.min_samples = int(manifest["min_samples"])
    self.max_samples = [int(f["max_samples"]) for f in manifest["functions"]
                        if "max_samples" in f]
    self.max_seconds = self.max_samples[-1] / self.sample_rate
    self.batch_sizes = tuple(sorted(set(int(b) for b in batch_sizes)))
    self.executables = weights if isinstance(weights, Executables) else Executables(weights)
    self._functions, self._tokenizer = functions, tokenizer
    self._special = manifest["special_ids"]

  @property
  def compile_count(self) -> int:
    return self.executables.count

  def health(self) -> dict:
    """What GET /healthz reports about the shapes."""
    return {"buckets_seconds": [n / self.sample_rate for n in self.max_samples],
            "batch_sizes": list(self.batch_sizes)}

  # -- shapes and compilation --------------------------------------------------------------

  def bucket_for(self, num_samples: int, what: str = "audio") -> int:
    """Index of the shortest bucket holding ``num_samples``; ``InputError`` if none does."""
    if num_samples < self.min_samples:
      raise InputError(f"{what}: {num_samples} samples is too short (at least "
                       f"{self.min_samples} needed)")
    for index, limit in enumerate(self.max_samples):
      if num_samples <= limit:
        return index
    raise InputError(f"{what}: {num_samples / self.sample_rate:.2f} s of audio is longer than "
                     f"the longest exported bucket ({self.max_seconds:g} s); cut it into "
                     f"shorter pieces or re-export with a longer --buckets entry", 413)

  def batch_size_for(self, rows: int) -> int:
    """The smallest compiled batch size >= ``rows``."""
    for size in self.batch_sizes:
      if size >= rows:
        return size
    raise ValueError(f"{rows} rows exceed the largest batch size {self.batch_sizes[-1]}")

  def compiled(self, bucket: int, batch: int):
    """The executable for (bucket, batch), compiled on first use (thread-safe)."""
    shapes = (jax.ShapeDtypeStruct((batch, self.max_samples[bucket]), np.float32),
              jax.ShapeDtypeStruct((batch,), np.int32))
    return self.executables.get((bucket, batch), self._functions[bucket], shapes)

  def warm_up(self, batch_sizes: Iterable[int] | None = None) -> float:
    """Compiles and runs every (bucket, batch size) once -> seconds taken."""
    start = time.perf_counter()
    for bucket in range(len(self.max_samples)):
      for batch in batch_sizes or self.batch_sizes:
        silence = np.zeros(self.max_samples[bucket], np.float32)
        self._run(bucket, [silence] * batch, batch)
    return time.perf_counter() - start

  # -- decoding ----------------------------------------------------------------------------

  def detokenize(self, ids) -> str:
    """Text of one output row: ids before the first EOS, without PAD/BOS and without ids the
    tokenizer lacks (a barely trained model can emit those)."""
    out, size = [], self._tokenizer.get_piece_size()
    for i in np.asarray(ids).tolist():
      if i == self._special["eos"]:
        break
      if i not in (self._special["pad"], self._special["bos"]) and 0 <= i < size:
        out.append(int(i))
    return self._tokenizer.decode(out)

  def pad_rows(self, bucket: int, rows: Sequence[np.ndarray], batch: int):
    """``rows`` -> (samples [batch, N] f32, counts [batch] i32); filler rows repeat the last."""
    samples = np.zeros((batch, self.max_samples[bucket]), np.float32)
    counts = np.zeros((batch,), np.int32)
    for i in range(batch):
      row = rows[min(i, len(rows) - 1)]
      samples[i, :len(row)] = row
      counts[i] = len(row)
    return samples, counts

  def _run(self, bucket: int, rows: Sequence[np.ndarray], batch: int):
    """Pads ``rows`` into [batch, N] and runs the bucket -> (tokens [B, L], scores [B])."""
    samples, counts = self.pad_rows(bucket, rows, batch)
    tokens, scores = self.compiled(bucket, batch)(self.executables.weights, samples, counts)
    return np.asarray(tokens)[:len(rows)], np.asarray(scores)[:len(rows)]

  def run_batch(self, bucket: int, rows: Sequence[np.ndarray]) -> list[str]:
    """Validated float32 rows that fit ``bucket`` (at most max(batch_sizes)) -> texts."""
    tokens, _ = self._run(bucket, rows, self.batch_size_for(len(rows)))
    return [self.detokenize(row) for row in tokens]

  def prepare(self, source, what: str) -> np.ndarray:
    """A path or float samples at ``sample_rate`` -> validated float32 [T] (``InputError``)."""
    if isinstance(source, (str, os.PathLike)):
      return audio_io.load_audio(source, self.sample_rate)
    return audio_io.check_samples(source, what)

  def check_task(self, task: str) -> None:
    """``InputError`` (404) unless this artifact does ``task``."""
    if task != self.task:
      raise InputError(f"this model does {self.task!r}, not {task!r}; use /v1/{self.task} "
                       f"(or .{self.task}())", 404)

  def _speech_to_text(self, task: str, sources: Sequence[Any]) -> list[str]:
    self.check_task(task)
    rows = [self.prepare(s, s if isinstance(s, str) else f"input {i}")
            for i, s in enumerate(sources)]
    buckets = [self.bucket_for(len(r), f"input {i}") for i, r in enumerate(rows)]
    texts: list[str] = [""] * len(rows)
    largest = self.batch_sizes[-1]
    for bucket in sorted(set(buckets)):
      members = [i for i, b in enumerate(buckets) if b == bucket]
      for start in range(0, len(members), largest):
        chosen = members[start:start + largest]
        for i, text in zip(chosen, self.run_batch(bucket, [rows[i] for i in chosen])):
          texts[i] = text
    return texts

  def translate(self, sources: Sequence[Any]) -> list[str]:
    """Audio (float arrays at `sample_rate`, or file paths) -> translations."""
    return self._speech_to_text("translate", sources)

  def transcribe(self, sources: Sequence[Any]) -> list[str]:
    """Audio (float arrays at `sample_rate`, or file paths) -> transcripts."""
    return self._speech_to_text("transcribe", sources)


def deserialize(directory: str, manifest: dict, spec: dict, weight_shapes: list):
  """One serialized function, checked against the manifest: its platforms, the weights as
  its first arguments and, for audio input, samples [batch, max_samples] right after them."""
  path = os.path.join(directory, spec["file"])
  try:
    with open(path, "rb") as f:
      exported = jax.export.deserialize(bytearray(f.read()))
  except Exception as e:  # pylint: disable=broad-except  (any decoding failure)
    raise ArtifactError(f"{path}: not a loadable serialized function ({e}); re-export") from None
  avals, count = exported.in_avals, len(weight_shapes)
  matches = [tuple(a.shape) for a in avals[:count]] == [tuple(s) for s in weight_shapes]
  first = tuple(avals[count].shape) if len(avals) > count else ()
  if "max_samples" in spec:
    matches = matches and (len(first) == 2 and jax.export.is_symbolic_dim(first[0])
                           and first[1] == spec["max_samples"])
  if tuple(exported.platforms) != tuple(manifest["platforms"]) or not matches:
    expected = f"samples [batch, {spec['max_samples']}], " if "max_samples" in spec else ""
    raise ArtifactError(f"{path}: the function (platforms {list(exported.platforms)}, inputs "
                        f"{[a.str_short() for a in avals[count:]]}) does not match "
                        f"{artifact_lib.MANIFEST} (platforms {manifest['platforms']}, "
                        f"{expected}{count} weights); re-export")
  return exported


def load_weights(directory: str, manifest: dict) -> list:
  """params.npz -> device arrays in manifest order (``ArtifactError`` if unreadable)."""
  path = os.path.join(directory, manifest["weights"]["file"])
  try:
    with np.load(path, allow_pickle=False) as arrays:
      weights = [arrays[name] for name in manifest["weights"]["names"]]
  except (OSError, ValueError, KeyError) as e:
    raise ArtifactError(f"{path}: unreadable weights ({e!r}); re-export") from None
  shapes = [list(w.shape) for w in weights]
  if shapes != manifest["weights"]["shapes"]:
    raise ArtifactError(f"{path}: weight shapes do not match {artifact_lib.MANIFEST}; re-export")
  return [jax.device_put(w) for w in weights]


def load_tokenizer(directory: str, manifest: dict) -> spm.SentencePieceProcessor:
  path = os.path.join(directory, manifest["tokenizer"])
  try:
    return spm.SentencePieceProcessor(model_file=path)
  except (OSError, RuntimeError) as e:
    raise ArtifactError(f"{path}: not a SentencePiece model ({e}); re-export") from None


def load_artifact(directory: str, batch_sizes: Sequence[int] | None = None,
                  max_batch: int = 8):
  """Verifies and loads an export directory (`artifact.read_manifest`, `check_runtime`): an
  `Artifact` (translate, transcribe) or a `tts_runtime` one (synthesize, s2st).

  ``batch_sizes`` (default `default_batch_sizes(max_batch)`) are the batch shapes compiled.
  Raises ``ArtifactError`` for a corrupt, edited or incompatible export.
  """
  directory = os.fspath(directory)
  manifest = artifact_lib.read_manifest(directory)
  artifact_lib.check_runtime(
      manifest, jax.__version__, jax.export.default_export_platform(),
      (jax.export.minimum_supported_calling_convention_version,
       jax.export.maximum_supported_calling_convention_version), directory)
  functions = [deserialize(directory, manifest, spec, manifest["weights"]["shapes"])
               for spec in manifest["functions"]]
  weights = load_weights(directory, manifest)
  batch_sizes = batch_sizes or default_batch_sizes(max_batch)
  if manifest["task"] in ("synthesize", "s2st"):
    from serving import tts_runtime  # pylint: disable=g-import-not-at-top
    return tts_runtime.build(directory, manifest, functions, weights, batch_sizes)
  return Artifact(directory, manifest, functions, weights, load_tokenizer(directory, manifest),
                  batch_sizes)
