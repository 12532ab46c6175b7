"""Tests of the built-in parallel corpus grammar (st_jax.data.grammar)."""

from __future__ import annotations

import collections
import re

import pytest

from st_jax.data import grammar
from st_jax.data.grammar import lexicon, numbers
from st_jax.data.grammar.morphology import NounPhrase, de_prepositional, fr_join

BIG = 20000


@pytest.fixture(scope="module")
def corpus() -> list[grammar.Sentence]:
  return grammar.generate(BIG, seed=0)


def triple(template: str, **slots: str) -> tuple[str, str, str]:
  sentence = grammar.render(template, slots)
  return sentence.en, sentence.de, sentence.fr


# --- generation ---------------------------------------------------------------------------


def test_generate_is_deterministic_and_seed_dependent():
  first, again, other = (grammar.generate(300, 1), grammar.generate(300, 1),
                         grammar.generate(300, 2))
  assert first == again
  assert [s.en for s in first] != [s.en for s in other]


def test_generate_returns_exactly_size_sentences():
  assert len(grammar.generate(0, 3)) == 0
  assert len(grammar.generate(17, 3)) == 17


def test_corpus_is_distinct_and_varied(corpus):
  assert len({s.en for s in corpus}) == BIG
  counts = collections.Counter(s.template for s in corpus)
  assert set(counts) == set(grammar.TEMPLATES)
  assert len(counts) >= 15
  assert max(counts.values()) / BIG <= 0.25


def test_word_counts_within_limits(corpus):
  lengths = [grammar.word_count(text) for s in corpus for text in (s.en, s.de, s.fr)]
  assert min(lengths) == 1 and max(lengths) <= grammar.MAX_WORDS
  assert sum(n <= 3 for n in lengths) >= 50
  assert sum(n >= 18 for n in lengths) >= 200


def test_sentences_are_capitalised_and_punctuated(corpus):
  for s in corpus:
    for text in (s.en, s.de, s.fr):
      assert text[0].isupper(), text
      assert text.endswith((".", "?")), text
    assert s.fr.endswith(" ?") == s.en.endswith("?") == s.de.endswith("?"), s
    assert not re.search(r"\d", s.en + s.de + s.fr), s  # numbers are spelled out
    assert "  " not in s.en + s.de + s.fr


def test_rendering_slots_reproduces_the_sentence(corpus):
  for s in corpus[:500]:
    assert grammar.render(s.template, dict(s.slots)) == s


def test_every_category_is_present(corpus):
  english = " ".join(s.en for s in corpus)
  german = " ".join(s.de for s in corpus)
  french = " ".join(s.fr for s in corpus)
  for needle in ("half past", "o'clock", " euros ", " cents", "on the ", " of May", "?",
                 " not ", " will ", " because ", " that ", "Thank you very much."):
    assert needle in english, needle
  for colour in lexicon.COLOURS:
    assert f" {colour} " in english, colour
  for needle in (", weil ", ", dass ", " halb ", " Uhr", "kein", " nicht ", " wird ", " am ",
                 "Weil "):
    assert needle in german, needle
  for needle in ("Est-ce qu", " n'", " pas ", " parce qu", "l'", " au ", " aux ", " du ",
                 " et demie", "quatre-vingt", " est allée ", " se sont ", "-t-"):
    assert needle in french, needle
  tenses = collections.Counter(dict(s.slots).get("tense") for s in corpus)
  assert tenses["present"] and tenses["past"] and tenses["future"]


# --- numbers, times, dates, prices ---------------------------------------------------------


