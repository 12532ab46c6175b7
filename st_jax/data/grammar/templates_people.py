"""Templates about people: going places, arriving, birthdays, getting up, giving, calling,
living somewhere, working or playing somewhere, going with someone.

The ``*_frame`` builders are reused by the subordinate-clause templates.
"""

from __future__ import annotations

import random

from st_jax.data.grammar import lexicon, numbers
from st_jax.data.grammar.clause import (QUESTION, Frame, frame, render, render_en, render_de,
                                        render_fr_inverted)
from st_jax.data.grammar.common import (NO, YES, Slots, Template, Triple, adjectives, choose,
                                        finish_all, negated, np_subject_frame, place_phrases,
                                        sample_adjectives, sample_date, sample_negated,
                                        sample_subject, sample_tense, sample_time, subject,
                                        weekday)
from st_jax.data.grammar.lexicon import Subject
from st_jax.data.grammar.morphology import NounPhrase
from st_jax.data.grammar.verbs import VERBS

ALL_PLACES = tuple(sorted(lexicon.PLACES)) + tuple(sorted(lexicon.DESTINATIONS))


def go_frame(person: Subject, place: str, time: str, tense: str, negated_: bool,
             with_place: bool = True) -> Frame:
  """'Anna goes to the station at seven o'clock' / 'Anna geht um sieben Uhr zum Bahnhof'.

  ``time`` '' leaves the time out; without the place (where-questions) German uses 'gehen'.
  """
  phrases = place_phrases(place)
  at = numbers.at_time(*numbers.parse_time(time)) if time else ()
  parts = [(at, bool(time)), (phrases.to, with_place)]
  en = [p[0] for p, used in reversed(parts) if used]
  de = [p[1] for p, used in parts if used]
  fr = [p[2] for p, used in reversed(parts) if used]
  return frame(person, VERBS["go"], tense, negated_, en=tuple(en), de=tuple(de), fr=tuple(fr),
               nicht_at=len(de) - 1 if with_place else None,
               de_verb=phrases.de_go if with_place else VERBS["go"])


def _sample_go(rng: random.Random) -> dict[str, str]:
  form = choose(rng, ("statement",) * 3 + ("yes_no", "when", "where"))
  return {"subject": sample_subject(rng), "tense": sample_tense(rng),
          "negated": sample_negated(rng, 0.25) if form == "statement" else NO,
          "place": choose(rng, ALL_PLACES), "time": "" if form == "when" else sample_time(rng),
          "form": form}


def _render_go(slots: Slots) -> Triple:
  """Statement, yes/no, when- or where-question about going somewhere at a time."""
  form, person = slots["form"], subject(slots)
  args = (person, slots["place"], slots["time"], slots["tense"], negated(slots))
  if form == "statement":
    return finish_all(render(go_frame(*args)))
  if form == "yes_no":
    return finish_all(render(go_frame(*args), QUESTION), True)
  if form == "when":
    args = (person, slots["place"], "", slots["tense"], False)
    return finish_all(render(go_frame(*args), QUESTION, en_wh="when",
                             de_wh="wann", fr_wh="quand"), True)
  return finish_all(render(go_frame(*args, with_place=False), QUESTION, en_wh="where",
                           de_wh="wohin", fr_wh="où"), True)


def arrive_frame(person: Subject, destination: str, date: str, tense: str, negated_: bool,
                 with_date: bool = True) -> Frame:
  """'Anna arrives in Berlin on the third of May' / 'Anna kommt am dritten Mai in Berlin an'."""
  place = lexicon.DESTINATIONS[destination].in_()
  when = numbers.on_date(*numbers.parse_date(date)) if with_date else ("", "", "")
  de = tuple(w for w in (when[1], place[1]) if w)
  return frame(person, VERBS["arrive"], tense, negated_,
               en=tuple(w for w in (place[0], when[0]) if w), de=de,
               fr=tuple(w for w in (place[2], when[2]) if w), nicht_at=len(de) - 1)


