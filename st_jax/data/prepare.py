"""`st-jax data prepare`: a real corpus in its own layout -> manifests + TFDS + tokenizers.

``prepare_corpus`` = format reader (``importers*.py``: split -> rows) -> ``storage.write_corpus``
(decode, resample, write). Formats and their options are listed in ``FORMATS``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

from st_jax.data import importers
from st_jax.data import importers_translation
from st_jax.data.manifest import Utterance
from st_jax.errors import ConfigError

Reader = Callable[..., dict[str, list[Utterance]]]


@dataclasses.dataclass(frozen=True)
class CorpusFormat:
  """A reader ``(src, scratch_dir, **options) -> {split: rows}`` and the options it takes."""
  reader: Reader
  options: tuple[str, ...] = ()


FORMATS = {
    "librispeech": CorpusFormat(importers.read_librispeech),
    "mustc": CorpusFormat(importers_translation.read_mustc),
    "covost": CorpusFormat(importers_translation.read_covost, ("src_lang",)),
    "tsv": CorpusFormat(importers_translation.read_tsv, ("src_lang", "tgt_lang")),
    "fsdd": CorpusFormat(importers.read_fsdd),
    "ljspeech": CorpusFormat(importers.read_ljspeech),
}


def read_corpus(corpus_format: str, src: str, scratch_dir: str,
                **options: str | None) -> dict[str, list[Utterance]]:
  """Rows per split of the corpus at ``src``; options left None take the reader's default.

  Empty splits are dropped. ConfigError for an unknown format or an option it does not take.
  """
  if corpus_format not in FORMATS:
    raise ConfigError(f"unknown corpus format {corpus_format!r}; known: "
                      f"{', '.join(sorted(FORMATS))}")
  spec = FORMATS[corpus_format]
  given = {name: value for name, value in options.items() if value is not None}
  unused = sorted(set(given) - set(spec.options))
  if unused:
    takes = ", ".join(spec.options) or "no options"
    raise ConfigError(f"format {corpus_format!r} does not take {', '.join(unused)} "
                      f"(it takes {takes})")
  splits = spec.reader(src, scratch_dir, **given)
  return {name: rows for name, rows in splits.items() if rows}


def prepare_corpus(corpus_format: str, src: str, out: str, sample_rate: int = 16000,
                   on_bad_audio: str = "error", tokenizer_vocab: int = 1000,
                   src_lang: str | None = None, tgt_lang: str | None = None,
                   workers: int = 0) -> dict[str, int]:
  """Imports the corpus at ``src`` (layout ``corpus_format``) into the corpus directory ``out``.

  Audio the reader has to make (MuST-C segments) goes to ``out/audio/``. Prints one line per
  split and returns the utterances kept per split (bad audio skipped when
  ``on_bad_audio='skip'``). ``src_lang``/``tgt_lang`` apply to the formats that take them
  (tsv: both, default en/de; covost: src_lang, when the folder does not name it).
  """
  splits = read_corpus(corpus_format, src, out, src_lang=src_lang, tgt_lang=tgt_lang)
  from st_jax.data import storage  # pylint: disable=g-import-not-at-top  (imports TFDS)
  counts = storage.write_corpus(out, splits, sample_rate, on_bad_audio=on_bad_audio,
                                tokenizer_vocab=tokenizer_vocab, workers=workers)
  for name, rows in splits.items():
    kept = counts.get(name, 0)
    hours = sum(row.duration for row in rows) / 3600
    skipped = f", {len(rows) - kept} skipped" if kept != len(rows) else ""
    print(f"{corpus_format} {name}: {kept} utterances ({hours:.2f} h read{skipped}) -> "
          f"{os.path.join(out, name + '.tsv')}")
  return counts
