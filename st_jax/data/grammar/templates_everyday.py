"""Everyday templates: short utterances, the time, ordering, counting, shopping, meals."""

from __future__ import annotations

import random

from st_jax.data.grammar import lexicon, numbers
from st_jax.data.grammar.clause import QUESTION, frame, render, render_fr_inverted
from st_jax.data.grammar.common import (NO, YES, Slots, Template, Triple, adjectives, choose,
                                        finish_all, negated, np_frame, sample_adjectives,
                                        sample_negated, sample_price, sample_subject,
                                        sample_tense, sample_time, subject)
from st_jax.data.grammar.morphology import NounPhrase
from st_jax.data.grammar.verbs import VERBS

# key: (en, de, fr, may be followed by a name, is a question)
SHORT_PHRASES = {
    "yes": ("yes", "ja", "oui", False, False),
    "no": ("no", "nein", "non", False, False),
    "thanks": ("thank you", "danke", "merci", True, False),
    "thanks_much": ("thank you very much", "vielen Dank", "merci beaucoup", False, False),
    "hello": ("hello", "hallo", "bonjour", True, False),
    "good_morning": ("good morning", "guten Morgen", "bonjour", True, False),
    "good_evening": ("good evening", "guten Abend", "bonsoir", True, False),
    "good_night": ("good night", "gute Nacht", "bonne nuit", True, False),
    "goodbye": ("goodbye", "auf Wiedersehen", "au revoir", True, False),
    "please": ("please", "bitte", "s'il vous plaît", False, False),
    "excuse_me": ("excuse me", "Entschuldigung", "excusez-moi", False, False),
    "of_course": ("of course", "natürlich", "bien sûr", False, False),
    "see_you_tomorrow": ("see you tomorrow", "bis morgen", "à demain", True, False),
    "welcome": ("welcome", "willkommen", "bienvenue", True, False),
    "good_luck": ("good luck", "viel Glück", "bonne chance", True, False),
    "sorry": ("I am sorry", "es tut mir leid", "je suis désolé", False, False),
    "how_are_you": ("how are you", "wie geht es dir", "comment vas-tu", True, True),
    "dont_know": ("I do not know", "ich weiß es nicht", "je ne sais pas", False, False),
    "very_good": ("very good", "sehr gut", "très bien", False, False),
    "no_thanks": ("no, thank you", "nein, danke", "non, merci", False, False),
    "yes_please": ("yes, please", "ja, bitte", "oui, s'il vous plaît", False, False),
    "maybe": ("maybe", "vielleicht", "peut-être", False, False),
    "happy_birthday": ("happy birthday", "alles Gute zum Geburtstag", "bon anniversaire",
                       True, False),
}


def _sample_short(rng: random.Random) -> dict[str, str]:
  phrase = choose(rng, SHORT_PHRASES)
  with_name = SHORT_PHRASES[phrase][3] and rng.random() < 0.6
  return {"phrase": phrase, "name": choose(rng, lexicon.NAMES) if with_name else ""}


def _render_short(slots: Slots) -> Triple:
  """'Thank you very much.' / 'Vielen Dank.' / 'Merci beaucoup.' (optionally ', Anna')."""
  *texts, _, question = SHORT_PHRASES[slots["phrase"]]
  if slots["name"]:
    name = lexicon.NAMES[slots["name"]].en
    texts = [f"{text}, {name}" for text in texts]
  return finish_all(tuple(texts), question)


def _sample_tell_time(rng: random.Random) -> dict[str, str]:
  return {"time": sample_time(rng), "already": choose(rng, (YES, NO)),
          "form": choose(rng, ("statement", "question"))}


def _render_tell_time(slots: Slots) -> Triple:
  """'It is half past seven.' / 'Es ist halb acht.' / 'Il est sept heures et demie.'"""
  en, de, fr = numbers.clock_time(*numbers.parse_time(slots["time"]))
  if slots["already"] == YES:
    en, de, fr = f"already {en}", f"schon {de}", f"déjà {fr}"
  if slots["form"] == "question":
    return finish_all((f"is it {en}", f"ist es {de}", f"est-ce qu'il est {fr}"), True)
  return finish_all((f"it is {en}", f"es ist {de}", f"il est {fr}"))


def _sample_order(rng: random.Random) -> dict[str, str]:
  container = choose(rng, lexicon.CONTAINER_CONTENTS)
  return {"subject": choose(rng, ("i", "we")), "count": str(rng.randint(1, 10)),
          "container": container, "content": choose(rng, lexicon.CONTAINER_CONTENTS[container]),
          "please": choose(rng, (YES, NO))}


def _render_order(slots: Slots) -> Triple:
  """'I would like two cups of coffee.' / 'Ich hätte gern zwei Tassen Kaffee.' / ..."""
  container = lexicon.CONTAINERS[slots["container"]]
  content = {**lexicon.DRINKS, **lexicon.FOODS}[slots["content"]]
  count = int(slots["count"])
  measure = (NounPhrase(container, "indef") if count == 1
             else NounPhrase(container, "count", count=count))
  en = f"{measure.en()} of {content.en}"
  de = f"{measure.de('acc')} {content.de}"
  fr = f"{measure.fr()} de {content.fr}"
  if slots["subject"] == "i":
    texts = (f"I would like {en}", f"ich hätte gern {de}", f"je voudrais {fr}")
  else:
    texts = (f"we would like {en}", f"wir hätten gern {de}", f"nous voudrions {fr}")
  if slots["please"] == YES:
    texts = tuple(f"{t}, {p}" for t, p in zip(texts, ("please", "bitte", "s'il vous plaît")))
  return finish_all(texts)


