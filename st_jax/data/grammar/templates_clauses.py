"""Templates with subordinate clauses: 'because ...' (German verb-final after ``weil``, also
fronted: 'Weil es regnet, bleibt Anna zu Hause.'), 'that ...' (``dass``) and indirect
questions ('I do not know when the train leaves.' / 'Ich weiß nicht, wann der Zug abfährt.').
"""

from __future__ import annotations

import random

from st_jax.data.grammar import lexicon, numbers
from st_jax.data.grammar.clause import (SUBORDINATE, Clause, Frame, frame, render, render_de,
                                        render_en, render_fr)
from st_jax.data.grammar.common import (NO, YES, Slots, Template, Triple, choose, finish_all,
                                        np_subject_frame, sample_date, sample_negated,
                                        sample_subject, sample_tense, sample_time, subject)
from st_jax.data.grammar.morphology import NounPhrase
from st_jax.data.grammar.templates_people import (ALL_PLACES, arrive_frame,
                                                  birthday_subjects, get_up_frame, go_frame,
                                                  lives_frame)
from st_jax.data.grammar.templates_things import departure_frame, opening_frame
from st_jax.data.grammar.verbs import VERBS

# main clause: reasons that make sense for it
MAIN_REASONS = {
    "stay_home": ("rain", "state"),
    "take_umbrella": ("rain",),
    "go": ("departure", "closing"),
    "not_go": ("rain", "state", "no_time"),
    "get_up": ("departure",),
    "buy_gift": ("birthday",),
}
REASON_STATES = ("tired", "ill")


def _main_frame(slots: Slots) -> Frame:
  """The main clause named by the ``main`` slot."""
  person, tense, main = subject(slots), slots["tense"], slots["main"]
  if main == "stay_home":
    return frame(person, VERBS["stay"], tense, en=("at home",), de=("zu Hause",),
                 fr=("à la maison",))
  if main == "take_umbrella":
    umbrella = NounPhrase(lexicon.OBJECTS["umbrella"], "poss", owner=person)
    return frame(person, VERBS["take_along"], tense, en=(umbrella.en(),),
                 de=(umbrella.de("acc"),), fr=(umbrella.fr(),))
  if main in ("go", "not_go"):
    return go_frame(person, slots["place"], slots.get("time", ""), tense, main == "not_go")
  if main == "get_up":
    return get_up_frame(person, slots["time"], tense)
  gift = NounPhrase(lexicon.OBJECTS[slots["object"]], "indef")
  return frame(person, VERBS["buy"], tense, en=(gift.en(),), de=(gift.de("acc"),),
               fr=(gift.fr(),))


def _reason_frame(slots: Slots) -> Frame:
  """The 'because' clause; its tense is past when the main clause is, else present."""
  tense = "past" if slots["tense"] == "past" else "present"
  reason = slots["reason"]
  if reason == "rain":
    return np_subject_frame(("it", "es", "il"), "3s", "m", VERBS["rain"], tense)
  if reason in ("state", "no_time"):
    person = lexicon.pronoun_for(subject(slots))
    if reason == "no_time":
      return Frame(Clause(person.en, person.person, VERBS["have"], tense, words=("no time",)),
                   Clause(person.de, person.person, VERBS["have"], tense,
                          words=("keine Zeit",)),
                   Clause(person.fr, person.person, VERBS["have"], tense, True, ("le temps",),
                          person.gender))
    state = lexicon.STATES[slots["state"]]
    return frame(person, VERBS["be"], tense, en=(state.en,), de=(state.de,),
                 fr=(state.fr_form(person.gender, person.plural),))
  if reason == "departure":
    return departure_frame(slots["vehicle"], "to", slots["destination"], slots["time2"], tense)
  if reason == "closing":
    return opening_frame(slots["place"], "close", slots["time2"], tense)
  en, de, fr = birthday_subjects(lexicon.NAMES[slots["name"]])
  return Frame(Clause("it", "3s", VERBS["be"], tense, words=(en,)),
               Clause(lexicon.NAMES[slots["name"]].de, "3s", VERBS["have"], tense,
                      words=("Geburtstag",)),
               Clause("ce", "3s", VERBS["be"], tense, words=(fr,)))


def _sample_because(rng: random.Random) -> dict[str, str]:
  main = choose(rng, MAIN_REASONS)
  reason = choose(rng, MAIN_REASONS[main])
  person = sample_subject(rng)
  slots = {"subject": person, "tense": sample_tense(rng), "main": main, "reason": reason,
           "order": choose(rng, ("main_first", "main_first", "reason_first"))}
  if main == "go":
    slots["place"] = choose(rng, ("station", "airport") if reason == "departure" else
                            lexicon.SHOPS)
  elif main == "not_go":
    slots["place"] = choose(rng, ALL_PLACES)
  if main in ("go", "get_up"):
    slots["time"] = choose(rng, [t for t in ALL_TIMES if _minutes(t) <= 9 * 60])
  if main == "buy_gift":
    slots["object"] = choose(rng, lexicon.OBJECTS)
    slots["name"] = choose(rng, [n for n in lexicon.NAMES if n != person])
  if reason == "state":
    slots["state"] = choose(rng, REASON_STATES)
  if reason == "departure":
    slots["vehicle"] = choose(rng, ("plane",) if slots.get("place") == "airport" else
                              ("train", "bus"))
    slots["destination"] = choose(rng, lexicon.DESTINATIONS)
  if reason in ("departure", "closing"):
    slots["time2"] = _later_time(rng, slots.get("time", ""))
  return slots


def _minutes(time: str) -> int:
  hour, minute = time.split(":")
  return int(hour) * 60 + int(minute)


