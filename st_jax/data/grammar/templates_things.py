"""Templates about things and places: where things are, what colour they are, opening
hours, trains and planes, animals asleep on the furniture.

``departure_frame`` and ``opening_frame`` are reused by the subordinate-clause templates.
"""

from __future__ import annotations

import random

from st_jax.data.grammar import lexicon, numbers
from st_jax.data.grammar.clause import (QUESTION, Frame, render, render_de, render_en,
                                        render_fr, render_fr_inverted)
from st_jax.data.grammar.common import (NO, YES, Slots, Template, Triple, adjectives, choose,
                                        finish_all, negated, np_frame, np_subject_frame,
                                        sample_adjectives, sample_negated, sample_tense,
                                        sample_time, weekday)
from st_jax.data.grammar.morphology import NounPhrase, de_prepositional
from st_jax.data.grammar.verbs import VERBS

# key: (en, de (with dative), fr)
PREPOSITIONS = {"on": ("on", "auf", "sur"), "under": ("under", "unter", "sous"),
                "behind": ("behind", "hinter", "derrière"),
                "next_to": ("next to", "neben", "à côté de"), "in": ("in", "in", "dans")}
LOCATIONS = {**lexicon.FURNITURE, "box": lexicon.OBJECTS["box"], "bag": lexicon.OBJECTS["bag"]}
OWNERS = ("", "", "", "i", "you", "we")
# Objects too big to lie on, under or in the furniture.
VEHICLE_SIZED = ("car", "bicycle")


def location_phrase(preposition: str, location: NounPhrase) -> Triple:
  """'under the old table' / 'unter dem alten Tisch' / 'sous la vieille table'."""
  en, de, fr = PREPOSITIONS[preposition]
  return (f"{en} {location.en()}", de_prepositional(de, location, "dat"),
          f"{fr} {location.fr()}")


def _thing(slots: Slots, table: dict) -> NounPhrase:
  """The subject phrase named by the owner/quality/colour/object/plural slots."""
  owner = lexicon.SUBJECTS[slots["owner"]] if slots.get("owner") else None
  return NounPhrase(table[slots["object"]], "poss" if owner else "def", adjectives(slots),
                    slots.get("plural") == YES, owner)


def _sample_location(rng: random.Random) -> dict[str, str]:
  location = choose(rng, lexicon.LOCATION_PREPOSITIONS)
  form = choose(rng, ("statement", "statement", "where", "yes_no"))
  return {"owner": choose(rng, OWNERS), **sample_adjectives(rng, colour_p=0.6),
          "object": choose(rng, [o for o in lexicon.OBJECTS
                                 if o not in (location, *VEHICLE_SIZED)]),
          "plural": choose(rng, (YES, NO, NO)),
          "preposition": choose(rng, lexicon.LOCATION_PREPOSITIONS[location]),
          "location": location,
          "location_colour": choose(rng, lexicon.COLOURS) if rng.random() < 0.3 else "",
          "tense": sample_tense(rng), "form": form,
          "negated": sample_negated(rng) if form == "statement" else NO}


def _render_location(slots: Slots) -> Triple:
  """'The red bag is under the table.' or 'Where is the red bag?'"""
  thing = _thing(slots, lexicon.OBJECTS)
  colour = (lexicon.COLOURS[slots["location_colour"]],) if slots["location_colour"] else ()
  place = location_phrase(slots["preposition"],
                          NounPhrase(LOCATIONS[slots["location"]], "def", colour))
  if slots["form"] == "where":
    clause = np_frame(thing, VERBS["be"], slots["tense"])
    return finish_all((render_en(clause.en, QUESTION, "where"),
                       render_de(clause.de, QUESTION, "wo"),
                       render_fr_inverted(clause.fr, "où")), True)
  clause = np_frame(thing, VERBS["be"], slots["tense"], negated(slots), en=place[:1],
                    de=place[1:2], fr=place[2:], nicht_at=0)
  question = slots["form"] == "yes_no"
  return finish_all(render(clause, QUESTION if question else "statement"), question)


DESCRIBABLE = {**lexicon.OBJECTS, **lexicon.ANIMALS}
PREDICATES = {**lexicon.COLOURS, **lexicon.QUALITIES}


