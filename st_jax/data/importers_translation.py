"""Readers of speech-translation corpora: MuST-C (v1), CoVoST 2 / Common Voice, plain TSV.

Same contract as the readers in ``importers.py``: ``read_<format>(src, scratch_dir, **options)
-> {split: [Utterance, ...]}``; bookkeeping errors are ``ManifestError`` naming file and line.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re

import soundfile as sf

from st_jax.data.importers import (audio_duration, require_dir, require_path, split_by_hash,
                                   subdirs, translation_field)
from st_jax.data.manifest import Utterance, read_lines, read_table
from st_jax.errors import AudioError, ManifestError

MUSTC_SPLIT_NAMES = {"tst-COMMON": "test"}  # others: lower case, dashes -> underscores
COVOST_FILE = re.compile(r"covost_v2\.([A-Za-z-]+)_([A-Za-z-]+)(?:\.(\w+))?\.tsv")
COMMON_VOICE_SPLITS = ("train", "dev", "test")


# ---------------------------------------------------------------------------------------------
# MuST-C: SRC/en-<tgt>/data/<split>/wav/<talk>.wav + txt/<split>.{yaml,en,<tgt>}


@dataclasses.dataclass(frozen=True)
class Segment:
  """One entry of a MuST-C ``<split>.yaml``: a stretch of a talk's wav."""
  wav: str
  offset: float
  duration: float
  speaker: str


def parse_flow_yaml(path: str) -> list[dict[str, str]]:
  """The one-mapping-per-line YAML list MuST-C writes, without PyYAML::

    - {duration: 3.500000, offset: 16.090000, rec_id: ted_1, speaker_id: spk.1, wav: ted_1.wav}
  """
  entries = []
  for number, line in enumerate(read_lines(path), start=1):
    line = line.strip()
    if not line or line.startswith("#"):
      continue
    if not (line.startswith("-") and line[1:].strip().startswith("{") and line.endswith("}")):
      raise ManifestError(f"{path}:{number}: expected one flow mapping per line, like "
                          f"'- {{duration: 3.5, offset: 12.1, speaker_id: spk.1, wav: "
                          f"ted_1.wav}}' (install PyYAML to read other YAML forms)")
    entry = {}
    for item in line[1:].strip()[1:-1].split(","):
      key, colon, value = item.partition(":")
      if not colon:
        raise ManifestError(f"{path}:{number}: {item.strip()!r} is not 'key: value'")
      entry[key.strip()] = value.strip().strip("'\"")
    entries.append(entry)
  return entries


def _load_yaml(path: str) -> list:
  """``path`` parsed with PyYAML (C loader when built), or ``parse_flow_yaml`` without it."""
  try:
    import yaml  # pylint: disable=g-import-not-at-top
  except ImportError:
    return parse_flow_yaml(path)
  read_lines(path)  # existence and UTF-8 checked with file:line errors
  try:
    with open(path, encoding="utf-8-sig") as f:
      return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or []
  except yaml.YAMLError as e:
    raise ManifestError(f"{path}: not valid YAML ({e})") from None


def read_mustc_segments(path: str) -> list[Segment]:
  """Segments of a MuST-C yaml; ManifestError names the entry lacking duration/offset/wav."""
  entries = _load_yaml(path)
  if not isinstance(entries, list):
    raise ManifestError(f"{path}: expected a YAML list of segments")
  segments = []
  for number, entry in enumerate(entries, start=1):
    try:
      segments.append(Segment(wav=str(entry["wav"]), offset=float(entry["offset"]),
                              duration=float(entry["duration"]),
                              speaker=str(entry.get("speaker_id", ""))))
    except (KeyError, TypeError, ValueError, AttributeError):
      raise ManifestError(f"{path}: segment {number} {entry!r} needs a numeric duration and "
                          f"offset and a wav name") from None
  return segments


def mustc_split_name(split: str) -> str:
  """tst-COMMON -> test; other MuST-C splits lower case with underscores (tst-HE -> tst_he)."""
  return MUSTC_SPLIT_NAMES.get(split, split.lower().replace("-", "_"))


def _mustc_pair_dir(root: str) -> str:
  """The ``en-<tgt>`` directory: ``root`` itself or its only ``en-*`` subdirectory."""
  if re.fullmatch(r"en-[a-z]{2}", os.path.basename(root)):
    return root
  pairs = [n for n in subdirs(root) if re.fullmatch(r"en-[a-z]{2}", n)
           and os.path.isdir(os.path.join(root, n, "data"))]
  if len(pairs) == 1:
    return os.path.join(root, pairs[0])
  if not pairs:
    raise ManifestError(f"{root}: no MuST-C language pair; expected en-<tgt>/data/<split>/"
                        f"txt/<split>.yaml (point --src at en-de or its parent directory)")
  raise ManifestError(f"{root} holds several MuST-C pairs ({', '.join(pairs)}); point --src "
                      f"at one of them")


