"""A deterministic generator of parallel English / German / French sentences.

Nothing can be downloaded, so the built-in corpus is generated from a small grammar:
templates (``templates.TEMPLATES``) fill slots from a lexicon of a few hundred words per
language and render them with correct morphology and word order (German case, adjective
declension, V2 / verb-final order, separable verbs; French agreement, elision, contractions,
passé composé with être; numbers, times, dates and prices spelled out).

Public API::

  generate(size, seed) -> list[Sentence]      # distinct (by English text), deterministic
  render(template, slots) -> Sentence         # one template with hand-picked slot values
  qa_pairs(size, seed) -> list[(question, answer)]   # English, answers computed
"""

from __future__ import annotations

import dataclasses
import random
import re
from typing import Mapping

from st_jax.data.grammar.qa import qa_pairs
from st_jax.data.grammar.templates import TEMPLATES, render_slots

__all__ = ["MAX_WORDS", "Sentence", "TEMPLATES", "generate", "qa_pairs", "render",
           "word_count"]

MAX_WORDS = 25
_WORD = re.compile(r"[^\s]*\w[^\s]*")


@dataclasses.dataclass(frozen=True)
class Sentence:
  """One sentence in three languages with the template and slot values that made it."""
  en: str
  de: str
  fr: str
  template: str
  slots: tuple[tuple[str, str], ...]


def word_count(text: str) -> int:
  """Words in ``text``: whitespace-separated tokens with a letter or digit (j'ai = 1)."""
  return len(_WORD.findall(text))


def render(template: str, slots: Mapping[str, str]) -> Sentence:
  """Renders ``template`` with the given slot values (strings) into a ``Sentence``."""
  en, de, fr = render_slots(template, slots)
  return Sentence(en, de, fr, template, tuple(slots.items()))


def generate(size: int, seed: int) -> list[Sentence]:
  """``size`` sentences, distinct by English text, deterministic for ``seed``.

  Templates are drawn at random by weight; sentences longer than ``MAX_WORDS`` words in
  any language and repeats are skipped.
  """
  if size < 0:
    raise ValueError(f"size must be >= 0, got {size}")
  rng = random.Random(f"grammar-{seed}")
  names = sorted(TEMPLATES)
  weights = [TEMPLATES[name].weight for name in names]
  sentences: list[Sentence] = []
  seen: set[str] = set()
  for _ in range(size * 50 + 1000):
    if len(sentences) == size:
      break
    name = rng.choices(names, weights)[0]
    sentence = render(name, TEMPLATES[name].sample(rng))
    texts = (sentence.en, sentence.de, sentence.fr)
    if sentence.en in seen or max(word_count(t) for t in texts) > MAX_WORDS:
      continue
    seen.add(sentence.en)
    sentences.append(sentence)
  if len(sentences) < size:
    raise ValueError(f"could only make {len(sentences)} distinct sentences, not {size}")
  return sentences
