"""Readers of real corpora in their own layouts: LibriSpeech, LJ Speech, FSDD.

Every reader has the form ``read_<format>(src, scratch_dir, **options)`` and returns
``{split name: [Utterance, ...]}`` with ``audio`` an absolute path and ``duration`` from
``soundfile.info``. Readers check the corpus' own bookkeeping (transcripts, metadata, columns)
and raise ``ManifestError`` naming the file and line at fault. Whether an audio file decodes
is left to ``storage.write_corpus`` (error, or skip-and-count with ``on_bad_audio='skip'``):
a row whose audio soundfile cannot open gets duration 0.0 here.

The speech-translation corpora (MuST-C, CoVoST / Common Voice, plain TSV) are read in
``importers_translation.py``; the shared helpers live here.
"""

from __future__ import annotations

import hashlib
import os

import soundfile as sf

from st_jax.data.manifest import Utterance, read_lines, read_table
from st_jax.errors import ManifestError

TRANSLATION_LANGS = ("en", "de", "fr")  # languages with a translation_<lang> manifest column
DIGIT_WORDS = {
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "de": ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"),
    "fr": ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"),
}
FSDD_TEST_INDICES = range(0, 5)  # FSDD convention: recordings 0-4 of each speaker/digit
FSDD_DEV_INDICES = range(5, 10)  # carved from FSDD's train part so training has a dev split


# ---------------------------------------------------------------------------------------------
# Shared helpers.


def require_path(src: str) -> str:
  """Absolute ``src``; ManifestError when it does not exist."""
  if not os.path.exists(src):
    raise ManifestError(f"corpus source {src} does not exist; point --src at the corpus in "
                        f"its own layout")
  return os.path.abspath(src)


def require_dir(src: str, layout: str) -> str:
  """Absolute ``src`` that must be a directory holding ``layout`` (named in the error)."""
  root = require_path(src)
  if not os.path.isdir(root):
    raise ManifestError(f"corpus source {src} is a file; expected a directory with {layout}")
  return root


def subdirs(path: str) -> list[str]:
  """Sorted names of the directories directly inside ``path``."""
  return sorted(n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n)))


def audio_duration(path: str) -> float:
  """Seconds of audio in ``path``, or 0.0 when soundfile cannot open it (see module doc)."""
  try:
    return float(sf.info(path).duration)
  except (sf.SoundFileError, RuntimeError, OSError):
    return 0.0


def hash_split(key: str, dev_fraction: float = 0.05, test_fraction: float = 0.05) -> str:
  """'train', 'dev' or 'test' for ``key``: stable across runs, machines and Python versions."""
  position = int(hashlib.md5(key.encode("utf-8")).hexdigest()[:8], 16) / 2**32
  if position < test_fraction:
    return "test"
  return "dev" if position < test_fraction + dev_fraction else "train"


def split_by_hash(rows: list[Utterance]) -> dict[str, list[Utterance]]:
  """Rows divided 90/5/5 into train/dev/test by ``hash_split`` of their ids."""
  splits: dict[str, list[Utterance]] = {"train": [], "dev": [], "test": []}
  for row in rows:
    splits[hash_split(row.id)].append(row)
  return splits


def translation_field(lang: str, where: str) -> str:
  """Manifest field holding a translation into ``lang``; ManifestError if there is none."""
  if lang not in TRANSLATION_LANGS:
    raise ManifestError(f"{where}: translations into {lang!r} have no manifest column; "
                        f"supported target languages: {', '.join(TRANSLATION_LANGS)}")
  return f"translation_{lang}"


# ---------------------------------------------------------------------------------------------
# LibriSpeech: SRC/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac + .trans.txt


def librispeech_split_name(subset: str) -> str:
  """train* -> train; dev(-clean) -> dev; test(-clean) -> test; others: dashes -> underscores.

  So train-clean-100 + train-other-500 form one train split, and dev-other / test-other stay
  separate evaluation splits (dev_other, test_other).
  """
  name = subset.lower()
  if name.startswith("train"):
    return "train"
  for kind in ("dev", "test"):
    if name in (kind, f"{kind}-clean"):
      return kind
  return name.replace("-", "_")