def _cut_split(txt_dir: str, split: str, tgt_lang: str, out_dir: str) -> list[Utterance]:
  """Rows of one MuST-C split; each segment cut from its talk into ``out_dir/<id>.wav``."""
  yaml_path = os.path.join(txt_dir, f"{split}.yaml")
  segments = read_mustc_segments(yaml_path)
  texts = {lang: read_lines(os.path.join(txt_dir, f"{split}.{lang}"))
           for lang in ("en", tgt_lang)}
  counts = {yaml_path: len(segments), **{os.path.join(txt_dir, f"{split}.{lang}"): len(lines)
                                         for lang, lines in texts.items()}}
  if len(set(counts.values())) != 1:
    raise ManifestError("MuST-C files of split {!r} are not aligned: {}".format(
        split, ", ".join(f"{path} has {n} segments/lines" for path, n in counts.items())))
  os.makedirs(out_dir, exist_ok=True)
  wav_dir = os.path.join(os.path.dirname(txt_dir), "wav")
  tgt_field = translation_field(tgt_lang, yaml_path)
  rows, per_talk, talk = [], {}, None
  try:
    for number, segment in enumerate(segments, start=1):
      if talk is None or talk.name != os.path.join(wav_dir, segment.wav):
        if talk is not None:
          talk.close()
        talk = _open_talk(os.path.join(wav_dir, segment.wav), yaml_path)
      stem = os.path.splitext(segment.wav)[0]
      index = per_talk[stem] = per_talk.get(stem, -1) + 1
      audio = os.path.join(out_dir, f"{stem}_{index}.wav")
      frames = _cut(talk, segment, audio, f"{yaml_path}: segment {number}")
      rows.append(Utterance(
          id=f"{stem}_{index}", audio=audio, duration=frames / talk.samplerate, lang="en",
          text=texts["en"][number - 1].strip(), speaker=segment.speaker,
          **{tgt_field: texts[tgt_lang][number - 1].strip()}))
  finally:
    if talk is not None:
      talk.close()
  return rows


def _open_talk(path: str, yaml_path: str) -> sf.SoundFile:
  if not os.path.isfile(path):
    raise AudioError(f"{path} (named in {yaml_path}) does not exist")
  try:
    return sf.SoundFile(path)
  except (sf.SoundFileError, RuntimeError) as e:
    raise AudioError(f"{path} (named in {yaml_path}) cannot be read: {e}") from None


def _cut(talk: sf.SoundFile, segment: Segment, out_path: str, where: str) -> int:
  """Writes ``segment`` of ``talk`` to ``out_path`` (16-bit wav) unless already there."""
  start = round(segment.offset * talk.samplerate)
  frames = round(segment.duration * talk.samplerate)
  if start < 0 or frames <= 0 or start + frames > talk.frames:
    raise ManifestError(f"{where} (offset {segment.offset} s, duration {segment.duration} s) "
                        f"lies outside {talk.name} ({talk.frames / talk.samplerate:.2f} s)")
  if os.path.isfile(out_path) and audio_duration(out_path) == frames / talk.samplerate:
    return frames  # cut by an earlier run
  talk.seek(start)
  samples = talk.read(frames, dtype="int16")
  partial = out_path + ".part"
  sf.write(partial, samples, talk.samplerate, format="WAV", subtype="PCM_16")
  os.replace(partial, out_path)
  return frames


def read_mustc(src: str, scratch_dir: str) -> dict[str, list[Utterance]]:
  """MuST-C v1 (``en-de`` or its parent): segments cut into ``scratch_dir/audio/<split>/``.

  ids are ``<talk>_<index of the segment within the talk>``; text is English, the target
  language (from the directory name en-<tgt>) goes to ``translation_<tgt>``.
  """
  pair_dir = _mustc_pair_dir(require_dir(src, "MuST-C en-<tgt>/data/<split>/"))
  tgt_lang = os.path.basename(pair_dir).split("-")[1]
  data_dir = os.path.join(pair_dir, "data")
  split_dirs = [n for n in subdirs(data_dir) if os.path.isdir(os.path.join(data_dir, n, "txt"))
                ] if os.path.isdir(data_dir) else []
  if not split_dirs:
    raise ManifestError(f"{pair_dir}: no MuST-C splits; expected data/<split>/txt/<split>.yaml"
                        f" and data/<split>/wav/<talk>.wav")
  splits = {}
  for split in split_dirs:
    name = mustc_split_name(split)
    splits[name] = _cut_split(os.path.join(data_dir, split, "txt"), split, tgt_lang,
                              os.path.join(scratch_dir, "audio", name))
  return splits