def _sample_arrive(rng: random.Random) -> dict[str, str]:
  form = choose(rng, ("statement", "statement", "when"))
  return {"subject": sample_subject(rng), "tense": sample_tense(rng),
          "negated": sample_negated(rng) if form == "statement" else NO,
          "destination": choose(rng, lexicon.DESTINATIONS), "date": sample_date(rng),
          "form": form}


def _render_arrive(slots: Slots) -> Triple:
  """'Anna arrives in Berlin on the third of May.' or 'When does Anna arrive in Berlin?'"""
  args = (subject(slots), slots["destination"], slots["date"], slots["tense"], negated(slots))
  if slots["form"] == "when":
    return finish_all(render(arrive_frame(*args, with_date=False), QUESTION, en_wh="when",
                             de_wh="wann", fr_wh="quand"), True)
  return finish_all(render(arrive_frame(*args)))


_BIRTHDAY = lexicon.Noun("birthday", "birthday", "birthdays", "Geburtstag", "Geburtstage", "m",
                         "anniversaire", "anniversaires", "m")
BIRTHDAY_OWNERS = tuple(sorted(lexicon.NAMES)) + ("i", "you", "he", "she")


def birthday_subjects(owner: Subject) -> Triple:
  """"Anna's birthday" / "Annas Geburtstag" / "le anniversaire de Anna" (elided later)."""
  if owner.kind == "name":
    genitive = owner.de + ("'" if owner.de.endswith(("s", "x", "z")) else "s")
    return f"{owner.en}'s birthday", f"{genitive} Geburtstag", f"le anniversaire de {owner.fr}"
  birthday = NounPhrase(_BIRTHDAY, "poss", owner=owner)
  return birthday.en(), birthday.de("nom"), birthday.fr()


def _sample_birthday(rng: random.Random) -> dict[str, str]:
  return {"owner": choose(rng, BIRTHDAY_OWNERS), "date": sample_date(rng),
          "tense": sample_tense(rng, ("present", "past")),
          "form": choose(rng, ("statement", "statement", "question"))}


def _render_birthday(slots: Slots) -> Triple:
  """'Anna's birthday is on the third of May.' or 'When is Anna's birthday?'"""
  en_s, de_s, fr_s = birthday_subjects(lexicon.SUBJECTS[slots["owner"]])
  on = numbers.on_date(*numbers.parse_date(slots["date"]))
  question = slots["form"] == "question"
  clause = np_subject_frame((en_s, de_s, fr_s), "3s", "m", VERBS["be"], slots["tense"],
                            **({} if question else {"en": on[:1], "de": on[1:2], "fr": on[2:]}))
  if question:
    return finish_all((render_en(clause.en, QUESTION, "when"), render_de(clause.de, QUESTION,
                       "wann"), render_fr_inverted(clause.fr, "quand")), True)
  return finish_all(render(clause))


def get_up_frame(person: Subject, time: str, tense: str) -> Frame:
  """'Anna gets up at seven o'clock' / 'Anna steht um sieben Uhr auf' / 'Anna se lève ...'."""
  en, de, fr = numbers.at_time(*numbers.parse_time(time))
  return frame(person, VERBS["get_up"], tense, en=(en,), de=(de,), fr=(fr,))


def _sample_get_up(rng: random.Random) -> dict[str, str]:
  return {"subject": sample_subject(rng), "tense": sample_tense(rng), "time": sample_time(rng),
          "form": choose(rng, ("statement", "statement", "yes_no"))}


def _render_get_up(slots: Slots) -> Triple:
  """'Anna gets up at seven o'clock.' or 'Does Anna get up at seven o'clock?'"""
  clause = get_up_frame(subject(slots), slots["time"], slots["tense"])
  question = slots["form"] == "yes_no"
  return finish_all(render(clause, QUESTION if question else "statement"), question)


RECIPIENTS = tuple(sorted(lexicon.RELATIVES)) + ("teacher", "doctor", "neighbour", "child")


def recipient_phrase(key: str, owner: Subject) -> NounPhrase:
  """'her brother' (a relative of ``owner``), 'the teacher', 'the children'."""
  if key in lexicon.RELATIVES:
    return NounPhrase(lexicon.RELATIVES[key], "poss", owner=owner)
  return NounPhrase(lexicon.PEOPLE[key], "def", plural=key == "child")


