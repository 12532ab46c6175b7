"""The export directory format: `manifest.json`, checksums, version and platform checks.

Written by `serving/export.py`, read by `serving/runtime.py`; imports neither jax models nor
st_jax, so a deployment reads it with the standard library alone.

Layout of an export directory (format version 1)::

  manifest.json           what follows, plus the sha256 of every other file
  params.npz              the model weights, one array per parameter (numpy, no pickle)
  target.model            SentencePiece model that turns output ids into text
  <task>_<S>s.jax         one serialized `jax.export.Exported` per length bucket of S seconds

Manifest fields (every key is written by `export.py`; the runtime relies on these)::

  format, format_version   "st-jax-export", 1 (a runtime refuses other versions)
  task                     translate | transcribe | synthesize | s2st
  source_language, target_language, sample_rate (Hz of the input samples)
  decoding                 beam_size, length_penalty
  special_ids              pad, bos, eos (ids the tokenizer decode skips / stops at)
  front_end                the log-mel and normalisation settings baked into the functions
  weights                  file, names (argument order), shapes, dtypes
  tokenizer                file name of the SentencePiece model
  inputs, outputs          [{name, shape, dtype, doc}], shapes name the symbolic dims
  functions                [{file, bucket_seconds, max_samples, frames, max_output_tokens}]
  platforms                e.g. ["cpu", "cuda"]: where the functions run
  versions                 jax, jaxlib, st_jax, calling_convention
  source                   workdir, step the weights come from
  files                    {file name: sha256 hex} of every file except manifest.json
  manifest_sha256          sha256 of the canonical JSON of all the other manifest fields

synthesize and s2st exports (`serving/tts_export.py`) add ``tts`` (symbol table, speakers,
languages, emotions, controls, vocoder, hop), ``symbol_buckets`` and ``frame_buckets``; their
``functions`` carry a ``stage`` (acoustic | render | s2st). s2st keeps the speech fields
(min_samples, special_ids, tokenizer) of translate. The checks here are the same for all.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

from serving.errors import ArtifactError

FORMAT = "st-jax-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "params.npz"
DIGEST_KEY = "manifest_sha256"
REQUIRED = ("task", "sample_rate", "weights", "functions", "platforms", "versions", "files")
SPEECH_INPUT = ("min_samples", "special_ids", "tokenizer")
SPEECH_OUTPUT = ("tts", "symbol_buckets", "frame_buckets")
TASK_REQUIRED = {"translate": SPEECH_INPUT, "transcribe": SPEECH_INPUT,
                 "synthesize": SPEECH_OUTPUT, "s2st": SPEECH_INPUT + SPEECH_OUTPUT}
DEFAULT_BUCKETS = (2.0, 4.0, 8.0, 16.0, 30.0)   # seconds of audio, one function each
DEFAULT_SYMBOL_BUCKETS = (32, 64, 128, 256, 512)   # synthesize: text symbols, one function each
DEFAULT_FRAME_BUCKETS = (200, 400, 800, 1600, 3000)   # speech out: frames (10 ms), likewise
DEFAULT_S2ST_SYMBOLS = 512                       # s2st: characters a translation may have


def sha256_file(path: str) -> str:
  """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def manifest_digest(manifest: dict) -> str:
  """sha256 of the canonical JSON (sorted keys, no spaces) of ``manifest`` without its digest."""
  body = {k: v for k, v in manifest.items() if k != DIGEST_KEY}
  text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
  return hashlib.sha256(text.encode("ascii")).hexdigest()


def write_manifest(directory: str, manifest: dict) -> str:
  """Adds ``files`` (sha256 of every other file in ``directory``) and the digest, writes
  ``manifest.json`` atomically; returns its path."""
  names = sorted(n for n in os.listdir(directory) if n != MANIFEST and not n.endswith(".part"))
  manifest = dict(manifest, files={n: sha256_file(os.path.join(directory, n)) for n in names})
  manifest[DIGEST_KEY] = manifest_digest(manifest)
  path = os.path.join(directory, MANIFEST)
  with open(path + ".part", "w", encoding="utf-8") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
    f.write("\n")
  os.replace(path + ".part", path)
  return path


def version_tuple(version: str) -> tuple[int, ...]:
  """"0.10.2" -> (0, 10, 2); suffixes such as ".dev20250101" or "rc1" are ignored."""
  parts = []
  for part in str(version).split("."):
    match = re.match(r"\d+", part)
    if not match:
      break
    parts.append(int(match.group()))
  return tuple(parts)


