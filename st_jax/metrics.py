"""Evaluation metrics: BLEU/chrF (sacrebleu), WER/CER (jiwer), accuracy and macro-F1.

Text normalisation for WER/CER (`normalize_text`): Unicode NFKC, lower case, every character
that is not a letter, digit, apostrophe or whitespace replaced by a space, whitespace collapsed.
BLEU and chrF are computed on the raw detokenised text with sacrebleu's defaults (13a
tokenisation, case-sensitive) and reported with their signatures.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Sequence

import numpy as np

from st_jax.errors import UserError

_NOT_WORD = re.compile(r"[^\w\s']|_")


def normalize_text(text: str) -> str:
  """The WER/CER normalisation described in the module docstring."""
  text = unicodedata.normalize("NFKC", text).lower()
  return " ".join(_NOT_WORD.sub(" ", text).split())


def _check(hypotheses: Sequence[str], references: Sequence[str]) -> None:
  if len(hypotheses) != len(references):
    raise UserError(f"{len(hypotheses)} hypotheses but {len(references)} references")
  if not references:
    raise UserError("no utterances to score")


def translation_metrics(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
  """Corpus BLEU and chrF (0..100) with their sacrebleu signatures, and the exact-match rate
  (fraction of hypotheses equal to their reference after collapsing whitespace; the measure of
  a response model, whose answers are right or wrong)."""
  import sacrebleu  # pylint: disable=g-import-not-at-top
  _check(hypotheses, references)
  bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF()
  bleu_score = bleu.corpus_score(list(hypotheses), [list(references)])
  chrf_score = chrf.corpus_score(list(hypotheses), [list(references)])
  exact = np.mean([" ".join(h.split()) == " ".join(r.split())
                   for h, r in zip(hypotheses, references)])
  return {"bleu": float(bleu_score.score), "chrf": float(chrf_score.score),
          "exact_match": float(exact), "bleu_signature": str(bleu.get_signature()),
          "chrf_signature": str(chrf.get_signature())}


def recognition_metrics(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
  """Corpus WER and CER (fractions) after `normalize_text`; references that normalise to
  nothing are left out and counted."""
  import jiwer  # pylint: disable=g-import-not-at-top
  _check(hypotheses, references)
  pairs = [(normalize_text(h), normalize_text(r)) for h, r in zip(hypotheses, references)]
  kept = [(h, r) for h, r in pairs if r]
  if not kept:
    raise UserError("every reference is empty after normalisation; WER is undefined")
  hyps, refs = [h for h, _ in kept], [r for _, r in kept]
  return {"wer": float(jiwer.wer(refs, hyps)), "cer": float(jiwer.cer(refs, hyps)),
          "empty_references_skipped": len(pairs) - len(kept)}


def classification_metrics(predictions: Sequence[int], labels: Sequence[int],
                           class_names: Sequence[str]) -> dict:
  """Accuracy and macro-F1 over the labelled utterances (label >= 0), per-class F1 too.

  F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c); macro-F1 averages over classes present in labels
  or predictions.
  """
  predictions, labels = np.asarray(predictions), np.asarray(labels)
  keep = labels >= 0
  if not keep.any():
    raise UserError("no labelled utterances to score")
  predictions, labels = predictions[keep], labels[keep]
  per_class = {}
  for c, name in enumerate(class_names):
    tp = int(((predictions == c) & (labels == c)).sum())
    fp = int(((predictions == c) & (labels != c)).sum())
    fn = int(((predictions != c) & (labels == c)).sum())
    if tp + fp + fn:
      per_class[name] = 2 * tp / (2 * tp + fp + fn)
  return {"accuracy": float((predictions == labels).mean()),
          "macro_f1": float(np.mean(list(per_class.values()))), "f1_per_class": per_class}