@pytest.mark.parametrize("n, en, de, fr", [
    (1, "one", "eins", "un"), (7, "seven", "sieben", "sept"),
    (16, "sixteen", "sechzehn", "seize"), (21, "twenty-one", "einundzwanzig", "vingt et un"),
    (70, "seventy", "siebzig", "soixante-dix"),
    (71, "seventy-one", "einundsiebzig", "soixante et onze"),
    (80, "eighty", "achtzig", "quatre-vingts"),
    (81, "eighty-one", "einundachtzig", "quatre-vingt-un"),
    (91, "ninety-one", "einundneunzig", "quatre-vingt-onze"),
    (97, "ninety-seven", "siebenundneunzig", "quatre-vingt-dix-sept"),
    (99, "ninety-nine", "neunundneunzig", "quatre-vingt-dix-neuf"),
])
def test_numbers(n, en, de, fr):
  assert numbers.numbers(n) == (en, de, fr)


def test_feminine_french_numbers():
  assert numbers.fr_number(21, feminine=True) == "vingt et une"
  assert numbers.fr_number(81, feminine=True) == "quatre-vingt-une"
  assert numbers.fr_number(1, feminine=True) == "une"


@pytest.mark.parametrize("time, expected", [
    ((7, 30), ("at half past seven", "um halb acht", "à sept heures et demie")),
    ((1, 0), ("at one o'clock", "um ein Uhr", "à une heure")),
    ((1, 30), ("at half past one", "um halb zwei", "à une heure et demie")),
    ((8, 45), ("at a quarter to nine", "um Viertel vor neun", "à neuf heures moins le quart")),
    ((3, 15), ("at a quarter past three", "um Viertel nach drei", "à trois heures et quart")),
    ((10, 50), ("at ten to eleven", "um zehn vor elf", "à onze heures moins dix")),
    ((5, 20), ("at twenty past five", "um zwanzig nach fünf", "à cinq heures vingt")),
])
def test_times(time, expected):
  assert numbers.at_time(*time) == expected


@pytest.mark.parametrize("date, expected", [
    ((3, 5), ("on the third of May", "am dritten Mai", "le trois mai")),
    ((1, 1), ("on the first of January", "am ersten Januar", "le premier janvier")),
    ((7, 7), ("on the seventh of July", "am siebten Juli", "le sept juillet")),
    ((21, 3), ("on the twenty-first of March", "am einundzwanzigsten März",
               "le vingt et un mars")),
    ((31, 12), ("on the thirty-first of December", "am einunddreißigsten Dezember",
                "le trente et un décembre")),
])
def test_dates(date, expected):
  assert numbers.on_date(*date) == expected


def test_invalid_values_are_rejected():
  for bad in (lambda: numbers.on_date(30, 2), lambda: numbers.clock_time(11, 45),
              lambda: numbers.price(1, 50), lambda: numbers.en_number(101)):
    with pytest.raises(ValueError):
      bad()


def test_prices():
  assert numbers.price(3, 50) == ("three euros fifty", "drei Euro fünfzig",
                                  "trois euros cinquante")
  assert numbers.price(80, 0) == ("eighty euros", "achtzig Euro", "quatre-vingts euros")
  assert numbers.price(0, 99) == ("ninety-nine cents", "neunundneunzig Cent",
                                  "quatre-vingt-dix-neuf centimes")


# --- noun phrases ----------------------------------------------------------------------------


def test_german_declension():
  red = (lexicon.COLOURS["red"],)
  hat = lexicon.OBJECTS["hat"]
  assert NounPhrase(hat, "def", red).de("nom") == "der rote Hut"
  assert NounPhrase(hat, "indef", red).de("acc") == "einen roten Hut"
  assert de_prepositional("mit", NounPhrase(hat, "def", red), "dat") == "mit dem roten Hut"
  car = lexicon.OBJECTS["car"]
  assert NounPhrase(car, "indef", red).de("nom") == "ein rotes Auto"
  assert NounPhrase(car, "indef", red).de("acc", negated=True) == "kein rotes Auto"
  assert NounPhrase(lexicon.OBJECTS["bag"], "indef", red).de("dat") == "einer roten Tasche"
  assert NounPhrase(lexicon.FOODS["cake"], "count", red, count=3).de("acc") == \
      "drei rote Kuchen"
  assert de_prepositional("zu", NounPhrase(lexicon.PLACES["station"].noun), "dat") == \
      "zum Bahnhof"
  assert de_prepositional("in", NounPhrase(lexicon.PLACES["cinema"].noun), "acc") == "ins Kino"
  assert NounPhrase(lexicon.PEOPLE["child"], "def", plural=True).de("dat") == "den Kindern"
  assert NounPhrase(lexicon.PEOPLE["neighbour"]).de("acc") == "den Nachbarn"


