"""Clauses and their word order in English, German and French.

A ``Clause`` is one language's subject + verb + tense + negation + complements; the
renderers put the words in the right order for a statement, a yes/no question, a
wh-question or a subordinate clause:

* English: do-support in questions and negation (``Does Anna go ...``, ``did not buy``).
* German: verb second in statements (also after a fronted adverbial), verb first in yes/no
  questions, verb last in subordinate clauses, where a separable prefix joins the verb again
  (``..., weil der Zug um sieben Uhr abfährt``); Perfekt with haben/sein, future with werden.
* French: ne ... pas around the finite verb, passé composé with avoir/être and participle
  agreement with être (``elle est allée``), reflexive pronouns, ``est-ce que`` questions.
"""

from __future__ import annotations

import dataclasses

from st_jax.data.grammar.lexicon import Subject
from st_jax.data.grammar.verbs import (DE_HABEN, DE_SEIN, DE_WERDEN, FR_AVOIR, FR_ETRE,
                                       FR_REFLEXIVE, PERSONS, Verb)

TENSES = ("present", "past", "future")
STATEMENT, QUESTION, SUBORDINATE = "statement", "question", "subordinate"


@dataclasses.dataclass(frozen=True)
class Clause:
  """One clause in one language.

  ``words``: English/French: what follows the verb; German: the middle field in order.
  ``nicht_at``: German position of ``nicht`` in ``words`` when negated (None: at the end);
  ``negation_in_words``: German negation is already expressed by ``kein`` in ``words``.
  ``gender``: French participle agreement with être.
  """
  subject: str
  person: str
  verb: Verb
  tense: str = "present"
  negated: bool = False
  words: tuple[str, ...] = ()
  gender: str = "m"
  nicht_at: int | None = None
  negation_in_words: bool = False


@dataclasses.dataclass(frozen=True)
class Frame:
  """The same clause in the three languages."""
  en: Clause
  de: Clause
  fr: Clause


def frame(subject: Subject, verb: Verb, tense: str = "present", negated: bool = False, *,
          en: tuple[str, ...] = (), de: tuple[str, ...] = (), fr: tuple[str, ...] = (),
          nicht_at: int | None = None, kein: bool = False, de_verb: Verb | None = None,
          fr_verb: Verb | None = None) -> Frame:
  """A frame whose subject is a lexicon ``Subject`` (``de_verb``/``fr_verb`` override)."""
  return Frame(
      Clause(subject.en, subject.person, verb, tense, negated, en, subject.gender),
      Clause(subject.de, subject.person, de_verb or verb, tense, negated, de, subject.gender,
             nicht_at, kein),
      Clause(subject.fr, subject.person, fr_verb or verb, tense, negated, fr, subject.gender))


def _index(person: str) -> int:
  return PERSONS.index(person)


def render_en(clause: Clause, mode: str = STATEMENT, wh: str = "") -> str:
  """English clause; ``mode`` QUESTION puts the auxiliary first (after ``wh``)."""
  verb, person, question = clause.verb, clause.person, mode == QUESTION
  not_ = ["not"] if clause.negated else []
  if verb.key == "be":
    lexical = []
    if clause.tense == "present":
      finite = {"1s": "am", "3s": "is"}.get(person, "are")
    elif clause.tense == "past":
      finite = "was" if person in ("1s", "3s") else "were"
    else:
      finite, lexical = "will", ["be"]
    main = not_ + lexical
  else:
    particle = [verb.en_particle] if verb.en_particle else []
    if clause.tense == "future":
      finite, lexical = "will", verb.en_base
    elif question or clause.negated:
      lexical = verb.en_base
      if clause.tense == "past":
        finite = "did"
      else:
        finite = "does" if person == "3s" else "do"
    else:
      finite = "" if clause.tense != "past" else verb.en_past
      if clause.tense == "present":
        finite = verb.en_third if person == "3s" else verb.en_base
      lexical = ""
    main = not_ + ([lexical] if lexical else []) + particle
  if question:
    words = ([wh] if wh else []) + [finite, clause.subject] + main
  else:
    words = [clause.subject, finite] + main
  return " ".join(words + list(clause.words))


def _de_verb_parts(clause: Clause) -> tuple[str, list[str], bool]:
  """German (finite verb, verb-final words, finite joins the last word in a subordinate)."""
  verb, i = clause.verb, _index(clause.person)
  prefix = [verb.de_prefix] if verb.de_prefix else []
  if clause.tense == "present":
    return verb.de_present[i], prefix, bool(prefix)
  if clause.tense == "past" and verb.de_preterite:
    return verb.de_preterite[i], prefix, bool(prefix)
  if clause.tense == "past":
    auxiliary = DE_SEIN if verb.de_auxiliary == "sein" else DE_HABEN
    return auxiliary[i], [verb.de_participle], False
  return DE_WERDEN[i], [verb.de_infinitive], False