# ---------------------------------------------------------------------------------------------
# CoVoST 2 / Common Voice: SRC/{train,dev,test,validated}.tsv, covost_v2.<s>_<t>[.<split>].tsv,
# SRC/clips/<clip>.mp3


@functools.lru_cache(maxsize=None)
def mp3_supported() -> bool:
  """Whether this soundfile/libsndfile build decodes MP3 (libsndfile >= 1.1 with mpg123)."""
  return "MPEG" in sf.available_formats()


def resolve_clip(path: str) -> str:
  """``path``, or a .wav/.flac of the same name beside an MP3 that libsndfile cannot decode."""
  stem, ext = os.path.splitext(path)
  if ext.lower() != ".mp3" or mp3_supported():
    return path
  for converted in (stem + ".wav", stem + ".flac"):
    if os.path.isfile(converted):
      return converted
  raise AudioError(
      f"{path}: soundfile {sf.__version__} with libsndfile {sf.__libsndfile_version__} cannot "
      f"decode MP3 on this machine (needs libsndfile >= 1.1 built with MPEG support). Convert "
      f"the clips to WAV beside the MP3 files, e.g. `ffmpeg -i {os.path.basename(path)} "
      f"{os.path.basename(stem)}.wav`, and run again: a .wav/.flac of the same name is used")


def _covost_tables(root: str) -> list[tuple[str, str, str, str | None]]:
  """(path, source lang, target lang, split or None) of the CoVoST TSVs in ``root``."""
  found = []
  for name in sorted(os.listdir(root)):
    match = COVOST_FILE.fullmatch(name)
    if match:
      found.append((os.path.join(root, name), match.group(1), match.group(2), match.group(3)))
  return found


def _covost_split(value: str, where: str) -> str:
  split = value.strip().lower()
  split = "train" if split == "train_covost" else split
  if split not in COMMON_VOICE_SPLITS:
    raise ManifestError(f"{where}: split {value!r} is not one of train, train_covost, dev, "
                        f"test")
  return split


def _common_voice_rows(root: str) -> dict[str, dict[str, tuple[str, str]]]:
  """{table name: {clip path: (sentence, client_id)}} of the Common Voice TSVs in ``root``."""
  tables = {}
  for table in COMMON_VOICE_SPLITS + ("validated",):
    path = os.path.join(root, f"{table}.tsv")
    if os.path.isfile(path):
      tables[table] = {r["path"]: (r["sentence"], r["client_id"])
                       for _, r in read_table(path, ("client_id", "path", "sentence"))}
  return tables


def _clip_row(root: str, clip: str, lang: str, sentence: str, speaker: str) -> Utterance:
  audio = resolve_clip(os.path.join(root, "clips", clip))
  return Utterance(id=os.path.splitext(clip)[0], audio=audio, duration=audio_duration(audio),
                   lang=lang, text=sentence.strip(), speaker=speaker)


def _covost_language(root: str, src_lang: str | None) -> str:
  """Spoken language of a Common Voice folder (named by its language code) without CoVoST."""
  if src_lang:
    return src_lang
  name = os.path.basename(root)
  if re.fullmatch(r"[a-z]{2,3}", name):
    return name
  raise ManifestError(f"{root}: cannot tell the spoken language (no covost_v2.<src>_<tgt> "
                      f"TSV, and the folder is not named by a language code); pass src_lang")