def test_french_agreement_position_and_elision():
  assert NounPhrase(lexicon.OBJECTS["computer"], "indef",
                    (lexicon.QUALITIES["new"],)).fr() == "un nouvel ordinateur"
  car = NounPhrase(lexicon.OBJECTS["car"], "indef",
                   (lexicon.QUALITIES["big"], lexicon.COLOURS["white"]))
  assert (car.en(), car.fr()) == ("a big white car", "une grande voiture blanche")
  bags = NounPhrase(lexicon.OBJECTS["bag"], "indef", (lexicon.QUALITIES["big"],), plural=True)
  assert bags.fr() == "de grands sacs"
  assert fr_join(NounPhrase(lexicon.DRINKS["water"], "none").fr()) == "de l'eau"
  assert fr_join(NounPhrase(lexicon.DRINKS["tea"], "none").fr()) == "du thé"
  assert fr_join("à le marché , à les enfants , à la gare , à le école") == \
      "au marché , aux enfants , à la gare , à l'école"
  assert fr_join("je ai dit que il ne est pas le onze") == "j'ai dit qu'il n'est pas le onze"
  assert NounPhrase(lexicon.OBJECTS["clock"], "poss",
                    owner=lexicon.PRONOUNS["i"]).fr() == "mon horloge"


# --- templates: exact translations -------------------------------------------------------


def test_passe_compose_with_etre_and_agreement():
  assert triple("go_place_time", subject="anna", tense="past", negated="no", place="station",
                time="7:30", form="statement") == (
      "Anna went to the station at half past seven.",
      "Anna ist um halb acht zum Bahnhof gegangen.",
      "Anna est allée à la gare à sept heures et demie.")
  assert triple("arrive_date", subject="my_parents", tense="past", negated="yes",
                destination="france", date="3-5", form="statement") == (
      "My parents did not arrive in France on the third of May.",
      "Meine Eltern sind am dritten Mai nicht in Frankreich angekommen.",
      "Mes parents ne sont pas arrivés en France le trois mai.")
  assert triple("get_up_time", subject="she", tense="past", time="6:15", form="statement") == (
      "She got up at a quarter past six.", "Sie ist um Viertel nach sechs aufgestanden.",
      "Elle s'est levée à six heures et quart.")


def test_present_future_negation_and_separable_verbs():
  assert triple("get_up_time", subject="i", tense="present", time="7:00",
                form="statement") == (
      "I get up at seven o'clock.", "Ich stehe um sieben Uhr auf.", "Je me lève à sept heures.")
  assert triple("call_relative_day", subject="we", verb="call", relative="mother", day="6",
                fronted="yes", tense="present", negated="yes") == (
      "On Sunday, we do not call our mother.", "Am Sonntag rufen wir unsere Mutter nicht an.",
      "Dimanche, nous n'appelons pas notre mère.")
  assert triple("eat_drink", subject="anna", verb="drink", item="water", when="morning",
                tense="future", negated="yes") == (
      "Anna will not drink water in the morning.",
      "Anna wird am Morgen kein Wasser trinken.", "Anna ne boira pas d'eau le matin.")