def _sample_describe(rng: random.Random) -> dict[str, str]:
  thing = choose(rng, DESCRIBABLE)
  is_animal = thing in lexicon.ANIMALS
  predicate = choose(rng, lexicon.ANIMAL_COLOURS if is_animal else PREDICATES)
  form = choose(rng, ("statement", "statement", "yes_no"))
  quality = choose(rng, [q for q in lexicon.QUALITIES if q != predicate])
  return {"owner": choose(rng, OWNERS), "quality": quality if rng.random() < 0.4 else "",
          "object": thing, "plural": choose(rng, (YES, NO, NO)), "predicate": predicate,
          "tense": sample_tense(rng, ("present", "past")), "form": form,
          "negated": sample_negated(rng) if form == "statement" else NO}


def _render_describe(slots: Slots) -> Triple:
  """'My bag is red.' / 'Meine Tasche ist rot.' / 'Mon sac est rouge.' (or a yes/no question)"""
  thing = _thing(slots, DESCRIBABLE)
  adjective = PREDICATES[slots["predicate"]]
  french = adjective.fr_form(thing.noun.fr_gender, thing.is_plural)
  clause = np_frame(thing, VERBS["be"], slots["tense"], negated(slots), en=(adjective.en,),
                    de=(adjective.de,), fr=(french,), nicht_at=0)
  question = slots["form"] == "yes_no"
  return finish_all(render(clause, QUESTION if question else "statement"), question)


def _sample_colour_question(rng: random.Random) -> dict[str, str]:
  return {"owner": choose(rng, OWNERS),
          "quality": choose(rng, lexicon.QUALITIES) if rng.random() < 0.5 else "",
          "object": choose(rng, DESCRIBABLE), "plural": choose(rng, (YES, NO, NO)),
          "tense": sample_tense(rng, ("present", "past"))}


def _render_colour_question(slots: Slots) -> Triple:
  """'What colour is the bag?' / 'Welche Farbe hat die Tasche?' / 'De quelle couleur ...'"""
  clause = np_frame(_thing(slots, DESCRIBABLE), VERBS["be"], slots["tense"],
                    de_verb=VERBS["have"])
  return finish_all((render_en(clause.en, QUESTION, "what colour"),
                     render_de(clause.de, QUESTION, "welche Farbe"),
                     render_fr_inverted(clause.fr, "de quelle couleur")), True)


def opening_frame(shop: str, verb: str, time: str, tense: str = "present",
                  negated_: bool = False, extra: Triple = ("", "", "")) -> Frame:
  """'the bakery opens at seven o'clock' / 'die Bäckerei öffnet um sieben Uhr' / ...;
  ``extra`` words (e.g. 'on Sundays') follow in each language."""
  at = numbers.at_time(*numbers.parse_time(time)) if time else ("", "", "")
  return np_frame(NounPhrase(lexicon.PLACES[shop].noun, "def"), VERBS[verb], tense, negated_,
                  en=tuple(w for w in (at[0], extra[0]) if w),
                  de=tuple(w for w in (extra[1], at[1]) if w),
                  fr=tuple(w for w in (at[2], extra[2]) if w))


def _sample_opening(rng: random.Random) -> dict[str, str]:
  form = choose(rng, ("statement", "statement", "when"))
  neg = sample_negated(rng, 0.2) if form == "statement" else NO
  return {"shop": choose(rng, lexicon.SHOPS), "verb": choose(rng, ("open", "close")),
          "time": sample_time(rng) if form == "statement" and neg == NO else "",
          "day": str(rng.randrange(7)) if neg == YES or rng.random() < 0.5 else "",
          "negated": neg, "form": form}


def _render_opening(slots: Slots) -> Triple:
  """'On Sundays, the bank does not open.' / 'Sonntags öffnet die Bank nicht.' / ..."""
  day = weekday(slots["day"], habitual=True) if slots["day"] else None
  if slots["form"] == "when":
    clause = opening_frame(slots["shop"], slots["verb"], "", extra=day or ("", "", ""))
    return finish_all(render(clause, QUESTION, en_wh="when", de_wh="wann", fr_wh="quand"),
                      True)
  clause = opening_frame(slots["shop"], slots["verb"], slots["time"], negated_=negated(slots))
  if not day:
    return finish_all(render(clause))
  return finish_all((f"{day[0]}, {render_en(clause.en)}", render_de(clause.de, front=day[1]),
                     f"{day[2]}, {render_fr(clause.fr)}"))