def _sample_give(rng: random.Random) -> dict[str, str]:
  person = sample_subject(rng)
  recipient = choose(rng, [r for r in RECIPIENTS if r not in person])
  return {"subject": person, "tense": sample_tense(rng), "negated": sample_negated(rng),
          "recipient": recipient, **sample_adjectives(rng),
          "object": choose(rng, lexicon.OBJECTS), "det": choose(rng, ("indef", "indef", "def"))}


def _render_give(slots: Slots) -> Triple:
  """'Anna gives her brother a red book.' / 'Anna gibt ihrem Bruder ein rotes Buch.'"""
  person, neg = subject(slots), negated(slots)
  receiver = recipient_phrase(slots["recipient"], person)
  thing = NounPhrase(lexicon.OBJECTS[slots["object"]], slots["det"], adjectives(slots))
  clause = frame(person, VERBS["give"], slots["tense"], neg,
                 en=(receiver.en(), thing.en()),
                 de=(receiver.de("dat"), thing.de("acc", neg)),
                 fr=(thing.fr(neg), "à", receiver.fr()), kein=slots["det"] == "indef")
  return finish_all(render(clause))


def _sample_call(rng: random.Random) -> dict[str, str]:
  person = sample_subject(rng)
  return {"subject": person, "verb": choose(rng, ("call", "visit_person", "wait")),
          "relative": choose(rng, [r for r in lexicon.RELATIVES if r not in person]),
          "day": str(rng.randrange(7)), "fronted": choose(rng, (YES, NO)),
          "tense": sample_tense(rng), "negated": sample_negated(rng)}


def _render_call(slots: Slots) -> Triple:
  """'On Sunday, Anna calls her mother.' / 'Am Sonntag ruft Anna ihre Mutter an.'"""
  person, verb, fronted = subject(slots), slots["verb"], slots["fronted"] == YES
  relative = recipient_phrase(slots["relative"], person)
  day = weekday(slots["day"])
  en = [relative.en()] if verb != "wait" else ["for", relative.en()]
  de = [relative.de("acc")] if verb != "wait" else [f"auf {relative.de('acc')}"]
  fr = [relative.fr()] if verb != "visit_person" else ["visite", "à", relative.fr()]
  nicht_at = 0 if verb == "wait" else None
  if not fronted:
    en, de, fr = en + [day[0]], [day[1]] + de, fr + [day[2]]
    nicht_at = 1 if verb == "wait" else None
  clause = frame(person, VERBS[verb], slots["tense"], negated(slots), en=tuple(en),
                 de=tuple(de), fr=tuple(fr), nicht_at=nicht_at)
  if not fronted:
    return finish_all(render(clause))
  return finish_all((f"{day[0]}, {render_en(clause.en)}", render_de(clause.de, front=day[1]),
                     f"{day[2]}, {render(clause)[2]}"))


def lives_frame(person: Subject, destination: str, tense: str, negated_: bool,
                with_place: bool = True) -> Frame:
  """'Anna lives in Berlin' / 'Anna wohnt in Berlin' / 'Anna habite à Berlin'."""
  place = lexicon.DESTINATIONS[destination].in_() if with_place else ()
  return frame(person, VERBS["live"], tense, negated_, en=place[:1], de=place[1:2],
               fr=place[2:], nicht_at=0)


def _sample_lives(rng: random.Random) -> dict[str, str]:
  form = choose(rng, ("statement", "statement", "where"))
  person = sample_subject(rng, exclude=("i", "we") if form == "where" else ())
  return {"subject": person, "destination": choose(rng, lexicon.DESTINATIONS),
          "tense": sample_tense(rng, ("present", "future") if form == "where" else
                                ("present", "past", "future")),
          "negated": sample_negated(rng) if form == "statement" else NO, "form": form}


