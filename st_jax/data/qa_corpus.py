"""`st-jax data qa`: a text corpus of English questions and their answers (response model).

The pairs come from ``st_jax.data.grammar.qa`` (every answer computed: arithmetic, clock
arithmetic, colours and places of things in a context sentence, counting, prices, weekdays and
months, comparisons). They are written in the standard corpus layout (storage.py) as text-only
rows, so the text MT path (``data.task = "mt"``) trains on them unchanged:

  lang "en", text = the question, translation_en = the answer, audio "" (no samples stored),
  duration 0, speaker "", emotion "".

With ``data.src_lang = data.tgt_lang = "en"`` the target of a row is its filled same-language
``translation_en`` column (`features.target_text`): the answer. Splits are by question,
80/10/10 (the same seeded cut as the speech corpus), so test questions never occur in training.
"""

from __future__ import annotations

from st_jax.data import corpus as corpus_lib
from st_jax.data import storage
from st_jax.data.grammar import qa
from st_jax.data.manifest import Utterance
from st_jax.errors import UserError

LANG = "en"


def qa_rows(size: int, seed: int) -> dict[str, list[Utterance]]:
  """``size`` distinct question/answer pairs as text-only manifest rows, per split."""
  if size < 3:
    raise UserError(f"--size {size}: need at least 3 question-answer pairs (train/dev/test)")
  try:
    pairs = qa.qa_pairs(size, seed)
  except ValueError as e:
    raise UserError(f"--size {size}: {e}; use a smaller --size") from e
  splits = corpus_lib.split_sentences(pairs, seed)
  return {name: [Utterance(id=f"{name}-{i:06d}-qa", audio="", duration=0.0, lang=LANG,
                           text=pairs[i][0], translation_en=pairs[i][1])
                 for i in indices] for name, indices in splits.items()}


def write_qa_corpus(out_dir: str, size: int = 20000, seed: int = 0,
                    tokenizer_vocab: int = 1000) -> dict[str, int]:
  """Writes the QA corpus into ``out_dir`` (manifests, TFDS, tokenizers, corpus.json);
  returns the number of pairs per split."""
  counts = storage.write_corpus(out_dir, qa_rows(size, seed), sample_rate=16000,
                                tokenizer_vocab=tokenizer_vocab, workers=1)
  print("qa corpus " + ", ".join(f"{k}: {v}" for k, v in counts.items()) + f" -> {out_dir}")
  return counts