def departure_frame(vehicle: str, direction: str, destination: str, time: str,
                    tense: str = "present") -> Frame:
  """'the train to Berlin leaves at seven o'clock' / 'der Zug nach Berlin fährt um sieben Uhr
  ab' / 'le train pour Berlin part à sept heures' (direction 'from': arrives / kommt an)."""
  place = lexicon.DESTINATIONS[destination]
  phrase = NounPhrase(lexicon.VEHICLES[vehicle], "def")
  if direction == "to":
    subjects = (f"{phrase.en()} to {place.en}", f"{phrase.de('nom')} nach {place.de}",
                f"{phrase.fr()} pour {place.fr_named}")
    verb, de_verb = VERBS["leave"], VERBS["fly_off" if vehicle == "plane" else "leave"]
  else:
    subjects = (f"{phrase.en()} from {place.en}", f"{phrase.de('nom')} aus {place.de}",
                f"{phrase.fr()} de {place.fr}")
    verb = de_verb = VERBS["arrive"]
  at = numbers.at_time(*numbers.parse_time(time)) if time else ()
  return np_subject_frame(subjects, "3s", phrase.noun.fr_gender, verb, tense, en=at[:1],
                          de=at[1:2], fr=at[2:], de_verb=de_verb)


def _sample_departure(rng: random.Random) -> dict[str, str]:
  direction = choose(rng, ("to", "to", "from"))
  form = choose(rng, ("statement", "statement", "when"))
  return {"vehicle": choose(rng, lexicon.VEHICLES), "direction": direction,
          "destination": choose(rng, lexicon.DESTINATIONS if direction == "to" else
                                lexicon.CITIES),
          "time": sample_time(rng) if form == "statement" else "",
          "tense": sample_tense(rng), "form": form}


def _render_departure(slots: Slots) -> Triple:
  """'The train to Berlin leaves at seven o'clock.' or 'When does the train ... leave?'"""
  clause = departure_frame(slots["vehicle"], slots["direction"], slots["destination"],
                           slots["time"], slots["tense"])
  if slots["form"] == "when":
    return finish_all(render(clause, QUESTION, en_wh="when", de_wh="wann", fr_wh="quand"),
                      True)
  return finish_all(render(clause))


SLEEPERS = ("dog", "cat", "bird", "rabbit")


def _sample_animal(rng: random.Random) -> dict[str, str]:
  location = choose(rng, lexicon.FURNITURE)
  return {"colour": choose(rng, lexicon.ANIMAL_COLOURS), "animal": choose(rng, SLEEPERS),
          "plural": choose(rng, (YES, NO, NO)), "location": location,
          "preposition": choose(rng, lexicon.LOCATION_PREPOSITIONS[location]),
          "tense": sample_tense(rng), "negated": sample_negated(rng)}


def _render_animal(slots: Slots) -> Triple:
  """'The black cat sleeps on the sofa.' / 'Die schwarze Katze schläft auf dem Sofa.'"""
  animal = NounPhrase(lexicon.ANIMALS[slots["animal"]], "def", adjectives(slots),
                      slots["plural"] == YES)
  place = location_phrase(slots["preposition"],
                          NounPhrase(lexicon.FURNITURE[slots["location"]], "def"))
  clause = np_frame(animal, VERBS["sleep"], slots["tense"], negated(slots), en=place[:1],
                    de=place[1:2], fr=place[2:], nicht_at=0)
  return finish_all(render(clause))


TEMPLATES = (
    Template("object_location", _sample_location, _render_location),
    Template("describe_object", _sample_describe, _render_describe),
    Template("colour_question", _sample_colour_question, _render_colour_question, 0.6),
    Template("opening_hours", _sample_opening, _render_opening),
    Template("departure_time", _sample_departure, _render_departure),
    Template("animal_sleeps", _sample_animal, _render_animal, 0.7),
)