def test_buying_with_price_and_declension():
  assert triple("buy_object_price", subject="i", tense="past", negated="no", quality="",
                colour="red", object="hat", price="12.50") == (
      "I bought a red hat for twelve euros fifty.",
      "Ich habe einen roten Hut für zwölf Euro fünfzig gekauft.",
      "J'ai acheté un chapeau rouge pour douze euros cinquante.")
  assert triple("buy_object_price", subject="paul", tense="present", negated="yes",
                quality="", colour="green", object="scarf", price="21.00") == (
      "Paul does not buy a green scarf for twenty-one euros.",
      "Paul kauft keinen grünen Schal für einundzwanzig Euro.",
      "Paul n'achète pas d'écharpe verte pour vingt et un euros.")
  assert triple("count_objects", subject="you", verb="have", tense="present", count="71",
                quality="", colour="yellow", object="car") == (
      "You have seventy-one yellow cars.", "Du hast einundsiebzig gelbe Autos.",
      "Tu as soixante et onze voitures jaunes.")


def test_dative_after_prepositions_and_indirect_objects():
  assert triple("give_object", subject="marie", tense="present", negated="no",
                recipient="child", quality="", colour="red", object="ball", det="def") == (
      "Marie gives the children the red ball.", "Marie gibt den Kindern den roten Ball.",
      "Marie donne le ballon rouge aux enfants.")
  assert triple("object_location", owner="", quality="", colour="black", object="cup",
                plural="no", preposition="next_to", location="bed", location_colour="",
                tense="present", form="statement", negated="no") == (
      "The black cup is next to the bed.", "Die schwarze Tasse ist neben dem Bett.",
      "La tasse noire est à côté du lit.")
  assert triple("go_with_companion", subject="tom", tense="future", place="park",
                companion="dog", colour="black") == (
      "Tom will go to the park with his black dog.",
      "Tom wird mit seinem schwarzen Hund in den Park gehen.",
      "Tom ira au parc avec son chien noir.")


def test_subordinate_clauses_put_the_german_verb_last():
  assert triple("because_clause", subject="anna", tense="present", main="get_up",
                reason="departure", order="main_first", time="6:00", vehicle="train",
                destination="berlin", time2="7:00") == (
      "Anna gets up at six o'clock because the train to Berlin leaves at seven o'clock.",
      "Anna steht um sechs Uhr auf, weil der Zug nach Berlin um sieben Uhr abfährt.",
      "Anna se lève à six heures parce que le train pour Berlin part à sept heures.")
  assert triple("because_clause", subject="paul", tense="past", main="stay_home",
                reason="state", order="reason_first", state="tired") == (
      "Because he was tired, Paul stayed at home.",
      "Weil er müde war, ist Paul zu Hause geblieben.",
      "Parce qu'il était fatigué, Paul est resté à la maison.")
  assert triple("that_clause", subject="i", verb="think", matrix_negated="no",
                subject2="emma", embedded="arrive", tense="past", negated="no",
                destination="vienna", date="1-8") == (
      "I think that Emma arrived in Vienna on the first of August.",
      "Ich glaube, dass Emma am ersten August in Wien angekommen ist.",
      "Je pense qu'Emma est arrivée à Vienne le premier août.")
  assert triple("indirect_question", subject="lisa", kind="when_opening", tense="present",
                place="bakery", verb="open") == (
      "Lisa does not know when the bakery opens.",
      "Lisa weiß nicht, wann die Bäckerei öffnet.",
      "Lisa ne sait pas quand la boulangerie ouvre.")