def read_covost(src: str, scratch_dir: str, src_lang: str | None = None
                ) -> dict[str, list[Utterance]]:
  """CoVoST 2 translations joined by clip path with Common Voice, or Common Voice alone.

  With ``covost_v2.<src>_<tgt>.<split>.tsv`` (path, sentence, translation[, client_id]) or
  the released ``covost_v2.<src>_<tgt>.tsv`` (with a split column), those TSVs give the splits
  and translations (several targets are joined by path). Without them, Common Voice's
  train/dev/test.tsv give the splits (validated.tsv alone: 90/5/5 by id hash).
  """
  del scratch_dir
  root = require_dir(src, "Common Voice TSVs and clips/")
  common_voice = _common_voice_rows(root)
  known = {clip: value for table in common_voice.values() for clip, value in table.items()}
  covost = _covost_tables(root)
  if covost:
    languages = {lang for _, lang, _, _ in covost}
    if len(languages) > 1:
      raise ManifestError(f"{root}: CoVoST TSVs for several source languages "
                          f"({', '.join(sorted(languages))}); keep one in the folder")
    splits: dict[str, dict[str, Utterance]] = {}
    for path, lang, tgt_lang, file_split in covost:
      tgt_field = translation_field(tgt_lang, path)
      required = ("path", "sentence", "translation") + (() if file_split else ("split",))
      for number, record in read_table(path, required):
        where = f"{path}:{number}"
        split = _covost_split(file_split or record["split"], where)
        rows = splits.setdefault(split, {})
        if record["path"] not in rows:
          sentence, client = known.get(record["path"], ("", ""))
          rows[record["path"]] = _clip_row(root, record["path"], lang,
                                           record["sentence"] or sentence,
                                           record.get("client_id") or client)
        setattr(rows[record["path"]], tgt_field, record["translation"].strip())
    return {split: list(rows.values()) for split, rows in splits.items()}
  if "train" in common_voice:
    chosen = [split for split in COMMON_VOICE_SPLITS if split in common_voice]
  elif "validated" in common_voice:
    chosen = ["validated"]
  else:
    raise ManifestError(f"{root}: no Common Voice TSV (train.tsv, dev.tsv, test.tsv or "
                        f"validated.tsv) and no CoVoST TSV (covost_v2.<src>_<tgt>.<split>.tsv)")
  lang = _covost_language(root, src_lang)
  tables = {name: [_clip_row(root, clip, lang, sentence, client)
                   for clip, (sentence, client) in common_voice[name].items()]
            for name in chosen}
  return split_by_hash(tables["validated"]) if chosen == ["validated"] else tables


# ---------------------------------------------------------------------------------------------
# Plain TSV: audio<TAB>text[<TAB>translation], optional header line.


def _id_from_path(audio: str, base: str) -> str:
  """Utterance id of a TSV row: its audio path below the TSV's folder (else the file name),
  without extension, separators as underscores (clips/a/b.wav -> clips_a_b)."""
  relative = os.path.relpath(audio, base)
  if relative.startswith(os.pardir):
    relative = os.path.basename(audio)
  return os.path.splitext(relative)[0].replace(os.sep, "_").replace("/", "_")


def _read_plain_tsv(path: str, src_lang: str, tgt_field: str) -> list[Utterance]:
  base = os.path.dirname(path)
  rows, seen = [], set()
  for number, line in enumerate(read_lines(path), start=1):
    if not line.strip():
      continue
    fields = line.split("\t")
    if number == 1 and fields[0].strip().lower() in ("audio", "path"):
      continue  # header line
    where = f"{path}:{number}"
    if len(fields) not in (2, 3):
      raise ManifestError(f"{where}: expected audio<TAB>text[<TAB>translation], found "
                          f"{len(fields)} tab-separated field(s)")
    audio_field, text = fields[0].strip(), fields[1].strip()
    if not audio_field or not text:
      raise ManifestError(f"{where}: empty audio path or text")
    audio = os.path.normpath(os.path.join(base, audio_field))
    uid = _id_from_path(audio, base)
    if uid in seen:
      raise ManifestError(f"{where}: duplicate utterance id {uid!r} (from {audio_field!r})")
    seen.add(uid)
    row = Utterance(id=uid, audio=audio, duration=audio_duration(audio), lang=src_lang,
                    text=text)
    if len(fields) == 3:
      setattr(row, tgt_field, fields[2].strip())
    rows.append(row)
  return rows


def read_tsv(src: str, scratch_dir: str, src_lang: str = "en", tgt_lang: str = "de"
             ) -> dict[str, list[Utterance]]:
  """A directory with train.tsv (+ dev.tsv, test.tsv), or one TSV split 90/5/5 by id hash.

  Audio paths may be relative to the TSV's directory. ``src_lang`` is the spoken language,
  the optional third column is the translation into ``tgt_lang``.
  """
  del scratch_dir
  root = require_path(src)
  tgt_field = translation_field(tgt_lang, f"tsv corpus {src}")
  if tgt_lang == src_lang:
    raise ManifestError(f"tsv corpus {src}: source and target language are both {src_lang!r}")
  if os.path.isfile(root):
    return split_by_hash(_read_plain_tsv(root, src_lang, tgt_field))
  if not os.path.isfile(os.path.join(root, "train.tsv")):
    raise ManifestError(f"{root}: no train.tsv; expected train.tsv (and optionally dev.tsv, "
                        f"test.tsv) with lines audio<TAB>text[<TAB>translation], or point "
                        f"--src at one TSV file")
  return {split: _read_plain_tsv(os.path.join(root, f"{split}.tsv"), src_lang, tgt_field)
          for split in ("train", "dev", "test")
          if os.path.isfile(os.path.join(root, f"{split}.tsv"))}