def de_middle(clause: Clause) -> list[str]:
  """The German middle field with ``nicht`` in place."""
  words = list(clause.words)
  if clause.negated and not clause.negation_in_words:
    words.insert(len(words) if clause.nicht_at is None else clause.nicht_at, "nicht")
  return words


def render_de(clause: Clause, mode: str = STATEMENT, front: str = "") -> str:
  """German clause: V2 statement (``front`` fills the first position before the verb),
  V1 question (or ``front`` = wh-word + V2), verb-final SUBORDINATE clause."""
  finite, final, joins = _de_verb_parts(clause)
  middle = de_middle(clause)
  if mode == SUBORDINATE:
    if joins:
      final = final[:-1] + [final[-1] + finite]
    else:
      final = final + [finite]
    return " ".join([clause.subject] + middle + final)
  if front or mode == QUESTION:
    head = ([front] if front else []) + [finite, clause.subject]
  else:
    head = [clause.subject, finite]
  return " ".join(head + middle + final)


def _fr_participle(clause: Clause) -> str:
  participle = clause.verb.fr_participle
  if clause.verb.fr_auxiliary == "être" or clause.verb.fr_reflexive:
    if clause.gender == "f":
      participle += "e"
    if clause.person.endswith("p") and not participle.endswith("s"):
      participle += "s"
  return participle


def render_fr(clause: Clause, mode: str = STATEMENT, wh: str = "") -> str:
  """French clause; QUESTION is ``[wh] est-ce que`` + statement order."""
  verb, person, i = clause.verb, clause.person, _index(clause.person)
  reflexive = [FR_REFLEXIVE[i]] if verb.fr_reflexive else []
  after: list[str] = []
  if clause.tense == "present":
    finite = verb.fr_finite(person)
  elif clause.tense == "past" and verb.fr_imperfect:
    finite = verb.fr_imperfect[i]
  elif clause.tense == "past":
    uses_etre = verb.fr_auxiliary == "être" or verb.fr_reflexive
    finite = (FR_ETRE if uses_etre else FR_AVOIR)[i]
    after = [_fr_participle(clause)]
  else:
    finite = verb.fr_future(person)
  if clause.negated:
    core = ["ne"] + reflexive + [finite, "pas"] + after
  else:
    core = reflexive + [finite] + after
  words = [clause.subject] + core + list(clause.words)
  if mode == QUESTION:
    words = ([wh] if wh else []) + ["est-ce", "que"] + words
  return " ".join(words)


_FR_INVERTIBLE_PRONOUNS = ("tu", "il", "elle", "nous", "ils")


def _fr_verb_words(clause: Clause) -> list[str]:
  """French finite verb (+ participle) of an affirmative, non-reflexive clause."""
  verb, i = clause.verb, _index(clause.person)
  if clause.tense == "present":
    return [verb.fr_present[i]]
  if clause.tense == "past" and verb.fr_imperfect:
    return [verb.fr_imperfect[i]]
  if clause.tense == "past":
    auxiliary = FR_ETRE if verb.fr_auxiliary == "être" else FR_AVOIR
    return [auxiliary[i], _fr_participle(clause)]
  return [verb.fr_future(clause.person)]


def render_fr_inverted(clause: Clause, wh: str) -> str:
  """French wh-question by inversion: 'où habite Anna', 'où habites-tu',
  'combien a coûté le sac rouge' (noun subjects follow the verb, pronouns are hyphenated)."""
  verb_words = _fr_verb_words(clause)
  if clause.subject in _FR_INVERTIBLE_PRONOUNS:
    verb_words[0] = fr_inverted(verb_words[0], clause.subject)
    return " ".join([wh] + verb_words + list(clause.words))
  return " ".join([wh] + verb_words + [clause.subject] + list(clause.words))


def fr_inverted(verb_form: str, pronoun: str) -> str:
  """French subject-verb inversion: 'habites-tu', 'habite-t-il', 'habitent-ils'."""
  needs_t = pronoun in ("il", "elle", "on") and verb_form[-1] in "ae"
  return f"{verb_form}-t-{pronoun}" if needs_t else f"{verb_form}-{pronoun}"


def render(frame_: Frame, mode: str = STATEMENT, *, en_wh: str = "", de_wh: str = "",
           fr_wh: str = "") -> tuple[str, str, str]:
  """The three clause texts of ``frame_`` (no capital, no final punctuation)."""
  return (render_en(frame_.en, mode, en_wh),
          render_de(frame_.de, mode, de_wh),
          render_fr(frame_.fr, mode, fr_wh))
