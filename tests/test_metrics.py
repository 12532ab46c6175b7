"""Metrics against hand-computed values and sacrebleu/jiwer conventions."""

import pytest

from st_jax import metrics
from st_jax.errors import UserError


def test_normalisation_removes_case_and_punctuation_keeps_apostrophes():
  assert metrics.normalize_text("  Wo ist der Bahnhof?  Es ist 7 Uhr.") == \
      "wo ist der bahnhof es ist 7 uhr"
  assert metrics.normalize_text("It's l'heure — «Ｏｕｉ»!") == "it's l'heure oui"


def test_wer_and_cer_by_hand():
  out = metrics.recognition_metrics(["the cat sat", "hello"], ["The cat sat down.", "Hello!"])
  assert out["wer"] == pytest.approx(1 / 5)              # one deletion in five words
  assert out["cer"] == pytest.approx(5 / (16 + 5))       # " down" deleted of 21 chars
  assert out["empty_references_skipped"] == 0


def test_bleu_perfect_and_signature():
  refs = ["Das rote Auto ist hier .", "Wo ist der Bahnhof ?"]
  out = metrics.translation_metrics(refs, refs)
  assert out["bleu"] == pytest.approx(100.0) and out["chrf"] == pytest.approx(100.0)
  assert out["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
  worse = metrics.translation_metrics(["Das Auto ist hier .", "Wo ist Bahnhof ?"], refs)
  assert 0 < worse["bleu"] < 100 and 0 < worse["chrf"] < 100


def test_classification_accuracy_and_macro_f1():
  out = metrics.classification_metrics([0, 1, 1, 2, 0], [0, 1, 2, 2, -1], ["a", "b", "c"])
  assert out["accuracy"] == pytest.approx(3 / 4)
  # a: tp1 -> 1.0; b: tp1 fp1 -> 2/3; c: tp1 fn1 -> 2/3
  assert out["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_bad_input_is_named():
  with pytest.raises(UserError, match="2 hypotheses but 1 references"):
    metrics.translation_metrics(["a", "b"], ["a"])
  with pytest.raises(UserError, match="empty after normalisation"):
    metrics.recognition_metrics(["a"], ["?!"])