def _sample_count(rng: random.Random) -> dict[str, str]:
  verb = choose(rng, ("have", "buy", "see"))
  tense = sample_tense(rng, ("present", "past") if verb == "have" else
                       ("present", "past", "future"))
  kind = choose(rng, ("quality", "colour"))
  adjective = {"quality": choose(rng, lexicon.QUALITIES) if kind == "quality" else "",
               "colour": choose(rng, lexicon.COLOURS) if kind == "colour" else ""}
  return {"subject": sample_subject(rng), "verb": verb, "tense": tense,
          "count": str(rng.randint(2, 99)), **adjective, "object": choose(rng, lexicon.OBJECTS)}


def _render_count(slots: Slots) -> Triple:
  """'Anna has three red bags.' / 'Anna hat drei rote Taschen.' / ..."""
  things = NounPhrase(lexicon.OBJECTS[slots["object"]], "count", adjectives(slots),
                      count=int(slots["count"]))
  clause = frame(subject(slots), VERBS[slots["verb"]], slots["tense"], en=(things.en(),),
                 de=(things.de("acc"),), fr=(things.fr(),))
  return finish_all(render(clause))


def _sample_buy(rng: random.Random) -> dict[str, str]:
  return {"subject": sample_subject(rng), "tense": sample_tense(rng),
          "negated": sample_negated(rng), **sample_adjectives(rng),
          "object": choose(rng, lexicon.OBJECTS), "price": sample_price(rng)}


def _render_buy(slots: Slots) -> Triple:
  """'Anna bought a red hat for twelve euros.' / 'Anna hat einen roten Hut ... gekauft.'"""
  thing = NounPhrase(lexicon.OBJECTS[slots["object"]], "indef", adjectives(slots))
  en, de, fr = numbers.price(*numbers.parse_price(slots["price"]))
  neg = negated(slots)
  clause = frame(subject(slots), VERBS["buy"], slots["tense"], neg,
                 en=(thing.en(), "for", en), de=(thing.de("acc", neg), "für", de),
                 fr=(thing.fr(neg), "pour", fr), kein=True)
  return finish_all(render(clause))


def _sample_costs(rng: random.Random) -> dict[str, str]:
  form = choose(rng, ("statement", "statement", "question"))
  return {"owner": choose(rng, ("", "", "i", "you", "we")), **sample_adjectives(rng),
          "object": choose(rng, lexicon.OBJECTS), "plural": choose(rng, (YES, NO, NO)),
          "price": sample_price(rng) if form == "statement" else "",
          "tense": sample_tense(rng, ("present", "past")), "form": form}


def _render_costs(slots: Slots) -> Triple:
  """'The red bag costs three euros.' or 'How much does the red bag cost?'"""
  owner = lexicon.SUBJECTS[slots["owner"]] if slots["owner"] else None
  thing = NounPhrase(lexicon.OBJECTS[slots["object"]], "poss" if owner else "def",
                     adjectives(slots), slots["plural"] == YES, owner)
  if slots["form"] == "question":
    clause = np_frame(thing, VERBS["cost"], slots["tense"])
    en, de, _ = render(clause, QUESTION, en_wh="how much", de_wh="wie viel")
    return finish_all((en, de, render_fr_inverted(clause.fr, "combien")), True)
  price = numbers.price(*numbers.parse_price(slots["price"]))
  clause = np_frame(thing, VERBS["cost"], slots["tense"], en=price[:1], de=price[1:2],
                    fr=price[2:])
  return finish_all(render(clause))


# key: (en, de, fr) adverbials of time for meals.
MEAL_TIMES = {
    "morning": ("in the morning", "am Morgen", "le matin"),
    "evening": ("in the evening", "am Abend", "le soir"),
    "noon": ("at noon", "am Mittag", "à midi"),
    "every_day": ("every day", "jeden Tag", "tous les jours"),
    "breakfast": ("for breakfast", "zum Frühstück", "au petit déjeuner"),
    "dinner": ("for dinner", "zum Abendessen", "au dîner"),
}


def _sample_meal(rng: random.Random) -> dict[str, str]:
  verb = choose(rng, ("eat", "drink"))
  return {"subject": sample_subject(rng), "verb": verb,
          "item": choose(rng, lexicon.FOODS if verb == "eat" else lexicon.DRINKS),
          "when": choose(rng, MEAL_TIMES), "tense": sample_tense(rng),
          "negated": sample_negated(rng, 0.25)}


def _render_meal(slots: Slots) -> Triple:
  """'Anna drinks tea in the morning.' / 'Anna trinkt am Morgen Tee.' / 'Anna boit du thé le
  matin.'"""
  item = NounPhrase({**lexicon.FOODS, **lexicon.DRINKS}[slots["item"]], "none")
  en, de, fr = MEAL_TIMES[slots["when"]]
  neg = negated(slots)
  clause = frame(subject(slots), VERBS[slots["verb"]], slots["tense"], neg,
                 en=(item.en(), en), de=(de, item.de("acc", neg)), fr=(item.fr(neg), fr),
                 kein=True)
  return finish_all(render(clause))


TEMPLATES = (
    Template("short_utterance", _sample_short, _render_short, 0.4),
    Template("tell_time", _sample_tell_time, _render_tell_time, 0.3),
    Template("order_food", _sample_order, _render_order, 0.5),
    Template("count_objects", _sample_count, _render_count),
    Template("buy_object_price", _sample_buy, _render_buy),
    Template("object_price", _sample_costs, _render_costs),
    Template("eat_drink", _sample_meal, _render_meal),
)
