"""Shared pieces of the sentence templates: the ``Template`` record, slot samplers, phrases.

A template has a ``sample(rng) -> slots`` function that picks slot values (strings: lexicon
keys, ``"7:30"``, ``"3-5"``, ``"12.50"``, ``"past"``, ...) and a ``render(slots)`` function
that turns them into the finished (en, de, fr) sentences. Rendering is deterministic, so
tests can render a template with hand-picked slots and compare exact strings.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Callable, Mapping

from st_jax.data.grammar import lexicon, numbers
from st_jax.data.grammar.clause import Clause, Frame, TENSES
from st_jax.data.grammar.lexicon import Adjective, Subject
from st_jax.data.grammar.morphology import NounPhrase, de_prepositional, finish
from st_jax.data.grammar.verbs import VERBS, Verb

Triple = tuple[str, str, str]
Slots = Mapping[str, str]
YES, NO = "yes", "no"


@dataclasses.dataclass(frozen=True)
class Template:
  """A named sentence template (see the module docstring)."""
  name: str
  sample: Callable[[random.Random], dict[str, str]]
  render: Callable[[Slots], Triple]
  weight: float = 1.0


def finish_all(texts: Triple, question: bool = False) -> Triple:
  """Capitalises and punctuates the three texts (French elision included)."""
  return tuple(finish(text, lang, question) for text, lang in zip(texts, ("en", "de", "fr")))


def choose(rng: random.Random, options) -> str:
  """One of ``options`` (a sequence or the keys of a mapping)."""
  return rng.choice(sorted(options) if isinstance(options, (dict, set, frozenset)) else
                    list(options))


def sample_subject(rng: random.Random, kinds: tuple[str, ...] = ("name", "pronoun", "group"),
                   exclude: tuple[str, ...] = ()) -> str:
  """A subject key: names half of the time, then pronouns, then groups (my brother, ...)."""
  weights = {"name": 5, "pronoun": 3, "group": 2}
  kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
  table = {"name": lexicon.NAMES, "pronoun": lexicon.PRONOUNS, "group": lexicon.GROUPS}[kind]
  return choose(rng, [k for k in sorted(table) if k not in exclude])


def sample_tense(rng: random.Random, tenses: tuple[str, ...] = TENSES) -> str:
  """A tense slot, present most often."""
  return rng.choices(tenses, [{"present": 45, "past": 35, "future": 20}[t] for t in tenses])[0]


def sample_negated(rng: random.Random, probability: float = 0.2) -> str:
  """The ``negated`` slot: YES with ``probability``."""
  return YES if rng.random() < probability else NO


def sample_time(rng: random.Random) -> str:
  """A clock time slot 'h:mm' that ``numbers.clock_time`` accepts."""
  minute = choose(rng, numbers.CLOCK_MINUTES)
  return f"{rng.randint(1, 10 if minute >= 40 else 11)}:{minute:02d}"


def sample_date(rng: random.Random) -> str:
  """A date slot 'day-month'."""
  month = rng.randint(1, 12)
  return f"{rng.randint(1, numbers.DAYS_IN_MONTH[month - 1])}-{month}"


def sample_price(rng: random.Random) -> str:
  """A price slot 'euros.cents' that ``numbers.price`` accepts (mostly with euros)."""
  euros = 0 if rng.random() < 0.1 else rng.randint(2, 99)
  cents = choose(rng, [c for c in numbers.PRICE_CENTS if euros or c])
  return f"{euros}.{cents:02d}"


def sample_adjectives(rng: random.Random, quality_p: float = 0.3,
                      colour_p: float = 0.8) -> dict[str, str]:
  """Slots ``quality`` and ``colour`` ('' when absent); next to a colour only qualities that
  French puts before the noun (un grand sac rouge), never two adjectives after it."""
  colour = choose(rng, lexicon.COLOURS) if rng.random() < colour_p else ""
  qualities = [k for k, a in lexicon.QUALITIES.items() if a.fr_before_noun or not colour]
  return {"quality": choose(rng, qualities) if rng.random() < quality_p else "",
          "colour": colour}


def adjectives(slots: Slots) -> tuple[Adjective, ...]:
  """The adjectives named by the ``quality`` and ``colour`` slots, in English order."""
  found = []
  if slots.get("quality"):
    found.append(lexicon.QUALITIES[slots["quality"]])
  if slots.get("colour"):
    found.append(lexicon.COLOURS[slots["colour"]])
  return tuple(found)


def subject(slots: Slots, name: str = "subject") -> Subject:
  """The lexicon subject named by slot ``name``."""
  return lexicon.SUBJECTS[slots[name]]


def negated(slots: Slots) -> bool:
  """Whether the ``negated`` slot says yes."""
  return slots.get("negated") == YES


def weekday(index: str, habitual: bool = False) -> Triple:
  """'on Sunday' / 'am Sonntag' / 'dimanche', or habitually 'on Sundays' / 'sonntags' /
  'le dimanche'."""
  en, de, fr = numbers.WEEKDAYS[int(index)]
  if habitual:
    return f"on {en}s", de.lower() + "s", f"le {fr}"
  return f"on {en}", f"am {de}", fr


def np_frame(phrase: NounPhrase, verb: Verb, tense: str = "present", negated_: bool = False,
             *, en: tuple[str, ...] = (), de: tuple[str, ...] = (), fr: tuple[str, ...] = (),
             nicht_at: int | None = None, de_verb: Verb | None = None) -> Frame:
  """A frame whose subject is a noun phrase ('the red bag', 'der Zug nach Berlin')."""
  return np_subject_frame((phrase.en(), phrase.de("nom"), phrase.fr()), phrase.person,
                          phrase.noun.fr_gender, verb, tense, negated_, en=en, de=de, fr=fr,
                          nicht_at=nicht_at, de_verb=de_verb)


def np_subject_frame(subjects: Triple, person: str, fr_gender: str, verb: Verb,
                     tense: str = "present", negated_: bool = False, *,
                     en: tuple[str, ...] = (), de: tuple[str, ...] = (),
                     fr: tuple[str, ...] = (), nicht_at: int | None = None,
                     de_verb: Verb | None = None) -> Frame:
  """A frame from explicit subject texts (en, de, fr)."""
  return Frame(Clause(subjects[0], person, verb, tense, negated_, en),
               Clause(subjects[1], person, de_verb or verb, tense, negated_, de, fr_gender,
                      nicht_at),
               Clause(subjects[2], person, verb, tense, negated_, fr, fr_gender))


@dataclasses.dataclass(frozen=True)
class PlacePhrases:
  """How to say 'to X' and 'at X' for a place or destination, and the German verb of going."""
  to: Triple
  at: Triple
  de_go: Verb


def place_phrases(key: str) -> PlacePhrases:
  """Phrases for a ``PLACES`` or ``DESTINATIONS`` key: 'zum Bahnhof', 'à la gare', ..."""
  if key in lexicon.DESTINATIONS:
    destination = lexicon.DESTINATIONS[key]
    return PlacePhrases(destination.to(), destination.in_(), VERBS["travel"])
  place = lexicon.PLACES[key]
  phrase = NounPhrase(place.noun, "def")
  to_case = "dat" if place.de_to == "zu" else "acc"
  to = (place.en_to, de_prepositional(place.de_to, phrase, to_case), f"à {phrase.fr()}")
  at = (place.en_at, de_prepositional(place.de_at, phrase, "dat"), f"à {phrase.fr()}")
  return PlacePhrases(to, at, VERBS["travel" if place.de_travel else "go"])
