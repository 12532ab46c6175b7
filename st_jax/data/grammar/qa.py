"""English question -> answer pairs from the same vocabulary, for a small response model.

Every answer is computed, not looked up: arithmetic, clock arithmetic, the colour or place of
something mentioned in the question's context sentence, counting, adding prices, the next
or previous weekday and month, comparing numbers.
"""

from __future__ import annotations

import random
from typing import Callable

from st_jax.data.grammar import lexicon
from st_jax.data.grammar.morphology import NounPhrase, en_indefinite
from st_jax.data.grammar.numbers import MONTHS, WEEKDAYS, en_number

Pair = tuple[str, str]


def _cap(text: str) -> str:
  return text[:1].upper() + text[1:]


def _hours(n: int) -> str:
  return "one hour" if n == 1 else f"{en_number(n)} hours"


def arithmetic(rng: random.Random) -> Pair:
  """'What is three plus four?' -> 'Three plus four is seven.' (results 0..100)."""
  operation = rng.choice(("plus", "minus", "times"))
  if operation == "plus":
    a = rng.randint(0, 50)
    b = rng.randint(0, 50)
    result = a + b
  elif operation == "minus":
    a = rng.randint(0, 100)
    b = rng.randint(0, a)
    result = a - b
  else:
    a, b = rng.randint(0, 10), rng.randint(0, 10)
    result = a * b
  statement = f"{en_number(a)} {operation} {en_number(b)}"
  return f"What is {statement}?", f"{_cap(statement)} is {en_number(result)}."


def clock_arithmetic(rng: random.Random) -> Pair:
  """'What time is it in two hours if it is ten o'clock?' -> 'It is twelve o'clock.'"""
  start, later = rng.randint(1, 12), rng.randint(1, 11)
  end = (start + later - 1) % 12 + 1
  return (f"What time is it in {_hours(later)} if it is {en_number(start)} o'clock?",
          f"It is {en_number(end)} o'clock.")


def colour_of(rng: random.Random) -> Pair:
  """'Anna has a red bag and a blue hat. What colour is the hat?' -> 'The hat is blue.'"""
  owner = lexicon.NAMES[rng.choice(sorted(lexicon.NAMES))]
  first, second = rng.sample(sorted(lexicon.OBJECTS), 2)
  colour1, colour2 = rng.sample(sorted(lexicon.COLOURS), 2)
  things = [NounPhrase(lexicon.OBJECTS[k], "indef", (lexicon.COLOURS[c],))
            for k, c in ((first, colour1), (second, colour2))]
  asked, colour = rng.choice(((first, colour1), (second, colour2)))
  noun = lexicon.OBJECTS[asked].en
  return (f"{owner.en} has {things[0].en()} and {things[1].en()}. What colour is the {noun}?",
          f"The {noun} is {colour}.")


def count_after_buying(rng: random.Random) -> Pair:
  """'Anna has three bags and buys two more. How many bags does Anna have now?'"""
  owner = lexicon.NAMES[rng.choice(sorted(lexicon.NAMES))]
  noun = lexicon.OBJECTS[rng.choice(sorted(lexicon.OBJECTS))]
  have, more = rng.randint(2, 20), rng.randint(1, 20)
  return (f"{owner.en} has {en_number(have)} {noun.en_pl} and buys {en_number(more)} more. "
          f"How many {noun.en_pl} does {owner.en} have now?",
          f"{owner.en} has {en_number(have + more)} {noun.en_pl} now.")


def total_price(rng: random.Random) -> Pair:
  """'A bag costs three euros and a hat costs four euros. How much do they cost together?'"""
  first, second = rng.sample(sorted(lexicon.OBJECTS), 2)
  price1, price2 = rng.randint(2, 45), rng.randint(2, 45)
  parts = [f"{en_indefinite(k)} {k} costs {en_number(p)} euros"
           for k, p in ((first, price1), (second, price2))]
  return (f"{_cap(parts[0])} and {parts[1]}. How much do they cost together?",
          f"Together they cost {en_number(price1 + price2)} euros.")


def where_is(rng: random.Random) -> Pair:
  """'The key is under the table and the pen is on the chair. Where is the pen?'"""
  first, second = rng.sample(sorted(lexicon.OBJECTS), 2)
  facts = []
  for thing in (first, second):
    location = rng.choice(sorted(lexicon.FURNITURE))
    preposition = rng.choice(lexicon.LOCATION_PREPOSITIONS[location]).replace("_", " ")
    facts.append(f"the {thing} is {preposition} the {location}")
  answer = rng.choice(facts)
  thing = answer.split(" is ")[0][4:]
  return f"{_cap(facts[0])} and {facts[1]}. Where is the {thing}?", f"{_cap(answer)}."


def who_goes_where(rng: random.Random) -> Pair:
  """'Anna goes to the station and Paul goes to the park. Where does Paul go?'"""
  person1, person2 = rng.sample(sorted(lexicon.NAMES), 2)
  place1, place2 = rng.sample(sorted(lexicon.PLACES), 2)
  facts = [(lexicon.NAMES[p].en, lexicon.PLACES[q].en_to) for p, q in
           ((person1, place1), (person2, place2))]
  name, place = rng.choice(facts)
  return (f"{facts[0][0]} goes {facts[0][1]} and {facts[1][0]} goes {facts[1][1]}. "
          f"Where does {name} go?", f"{name} goes {place}.")


def next_in_cycle(rng: random.Random) -> Pair:
  """'What day comes after Monday?' -> 'Tuesday comes after Monday.' (also months)."""
  names, kind = rng.choice(((WEEKDAYS, "day"), (MONTHS, "month")))
  index = rng.randrange(len(names))
  direction = rng.choice(("after", "before"))
  other = names[(index + (1 if direction == "after" else -1)) % len(names)][0]
  question = "What day" if kind == "day" else "Which month"
  return (f"{question} comes {direction} {names[index][0]}?",
          f"{other} comes {direction} {names[index][0]}.")


def bigger_number(rng: random.Random) -> Pair:
  """'Which number is bigger, seven or twelve?' -> 'Twelve is bigger than seven.'"""
  a, b = rng.sample(range(101), 2)
  return (f"Which number is bigger, {en_number(a)} or {en_number(b)}?",
          f"{_cap(en_number(max(a, b)))} is bigger than {en_number(min(a, b))}.")


QA_KINDS: dict[str, Callable[[random.Random], Pair]] = {
    "arithmetic": arithmetic, "clock": clock_arithmetic, "colour": colour_of,
    "count": count_after_buying, "price": total_price, "where": where_is,
    "who_where": who_goes_where, "next": next_in_cycle, "compare": bigger_number,
}


def qa_pairs(size: int, seed: int) -> list[Pair]:
  """``size`` distinct (question, answer) pairs, deterministic for ``seed``."""
  rng = random.Random(f"qa-{seed}")
  kinds = sorted(QA_KINDS)
  pairs: list[Pair] = []
  seen: set[str] = set()
  for _ in range(size * 100 + 1000):
    if len(pairs) == size:
      return pairs
    question, answer = QA_KINDS[rng.choice(kinds)](rng)
    if question not in seen:
      seen.add(question)
      pairs.append((question, answer))
  if len(pairs) == size:
    return pairs
  raise ValueError(f"could not make {size} distinct question-answer pairs")