def _is_librispeech_subset(path: str) -> bool:
  """True when ``path/<speaker>/<chapter>/`` holds flac files or a transcript."""
  for speaker in subdirs(path):
    for chapter in subdirs(os.path.join(path, speaker)):
      names = os.listdir(os.path.join(path, speaker, chapter))
      if any(n.endswith((".flac", ".trans.txt")) for n in names):
        return True
  return False


def _read_librispeech_chapter(chapter_dir: str, speaker: str, chapter: str
                              ) -> list[Utterance]:
  """Rows of one chapter; every transcript line needs its flac and every flac its line."""
  prefix = f"{speaker}-{chapter}"
  flacs = {n[:-len(".flac")] for n in os.listdir(chapter_dir) if n.endswith(".flac")}
  transcript = os.path.join(chapter_dir, f"{prefix}.trans.txt")
  if not os.path.isfile(transcript):
    raise ManifestError(f"{chapter_dir}: transcript {prefix}.trans.txt is missing "
                        f"({len(flacs)} flac file(s) in the chapter)")
  rows, seen = [], set()
  for number, line in enumerate(read_lines(transcript), start=1):
    if not line.strip():
      continue
    uid, _, text = line.strip().partition(" ")
    where = f"{transcript}:{number}"
    if not text.strip():
      raise ManifestError(f"{where}: expected 'ID TEXT', found {line!r}")
    if not uid.startswith(prefix + "-"):
      raise ManifestError(f"{where}: id {uid!r} does not belong to chapter {prefix}")
    if uid in seen:
      raise ManifestError(f"{where}: duplicate id {uid!r}")
    if uid not in flacs:
      raise ManifestError(f"{where}: no audio file {uid}.flac in {chapter_dir}")
    seen.add(uid)
    audio = os.path.join(chapter_dir, f"{uid}.flac")
    rows.append(Utterance(id=uid, audio=audio, duration=audio_duration(audio), lang="en",
                          text=text.strip(), speaker=speaker))
  unlisted = sorted(flacs - seen)
  if unlisted:
    more = f" (and {len(unlisted) - 1} more)" if len(unlisted) > 1 else ""
    raise ManifestError(f"{os.path.join(chapter_dir, unlisted[0])}.flac has no line in "
                        f"{transcript}{more}")
  return rows


def _read_librispeech_subset(subset_dir: str) -> list[Utterance]:
  rows = []
  for speaker in subdirs(subset_dir):
    for chapter in subdirs(os.path.join(subset_dir, speaker)):
      rows.extend(_read_librispeech_chapter(os.path.join(subset_dir, speaker, chapter),
                                            speaker, chapter))
  return rows


def read_librispeech(src: str, scratch_dir: str) -> dict[str, list[Utterance]]:
  """LibriSpeech from its root (subsets -> splits by ``librispeech_split_name``) or one subset.

  A single subset is divided 90/5/5 into train/dev/test by a hash of the utterance id, so it
  alone can be trained on and evaluated. Transcripts are kept as written (upper case).
  """
  del scratch_dir  # LibriSpeech flac files are used in place
  root = require_dir(src, "LibriSpeech subsets <subset>/<speaker>/<chapter>/*.flac")
  if _is_librispeech_subset(root):
    return split_by_hash(_read_librispeech_subset(root))
  subsets = [name for name in subdirs(root)
             if _is_librispeech_subset(os.path.join(root, name))]
  if not subsets:
    raise ManifestError(f"{root}: no LibriSpeech chapters found; expected "
                        f"<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac and "
                        f"<speaker>-<chapter>.trans.txt (in {root} or in one subset)")
  splits: dict[str, list[Utterance]] = {}
  for name in subsets:
    splits.setdefault(librispeech_split_name(name), []).extend(
        _read_librispeech_subset(os.path.join(root, name)))
  return splits


# ---------------------------------------------------------------------------------------------
# LJ Speech: SRC/metadata.csv (id|raw text|normalized text) + SRC/wavs/<id>.wav


def tail_split(rows: list[Utterance], fraction: float = 0.05) -> dict[str, list[Utterance]]:
  """The last ``fraction`` of ``rows`` is test, the ``fraction`` before it dev (>= 1 each)."""
  if len(rows) < 3:
    return {"train": list(rows)}
  held_out = max(1, round(len(rows) * fraction))
  return {"train": rows[:-2 * held_out], "dev": rows[-2 * held_out:-held_out],
          "test": rows[-held_out:]}


