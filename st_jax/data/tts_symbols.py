"""Input symbols of speech synthesis: a phoneme or character inventory, and text -> symbol ids.

Ids: ``PAD = 0``, ``UNK = 1``, then the inventory's symbols in sorted order. ``kind``:

  phonemes    IPA phonemes as espeak-ng writes them (stress and length marks attached,
              ``"_"`` = pause), read from the manifest's ``alignment`` column of the train split;
              at inference text -> phonemes with espeak-ng (st_jax/data/espeak.py, [synth] extra)
  characters  the lower-cased characters of the train split's transcripts (no espeak needed)

The inventory covers every language of the corpus' train split, is written once as
``<corpus>/symbols_<kind>.json`` and copied into a workdir's assets by training.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np

from st_jax.data.manifest import read_manifest, split_path
from st_jax.errors import ConfigError, ManifestError, MissingExtraError, UserError

KINDS = ("phonemes", "characters")
PAD_ID, UNK_ID = 0, 1


def write_json(path: str, body) -> None:
  """Writes ``body`` to ``path`` through a temporary file (never half-written)."""
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(body, f, ensure_ascii=False, indent=0)
  os.replace(tmp, path)


def read_json(path: str, what: str, parse=lambda body: body):
  """``parse(JSON of path)``; ConfigError naming the file when it is missing or malformed."""
  try:
    with open(path, encoding="utf-8") as f:
      return parse(json.load(f))
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ConfigError(f"{path}: not a readable {what} ({e!r}); delete it to rebuild it from "
                      f"the corpus") from None


class SymbolInventory:
  """symbol <-> id for one ``kind``; ``encode`` maps unknown symbols to ``UNK_ID``."""

  def __init__(self, kind: str, symbols: Sequence[str]):
    if kind not in KINDS:
      raise ConfigError(f"data.tts_symbols={kind!r}: expected one of {', '.join(KINDS)}")
    self.kind = kind
    self.symbols = sorted(set(symbols))
    self._ids = {s: i + 2 for i, s in enumerate(self.symbols)}

  @property
  def size(self) -> int:
    """Ids in use, PAD and UNK included."""
    return len(self.symbols) + 2

  def encode(self, symbols: Sequence[str]) -> np.ndarray:
    """[U] int32 ids of a symbol sequence."""
    return np.asarray([self._ids.get(s, UNK_ID) for s in symbols], np.int32)

  def decode(self, ids: Sequence[int]) -> list[str]:
    return [self.symbols[i - 2] if i >= 2 else ("<unk>" if i == UNK_ID else "")
            for i in np.asarray(ids).tolist() if i != PAD_ID]

  def save(self, path: str) -> None:
    write_json(path, {"kind": self.kind, "symbols": self.symbols})

  @classmethod
  def load(cls, path: str) -> "SymbolInventory":
    return read_json(path, "symbol inventory", lambda body: cls(body["kind"], body["symbols"]))


def characters_of(text: str) -> list[str]:
  """The character symbols of a transcript: lower-cased, whitespace runs -> one space."""
  return list(" ".join(text.lower().split()))


def phonemes_of(alignment) -> list[str]:
  """The phoneme symbols of a manifest alignment ``[[phoneme, start_s, end_s], ...]``."""
  return [str(entry[0]) for entry in alignment]


def utterance_symbols(kind: str, text: str, alignment, what: str) -> list[str]:
  """Symbols of one corpus utterance (phonemes from its alignment, or characters of text)."""
  if kind == "characters":
    return characters_of(text)
  if not alignment:
    raise ManifestError(f"{what} has no phoneme alignment; train with "
                        f"--config.data.tts_symbols=characters "
                        f"--config.model.tts.durations=learned on corpora without one")
  return phonemes_of(alignment)


def inventory_path(corpus_dir: str, kind: str) -> str:
  return os.path.join(corpus_dir, f"symbols_{kind}.json")


def corpus_inventory(corpus_dir: str, kind: str) -> SymbolInventory:
  """The inventory of ``kind`` over the train split of ``corpus_dir`` (built once, cached)."""
  path = inventory_path(corpus_dir, kind)
  if os.path.exists(path):
    return SymbolInventory.load(path)
  if kind not in KINDS:
    raise ConfigError(f"data.tts_symbols={kind!r}: expected one of {', '.join(KINDS)}")
  rows = read_manifest(split_path(corpus_dir, "train"))
  symbols = set()
  for row in rows:
    if kind == "phonemes" and not row.alignment:
      continue
    symbols.update(utterance_symbols(kind, row.text, row.alignment, row.id))
  if not symbols:
    raise ManifestError(f"{corpus_dir}: the train split has no phoneme alignments; use "
                        f"--config.data.tts_symbols=characters "
                        f"--config.model.tts.durations=learned")
  inventory = SymbolInventory(kind, symbols)
  inventory.save(path)
  return inventory


def text_symbols(text: str, kind: str, lang: str, voice: str | None = None) -> list[str]:
  """Symbols of free text at inference: characters, or espeak-ng phonemes of ``lang``
  (spoken with ``voice``, default the language's first voice, as the corpus was)."""
  if not text or not text.strip():
    raise ConfigError("the text to synthesise is empty")
  if kind == "characters":
    return characters_of(text)
  from st_jax.data import espeak  # pylint: disable=g-import-not-at-top
  if lang not in espeak.VOICES:
    raise ConfigError(f"espeak-ng has no voice for language {lang!r} (known: "
                      f"{', '.join(espeak.VOICES)}); a phoneme model needs one")
  voice = voice if voice in espeak.VOICES[lang] else espeak.VOICES[lang][0]
  try:
    speech = espeak.speak(text, lang, voice, espeak.Prosody())
  except MissingExtraError as e:
    raise UserError(f"this model reads phonemes, and turning text into phonemes needs "
                    f"espeak-ng: install the extra with pip install -e '.[synth]' (or train a "
                    f"model with --config.data.tts_symbols=characters)") from e
  return [name for name, _, _ in speech.phonemes]