def test_questions():
  assert triple("go_place_time", subject="anna", tense="present", negated="no",
                place="school", time="8:00", form="yes_no") == (
      "Does Anna go to school at eight o'clock?", "Geht Anna um acht Uhr in die Schule?",
      "Est-ce qu'Anna va à l'école à huit heures ?")
  assert triple("go_place_time", subject="the_children", tense="past", negated="no",
                place="market", time="", form="when") == (
      "When did the children go to the market?", "Wann sind die Kinder zum Markt gegangen?",
      "Quand est-ce que les enfants sont allés au marché ?")
  assert triple("lives_in", subject="he", destination="paris", tense="present", negated="no",
                form="where") == ("Where does he live?", "Wo wohnt er?", "Où habite-t-il ?")
  assert triple("lives_in", subject="you", destination="paris", tense="future", negated="no",
                form="where") == ("Where will you live?", "Wo wirst du wohnen?",
                                  "Où habiteras-tu ?")
  assert triple("colour_question", owner="you", quality="new", object="car", plural="no",
                tense="present") == (
      "What colour is your new car?", "Welche Farbe hat dein neues Auto?",
      "De quelle couleur est ta nouvelle voiture ?")
  assert triple("object_price", owner="", quality="", colour="red", object="shoe",
                plural="yes", price="", tense="past", form="question") == (
      "How much did the red shoes cost?", "Wie viel haben die roten Schuhe gekostet?",
      "Combien ont coûté les chaussures rouges ?")
  assert triple("departure_time", vehicle="plane", direction="to", destination="italy",
                time="", tense="present", form="when") == (
      "When does the plane to Italy leave?", "Wann fliegt das Flugzeug nach Italien ab?",
      "Quand est-ce que l'avion pour l'Italie part ?")


def test_short_utterances_and_v2_after_fronted_adverbial():
  assert triple("short_utterance", phrase="thanks_much", name="") == (
      "Thank you very much.", "Vielen Dank.", "Merci beaucoup.")
  assert triple("short_utterance", phrase="how_are_you", name="emma") == (
      "How are you, Emma?", "Wie geht es dir, Emma?", "Comment vas-tu, Emma ?")
  assert triple("opening_hours", shop="bank", verb="open", time="", day="6", negated="yes",
                form="statement") == (
      "On Sundays, the bank does not open.", "Sonntags öffnet die Bank nicht.",
      "Le dimanche, la banque n'ouvre pas.")
  assert triple("birthday_date", owner="lukas", date="16-11", tense="present",
                form="statement") == (
      "Lukas's birthday is on the sixteenth of November.",
      "Lukas' Geburtstag ist am sechzehnten November.",
      "L'anniversaire de Lukas est le seize novembre.")


def test_unknown_template_is_reported():
  with pytest.raises(KeyError, match="unknown template"):
    grammar.render("no_such_template", {})


# --- question answering ---------------------------------------------------------------------


def test_qa_pairs_are_deterministic_distinct_and_varied():
  pairs = grammar.qa_pairs(400, seed=5)
  assert pairs == grammar.qa_pairs(400, seed=5)
  assert pairs != grammar.qa_pairs(400, seed=6)
  assert len({q for q, _ in pairs}) == 400
  questions = " ".join(q for q, _ in pairs)
  for needle in (" plus ", "What time is it in", "What colour is the", "How many",
                 "cost together", "Where is the", "Where does", "comes after", "bigger"):
    assert needle in questions, needle


def test_qa_answers_are_correct():
  words = {numbers.en_number(n): n for n in range(101)}
  checked = collections.Counter()
  for question, answer in grammar.qa_pairs(600, seed=0):
    if match := re.fullmatch(r"What is ([a-z-]+) (plus|minus|times) ([a-z-]+)\?", question):
      a, op, b = words[match[1]], match[2], words[match[3]]
      value = {"plus": a + b, "minus": a - b, "times": a * b}[op]
      assert answer == f"{match[1].capitalize()} {op} {match[3]} is " \
          f"{numbers.en_number(value)}.", question
      checked["arithmetic"] += 1
    elif match := re.fullmatch(r"What time is it in ([a-z-]+) hours? if it is ([a-z-]+) "
                               r"o'clock\?", question):
      hour = (words[match[2]] + words[match[1]] - 1) % 12 + 1
      assert answer == f"It is {numbers.en_number(hour)} o'clock.", question
      checked["clock"] += 1
    elif match := re.fullmatch(r"\w+ has an? (\w+) (\w+) and an? (\w+) (\w+)\. "
                               r"What colour is the (\w+)\?", question):
      colour = match[1] if match[5] == match[2] else match[3]
      assert answer == f"The {match[5]} is {colour}.", question
      checked["colour"] += 1
  assert min(checked.values()) >= 20 and len(checked) == 3