def read_ljspeech(src: str, scratch_dir: str) -> dict[str, list[Utterance]]:
  """LJ Speech: text = normalized text (raw text where that is empty), speaker 'lj'.

  Rows keep metadata.csv's order; the last 5% are test, the 5% before them dev.
  """
  del scratch_dir
  root = require_dir(src, "metadata.csv and wavs/")
  metadata = os.path.join(root, "metadata.csv")
  rows, seen = [], set()
  for number, line in enumerate(read_lines(metadata), start=1):
    if not line.strip():
      continue
    fields = line.split("|")
    where = f"{metadata}:{number}"
    if len(fields) != 3:
      raise ManifestError(f"{where}: expected 'id|raw text|normalized text' (3 fields), "
                          f"found {len(fields)}")
    uid, raw_text, normalized = (f.strip() for f in fields)
    text = normalized or raw_text
    if not uid or not text:
      raise ManifestError(f"{where}: empty id or text in {line!r}")
    if uid in seen:
      raise ManifestError(f"{where}: duplicate id {uid!r}")
    seen.add(uid)
    audio = os.path.join(root, "wavs", f"{uid}.wav")
    rows.append(Utterance(id=uid, audio=audio, duration=audio_duration(audio), lang="en",
                          text=text, speaker="lj"))
  return tail_split(rows)


# ---------------------------------------------------------------------------------------------
# FSDD: SRC/recordings/<digit>_<speaker>_<index>.wav (+ SRC/manifest.tsv with word_de/word_fr)


def fsdd_split_name(index: int) -> str:
  """Recordings 0-4 are test (FSDD convention), 5-9 dev, the rest train."""
  if index in FSDD_TEST_INDICES:
    return "test"
  return "dev" if index in FSDD_DEV_INDICES else "train"


def _fsdd_recordings(root: str) -> list[tuple[str, dict[str, str]]]:
  """(relative wav path, fields) per recording: from manifest.tsv, else from the file names."""
  manifest = os.path.join(root, "manifest.tsv")
  if os.path.isfile(manifest):
    columns = ("path", "digit", "word", "speaker", "index", "word_de", "word_fr")
    return [(record["path"], dict(record, where=f"{manifest}:{number}"))
            for number, record in read_table(manifest, columns)]
  recordings = os.path.join(root, "recordings")
  if not os.path.isdir(recordings):
    raise ManifestError(f"{root}: neither manifest.tsv nor recordings/ found; expected the "
                        f"FSDD layout recordings/<digit>_<speaker>_<index>.wav")
  found = []
  for name in sorted(os.listdir(recordings)):
    if not name.endswith(".wav"):
      continue
    parts = name[:-len(".wav")].split("_")
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) != 1:
      raise ManifestError(f"{os.path.join(recordings, name)}: expected a name "
                          f"<digit>_<speaker>_<index>.wav")
    digit = int(parts[0])
    found.append((f"recordings/{name}", {
        "digit": parts[0], "speaker": parts[1], "index": parts[2],
        "where": os.path.join(recordings, name), "word": DIGIT_WORDS["en"][digit],
        "word_de": DIGIT_WORDS["de"][digit], "word_fr": DIGIT_WORDS["fr"][digit]}))
  return found


def read_fsdd(src: str, scratch_dir: str) -> dict[str, list[Utterance]]:
  """Free Spoken Digit Dataset: text = English digit word, German/French digit names as
  translations, speaker from the file name; splits by ``fsdd_split_name``."""
  del scratch_dir
  root = require_dir(src, "recordings/<digit>_<speaker>_<index>.wav")
  splits: dict[str, list[Utterance]] = {"train": [], "dev": [], "test": []}
  for path, fields in _fsdd_recordings(root):
    if not fields["index"].isdigit():
      raise ManifestError(f"{fields['where']}: index {fields['index']!r} is not a number")
    audio = os.path.join(root, path)
    uid = os.path.splitext(os.path.basename(path))[0]
    splits[fsdd_split_name(int(fields["index"]))].append(Utterance(
        id=uid, audio=audio, duration=audio_duration(audio), lang="en", text=fields["word"],
        translation_de=fields["word_de"], translation_fr=fields["word_fr"],
        speaker=fields["speaker"]))
  return splits
