"""Manifest TSV: the one table every corpus (built-in or imported) is described by.

A corpus directory holds one manifest per split, ``<split>.tsv``, UTF-8, tab separated, with a
header line. Required columns (``REQUIRED_COLUMNS``)::

  id              unique utterance id (no tabs/newlines)
  audio           path of the audio file, relative to the manifest's directory (or absolute);
                  empty for text-only rows (`st-jax data qa`)
  duration        seconds (float)
  lang            ISO 639-1 code of the spoken language: en, de, fr, ...
  text            transcript in ``lang``
  translation_de  German translation ("" when unknown)
  translation_fr  French translation ("" when unknown)
  speaker         speaker / voice id
  emotion         neutral | happy | sad | angry ("" when unknown)

Optional columns (``OPTIONAL_COLUMNS``): ``translation_en`` (for non-English speech; on an English
row a response to it: the answer of a QA corpus, the target of a response model) and
``alignment`` (JSON list ``[[phoneme, start_s, end_s], ...]``, the duration targets for TTS).
Unknown extra columns are kept as strings.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
from typing import Iterable, Sequence

from st_jax.errors import ManifestError

REQUIRED_COLUMNS = ("id", "audio", "duration", "lang", "text", "translation_de",
                    "translation_fr", "speaker", "emotion")
OPTIONAL_COLUMNS = ("translation_en", "alignment")
EMOTIONS = ("neutral", "happy", "sad", "angry")
LANGS = ("en", "de", "fr")        # languages of the built-in corpus (ids in batches)


@dataclasses.dataclass
class Utterance:
  """One row of a manifest. ``audio`` is resolved to an absolute path when read."""
  id: str
  audio: str
  duration: float
  lang: str
  text: str
  translation_de: str = ""
  translation_fr: str = ""
  speaker: str = ""
  emotion: str = ""
  translation_en: str = ""
  alignment: list = dataclasses.field(default_factory=list)

  def translation(self, lang: str) -> str:
    """Text of this utterance in ``lang``: its ``translation_<lang>`` column, or its transcript
    when ``lang`` is its own language and that column is empty (see `target_text`)."""
    if lang == self.lang and not getattr(self, f"translation_{lang}", ""):
      return self.text
    value = getattr(self, f"translation_{lang}", None)
    if value is None:
      raise ManifestError(f"no translation column for language {lang!r}; "
                          f"known: translation_en, translation_de, translation_fr")
    return value


def _clean(value: str, what: str) -> str:
  if "\t" in value or "\n" in value or "\r" in value:
    raise ManifestError(f"{what} contains a tab or newline: {value!r}")
  return value


def write_manifest(path: str, rows: Iterable[Utterance]) -> int:
  """Writes ``rows`` to ``path`` (audio paths made relative to its directory). Returns count.

  Writes to ``path + '.tmp'`` first and renames, so an existing manifest is never half-written.
  """
  base = os.path.dirname(os.path.abspath(path))
  columns = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
  tmp = path + ".tmp"
  count = 0
  with open(tmp, "w", encoding="utf-8", newline="\n") as f:
    f.write("\t".join(columns) + "\n")
    for row in rows:
      values = dataclasses.asdict(row)
      audio = values["audio"]
      if os.path.isabs(audio):
        audio = os.path.relpath(audio, base)
      values["audio"] = audio
      values["duration"] = f"{float(row.duration):.4f}"
      values["alignment"] = json.dumps(row.alignment, ensure_ascii=False) if row.alignment else ""
      f.write("\t".join(_clean(str(values[c]), f"{path}: field {c!r} of {row.id!r}")
                        for c in columns) + "\n")
      count += 1
  os.replace(tmp, path)
  return count


def read_lines(path: str) -> list[str]:
  """Lines of a UTF-8 text file (BOM allowed, no trailing empty line, ``\\r`` dropped).

  ManifestError names ``file:line`` of the first line that is not valid UTF-8.
  """
  if not os.path.isfile(path):
    raise ManifestError(f"{path} does not exist")
  with open(path, "rb") as f:
    data = f.read()
  if data.startswith(codecs.BOM_UTF8):
    data = data[len(codecs.BOM_UTF8):]
  raw_lines = data.split(b"\n")
  if raw_lines[-1] == b"":
    raw_lines.pop()
  lines = []
  for number, raw in enumerate(raw_lines, start=1):
    try:
      lines.append(raw.decode("utf-8").rstrip("\r"))
    except UnicodeDecodeError as e:
      raise ManifestError(f"{path}:{number}: line is not valid UTF-8 ({e.reason} at byte "
                          f"{e.start}); re-encode the file as UTF-8") from None
  return lines


def read_table(path: str, required: tuple[str, ...],
               lines: list[str] | None = None) -> list[tuple[int, dict[str, str]]]:
  """``(line number, {column: value})`` of a tab-separated file with a header line.

  No quoting (Common Voice sentences contain quotes). ManifestError names the file and the
  missing columns, or ``file:line`` of a row with the wrong number of fields.
  """
  lines = read_lines(path) if lines is None else lines
  if not lines:
    raise ManifestError(f"{path} is empty; expected a header line with columns "
                        f"{', '.join(required)}")
  header = lines[0].split("\t")
  missing = [c for c in required if c not in header]
  if missing:
    raise ManifestError(f"{path}: missing column(s) {', '.join(missing)} in the header line "
                        f"{lines[0]!r}; required: {', '.join(required)}")
  records = []
  for number, line in enumerate(lines[1:], start=2):
    if not line.strip():
      continue
    fields = line.split("\t")
    if len(fields) != len(header):
      raise ManifestError(f"{path}:{number}: expected {len(header)} tab-separated fields, "
                          f"found {len(fields)} (columns: {', '.join(header)})")
    records.append((number, dict(zip(header, fields))))
  return records


def read_manifest(path: str) -> list[Utterance]:
  """Reads and validates a manifest TSV; errors name the file, line and problem."""
  base = os.path.dirname(os.path.abspath(path))
  lines = read_lines(path)
  if not lines or not lines[0].strip():
    raise ManifestError(f"{path}: empty manifest (expected a header line with columns "
                        f"{', '.join(REQUIRED_COLUMNS)})")
  rows, seen = [], set()
  for number, record in read_table(path, REQUIRED_COLUMNS, lines):
    try:
      duration = float(record["duration"])
    except ValueError:
      raise ManifestError(f"{path}:{number}: duration {record['duration']!r} is not a number"
                          ) from None
    if record["id"] in seen:
      raise ManifestError(f"{path}:{number}: duplicate id {record['id']!r}")
    seen.add(record["id"])
    alignment = []
    if record.get("alignment"):
      try:
        alignment = json.loads(record["alignment"])
      except json.JSONDecodeError as e:
        raise ManifestError(f"{path}:{number}: alignment is not valid JSON ({e})") from None
    audio = record["audio"]
    rows.append(Utterance(
        id=record["id"],
        audio=audio if not audio or os.path.isabs(audio) else os.path.join(base, audio),
        duration=duration, lang=record["lang"], text=record["text"],
        translation_de=record["translation_de"], translation_fr=record["translation_fr"],
        speaker=record["speaker"], emotion=record["emotion"],
        translation_en=record.get("translation_en", ""), alignment=alignment))
  return rows


def split_path(corpus_dir: str, split: str) -> str:
  """Path of the manifest of ``split`` inside a corpus directory."""
  return os.path.join(corpus_dir, f"{split}.tsv")


def available_splits(corpus_dir: str) -> Sequence[str]:
  """Names of the splits that have a manifest in ``corpus_dir``."""
  if not os.path.isdir(corpus_dir):
    raise ManifestError(f"corpus directory {corpus_dir} does not exist; create one with "
                        f"`st-jax data synth --out {corpus_dir}` or `st-jax data prepare`")
  return sorted(f[:-4] for f in os.listdir(corpus_dir) if f.endswith(".tsv"))