def _render_lives(slots: Slots) -> Triple:
  """'Anna lives in Berlin.' or 'Where does Anna live?' / 'Où habite Anna ?'"""
  args = (subject(slots), slots["destination"], slots["tense"], negated(slots))
  if slots["form"] == "where":
    clause = lives_frame(*args, with_place=False)
    return finish_all((render_en(clause.en, QUESTION, "where"),
                       render_de(clause.de, QUESTION, "wo"),
                       render_fr_inverted(clause.fr, "où")), True)
  return finish_all(render(lives_frame(*args)))


# activity: (verb, places where it happens)
ACTIVITIES = {
    "work": ("work", ("office", "hospital", "bank", "school", "bakery", "supermarket",
                      "library", "museum", "restaurant", "hotel", "pharmacy", "airport",
                      "station", "post office") + lexicon.CITIES),
    "play": ("play", ("park", "garden", "beach", "school")),
    "read": ("read", ("library", "park", "garden", "beach", "station", "airport", "office")),
}


def _sample_activity(rng: random.Random) -> dict[str, str]:
  activity = choose(rng, ACTIVITIES)
  return {"subject": sample_subject(rng), "activity": activity,
          "place": choose(rng, ACTIVITIES[activity][1]),
          "day": str(rng.randrange(7)) if rng.random() < 0.5 else "",
          "tense": sample_tense(rng), "negated": sample_negated(rng)}


def _render_activity(slots: Slots) -> Triple:
  """'Anna works at the hospital on Sunday.' / 'Anna arbeitet am Sonntag im Krankenhaus.'"""
  neg, reads = negated(slots), slots["activity"] == "read"
  at = place_phrases(slots["place"]).at
  day = weekday(slots["day"]) if slots["day"] else None
  book = NounPhrase(lexicon.OBJECTS["book"], "indef")
  en = ([book.en()] if reads else []) + [at[0]] + ([day[0]] if day else [])
  de = ([day[1]] if day else []) + [at[1]] + ([book.de("acc", neg)] if reads else [])
  fr = ([book.fr(neg)] if reads else []) + [at[2]] + ([day[2]] if day else [])
  clause = frame(subject(slots), VERBS[ACTIVITIES[slots["activity"]][0]], slots["tense"], neg,
                 en=tuple(en), de=tuple(de), fr=tuple(fr), nicht_at=1 if day else 0,
                 kein=reads)
  return finish_all(render(clause))


COMPANIONS = tuple(sorted(lexicon.RELATIVES)) + tuple(sorted(lexicon.ANIMALS))


def _sample_companion(rng: random.Random) -> dict[str, str]:
  person = sample_subject(rng)
  companion = choose(rng, [c for c in COMPANIONS if c not in person])
  colour = choose(rng, lexicon.ANIMAL_COLOURS) if companion in lexicon.ANIMALS else ""
  return {"subject": person, "tense": sample_tense(rng), "place": choose(rng, ALL_PLACES),
          "companion": companion, "colour": colour}


def _render_companion(slots: Slots) -> Triple:
  """'Anna goes to the park with her dog.' / 'Anna geht mit ihrem Hund in den Park.'"""
  person, key = subject(slots), slots["companion"]
  noun = lexicon.RELATIVES.get(key) or lexicon.ANIMALS[key]
  companion = NounPhrase(noun, "poss", adjectives(slots), owner=person)
  phrases = place_phrases(slots["place"])
  clause = frame(person, VERBS["go"], slots["tense"],
                 en=(phrases.to[0], "with", companion.en()),
                 de=(f"mit {companion.de('dat')}", phrases.to[1]),
                 fr=(phrases.to[2], "avec", companion.fr()), de_verb=phrases.de_go)
  return finish_all(render(clause))


TEMPLATES = (
    Template("go_place_time", _sample_go, _render_go),
    Template("arrive_date", _sample_arrive, _render_arrive),
    Template("birthday_date", _sample_birthday, _render_birthday, 0.7),
    Template("get_up_time", _sample_get_up, _render_get_up),
    Template("give_object", _sample_give, _render_give),
    Template("call_relative_day", _sample_call, _render_call),
    Template("lives_in", _sample_lives, _render_lives, 0.7),
    Template("activity_at_place", _sample_activity, _render_activity),
    Template("go_with_companion", _sample_companion, _render_companion),
)