# Every clock time the grammar can say, as slot strings.
ALL_TIMES = tuple(f"{h}:{m:02d}" for h in range(1, 12) for m in numbers.CLOCK_MINUTES
                  if h <= (10 if m >= 40 else 11))


def _later_time(rng: random.Random, time: str) -> str:
  """A clock time 30 to 120 minutes after ``time`` (any time when ``time`` is '')."""
  if not time:
    return sample_time(rng)
  return choose(rng, [t for t in ALL_TIMES if 30 <= _minutes(t) - _minutes(time) <= 120])


def _render_because(slots: Slots) -> Triple:
  """Main clause + 'because' clause, either order (German weil: verb last)."""
  main, reason = _main_frame(slots), _reason_frame(slots)
  because = (render_en(reason.en), render_de(reason.de, SUBORDINATE), render_fr(reason.fr))
  if slots["order"] == "main_first":
    en, de, fr = render(main)
    return finish_all((f"{en} because {because[0]}", f"{de}, weil {because[1]}",
                       f"{fr} parce que {because[2]}"))
  return finish_all((f"because {because[0]}, {render_en(main.en)}",
                     render_de(main.de, front=f"weil {because[1]},"),
                     f"parce que {because[2]}, {render_fr(main.fr)}"))


EMBEDDED = ("go", "arrive", "lives", "get_up")
MATRIX_VERBS = ("think", "know", "say")


def _embedded_frame(slots: Slots) -> Frame:
  """The clause after 'that' / 'dass' / 'que'."""
  person, tense, neg = subject(slots, "subject2"), slots["tense"], slots["negated"] == YES
  kind = slots["embedded"]
  if kind == "go":
    return go_frame(person, slots["place"], slots["time"], tense, neg)
  if kind == "arrive":
    return arrive_frame(person, slots["destination"], slots["date"], tense, neg)
  if kind == "lives":
    return lives_frame(person, slots["destination"], tense, neg)
  return get_up_frame(person, slots["time"], tense)


def _sample_that(rng: random.Random) -> dict[str, str]:
  speaker = sample_subject(rng, ("name", "pronoun"))
  verb = choose(rng, MATRIX_VERBS)
  kind = choose(rng, EMBEDDED)
  # French 'ne pas penser / dire que' wants the subjunctive: only 'know' is negated (and
  # not by 'I': 'I do not know that ...' is odd).
  may_negate = verb == "know" and speaker != "i"
  slots = {"subject": speaker, "verb": verb,
           "matrix_negated": sample_negated(rng, 0.3) if may_negate else NO,
           "subject2": sample_subject(rng, ("name", "group"), exclude=(speaker,)),
           "embedded": kind, "tense": sample_tense(rng),
           "negated": sample_negated(rng) if kind != "get_up" else NO}
  if kind == "go":
    slots.update(place=choose(rng, ALL_PLACES), time=sample_time(rng))
  elif kind in ("arrive", "lives"):
    slots["destination"] = choose(rng, lexicon.DESTINATIONS)
    if kind == "arrive":
      slots["date"] = sample_date(rng)
  else:
    slots["time"] = sample_time(rng)
  return slots


def _render_that(slots: Slots) -> Triple:
  """'Paul thinks that Anna arrived ...' / 'Paul glaubt, dass Anna ... angekommen ist.'"""
  matrix = frame(subject(slots), VERBS[slots["verb"]], "present",
                 slots["matrix_negated"] == YES)
  inner = _embedded_frame(slots)
  en, de, fr = render(matrix)
  return finish_all((f"{en} that {render_en(inner.en)}",
                     f"{de}, dass {render_de(inner.de, SUBORDINATE)}",
                     f"{fr} que {render_fr(inner.fr)}"))


# indirect question kinds: (en, de, fr wh-word)
INDIRECT_WH = {"when_departure": ("when", "wann", "quand"),
               "when_opening": ("when", "wann", "quand"),
               "where_lives": ("where", "wo", "où")}


def _sample_indirect(rng: random.Random) -> dict[str, str]:
  kind = choose(rng, INDIRECT_WH)
  slots = {"subject": sample_subject(rng, ("name", "pronoun")), "kind": kind,
           "tense": sample_tense(rng, ("present", "future"))}
  if kind == "when_departure":
    slots.update(vehicle=choose(rng, lexicon.VEHICLES), destination=choose(
        rng, lexicon.DESTINATIONS))
  elif kind == "when_opening":
    slots.update(place=choose(rng, lexicon.SHOPS), verb=choose(rng, ("open", "close")))
  else:
    slots["subject2"] = sample_subject(rng, ("name", "group"), exclude=(slots["subject"],))
  return slots


def _render_indirect(slots: Slots) -> Triple:
  """'Anna does not know when the bank opens.' / 'Anna weiß nicht, wann die Bank öffnet.'"""
  kind, tense = slots["kind"], slots["tense"]
  if kind == "when_departure":
    inner = departure_frame(slots["vehicle"], "to", slots["destination"], "", tense)
  elif kind == "when_opening":
    inner = opening_frame(slots["place"], slots["verb"], "", tense)
  else:
    inner = lives_frame(subject(slots, "subject2"), "", tense, False, with_place=False)
  matrix = frame(subject(slots), VERBS["know"], "present", True)
  en, de, fr = render(matrix)
  wh = INDIRECT_WH[kind]
  return finish_all((f"{en} {wh[0]} {render_en(inner.en)}",
                     f"{de}, {wh[1]} {render_de(inner.de, SUBORDINATE)}",
                     f"{fr} {wh[2]} {render_fr(inner.fr)}"))


TEMPLATES = (
    Template("because_clause", _sample_because, _render_because, 1.5),
    Template("that_clause", _sample_that, _render_that),
    Template("indirect_question", _sample_indirect, _render_indirect, 0.6),
)
