"""SentencePiece tokenizers trained on a corpus' training text, stored with the corpus.

Ids are fixed across the project: ``PAD_ID = 0`` (also the CTC blank), ``BOS_ID = 1``,
``EOS_ID = 2``, ``UNK_ID = 3``. A corpus directory holds ``tokenizer.model`` (one vocabulary
shared by all its languages) and ``tokenizer_<lang>.model`` (one per language); the config's
``data.tokenizer`` picks ``shared`` or ``per_language``.
"""

from __future__ import annotations

import io
import os
from typing import Iterable, Sequence

import numpy as np
import sentencepiece as spm

from st_jax.errors import ConfigError, ManifestError

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


def train_tokenizer(texts: Iterable[str], model_path: str, vocab_size: int,
                    model_type: str = "unigram") -> "Tokenizer":
  """Trains a SentencePiece ``model_type`` (unigram|bpe) model on ``texts``; writes model_path.

  ``vocab_size`` is an upper bound: a small corpus gets a smaller vocabulary rather than an
  error (``hard_vocab_limit=False``).
  """
  sentences = sorted({t.strip() for t in texts if t and t.strip()})
  if not sentences:
    raise ManifestError(f"no training text for tokenizer {model_path}")
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size,
      model_type=model_type, character_coverage=1.0, hard_vocab_limit=False,
      pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, unk_id=UNK_ID,
      normalization_rule_name="identity", num_threads=1, minloglevel=2,
      input_sentence_size=0, shuffle_input_sentence=False)
  tmp = model_path + ".tmp"
  with open(tmp, "wb") as f:
    f.write(model.getvalue())
  os.replace(tmp, model_path)
  return Tokenizer(model_path)


class Tokenizer:
  """Text <-> ids. ``encode`` never adds BOS/EOS; the input pipeline adds them."""

  def __init__(self, model_path: str):
    if not os.path.exists(model_path):
      raise ConfigError(f"tokenizer model {model_path} does not exist; corpora made by "
                        f"`st-jax data synth` or `st-jax data prepare` contain one")
    self.model_path = model_path
    self._sp = spm.SentencePieceProcessor(model_file=model_path)

  @property
  def vocab_size(self) -> int:
    return self._sp.get_piece_size()

  def encode(self, text: str) -> np.ndarray:
    """[L] int32 ids of ``text``."""
    return np.asarray(self._sp.encode(text), dtype=np.int32)

  def decode(self, ids: Sequence[int]) -> str:
    """Text of ``ids``; stops at the first EOS and drops PAD/BOS and ids the vocabulary lacks
    (a model's ``data.vocab_size`` may exceed the tokenizer's; a barely trained one can emit
    those ids, which have no text)."""
    out, size = [], self.vocab_size
    for i in np.asarray(ids).tolist():
      if i == EOS_ID:
        break
      if i not in (PAD_ID, BOS_ID) and 0 <= i < size:
        out.append(int(i))
    return self._sp.decode(out)

  def __getstate__(self):
    return {"model_path": self.model_path}

  def __setstate__(self, state):
    self.__init__(state["model_path"])


def tokenizer_path(corpus_dir: str, lang: str | None = None) -> str:
  """Shared tokenizer when ``lang`` is None, else the per-language one."""
  name = "tokenizer.model" if lang is None else f"tokenizer_{lang}.model"
  return os.path.join(corpus_dir, name)


def load_tokenizer(corpus_dir: str, mode: str, lang: str) -> Tokenizer:
  """The tokenizer for ``lang`` under ``mode`` = shared | per_language."""
  if mode not in ("shared", "per_language"):
    raise ConfigError(f"data.tokenizer={mode!r}: expected 'shared' or 'per_language'")
  return Tokenizer(tokenizer_path(corpus_dir, None if mode == "shared" else lang))