def read_manifest(directory: str) -> dict[str, Any]:
  """Reads and verifies ``directory/manifest.json``: format and version, the manifest digest
  (an edited manifest), every listed file present with its sha256 (a truncated or replaced
  file). Raises ``ArtifactError`` naming the problem; returns the manifest."""
  directory = os.fspath(directory)
  path = os.path.join(directory, MANIFEST)
  if not os.path.isdir(directory):
    raise ArtifactError(f"{directory}: no such export directory; create one with "
                        f"`st-jax export --workdir W --task translate --out {directory}`")
  if not os.path.exists(path):
    raise ArtifactError(f"{directory}: not an export directory (no {MANIFEST}); create one "
                        f"with `st-jax export`")
  try:
    with open(path, encoding="utf-8") as f:
      manifest = json.load(f)
  except (OSError, ValueError) as e:
    raise ArtifactError(f"{path}: unreadable manifest ({e}); re-export the model") from None
  if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
    raise ArtifactError(f"{path}: not an {FORMAT} manifest (format="
                        f"{manifest.get('format') if isinstance(manifest, dict) else None!r})")
  if manifest.get("format_version") != FORMAT_VERSION:
    raise ArtifactError(f"{path}: format_version {manifest.get('format_version')!r} is not "
                        f"supported by this runtime (it reads version {FORMAT_VERSION}); "
                        f"re-export the model with this st-jax version")
  if manifest.get(DIGEST_KEY) != manifest_digest(manifest):
    raise ArtifactError(f"{path}: the manifest was edited after export (its "
                        f"{DIGEST_KEY} does not match its contents); re-export the model "
                        f"instead of editing it")
  if manifest.get("task") not in TASK_REQUIRED:
    raise ArtifactError(f"{path}: task {manifest.get('task')!r} is not one this runtime runs "
                        f"({', '.join(TASK_REQUIRED)}); re-export with this st-jax version")
  missing = [key for key in REQUIRED + TASK_REQUIRED[manifest["task"]] if key not in manifest]
  if missing:
    raise ArtifactError(f"{path}: the manifest lacks {missing}; re-export the model")
  files = manifest.get("files") or {}
  for name, expected in sorted(files.items()):
    file_path = os.path.join(directory, name)
    if not os.path.isfile(file_path):
      raise ArtifactError(f"{file_path}: listed in {MANIFEST} but missing; copy the whole "
                          f"export directory")
    actual = sha256_file(file_path)
    if actual != expected:
      raise ArtifactError(f"{file_path}: sha256 {actual[:12]}... does not match the manifest "
                          f"({expected[:12]}...): the file is truncated or was modified; copy "
                          f"it again or re-export")
  referenced = [manifest["weights"]["file"]] + [f["file"] for f in manifest["functions"]] + (
      [manifest["tokenizer"]] if "tokenizer" in manifest else [])
  unlisted = [name for name in referenced if name not in files]
  if unlisted:
    raise ArtifactError(f"{path}: files {unlisted} are used but have no checksum; re-export")
  return manifest


def check_runtime(manifest: dict, jax_version: str, platform: str, calling_conventions:
                  tuple[int, int], where: str) -> None:
  """Refuses an artifact this runtime cannot run: exported by a newer jax than ``jax_version``
  (serialized functions are only backward compatible), a calling convention outside
  ``calling_conventions`` (min, max), or not lowered for ``platform`` (cpu | cuda | rocm |
  tpu)."""
  versions = manifest["versions"]
  if version_tuple(jax_version) < version_tuple(versions["jax"]):
    raise ArtifactError(f"{where}: exported with jax {versions['jax']} but this runtime has "
                        f"jax {jax_version}; install jax>={versions['jax']} (serialized "
                        f"functions load in the same or newer jax) or re-export")
  low, high = calling_conventions
  if not low <= int(versions["calling_convention"]) <= high:
    raise ArtifactError(f"{where}: calling convention {versions['calling_convention']} is "
                        f"outside what jax {jax_version} runs ({low}..{high}); re-export with "
                        f"the jax version you serve with")
  if platform not in manifest["platforms"]:
    raise ArtifactError(f"{where}: exported for {manifest['platforms']} but this machine runs "
                        f"{platform!r}; re-export with `--platforms "
                        f"{','.join(manifest['platforms'] + [platform])}`")
