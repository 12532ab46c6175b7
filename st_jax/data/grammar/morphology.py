"""Noun phrases and spelling rules: German declension, French agreement/elision, English a/an.

``NounPhrase`` renders one noun with determiner and adjectives in each language::

  np = NounPhrase(OBJECTS["car"], "def", (COLOURS["red"],))
  np.en()        -> "the red car"
  np.de("dat")   -> "dem roten Auto"
  np.fr()        -> "la voiture rouge"

French elision and contraction (``le école`` -> ``l'école``, ``à le`` -> ``au``) are applied
to whole sentences by ``fr_join``, so builders can simply put words next to each other.
"""

from __future__ import annotations

import dataclasses

from st_jax.data.grammar.lexicon import Adjective, Noun, Subject
from st_jax.data.grammar.numbers import de_number, en_number, fr_number

CASES = ("nom", "acc", "dat")
_DE_DEFINITE = {
    "nom": {"m": "der", "f": "die", "n": "das", "pl": "die"},
    "acc": {"m": "den", "f": "die", "n": "das", "pl": "die"},
    "dat": {"m": "dem", "f": "der", "n": "dem", "pl": "den"},
}
# Endings of ein/kein/mein (plural only for kein/mein).
_DE_EIN_ENDINGS = {
    "nom": {"m": "", "f": "e", "n": "", "pl": "e"},
    "acc": {"m": "en", "f": "e", "n": "", "pl": "e"},
    "dat": {"m": "em", "f": "er", "n": "em", "pl": "en"},
}
_DE_ADJECTIVE_ENDINGS = {
    "weak": {"nom": {"m": "e", "f": "e", "n": "e", "pl": "en"},
             "acc": {"m": "en", "f": "e", "n": "e", "pl": "en"},
             "dat": {"m": "en", "f": "en", "n": "en", "pl": "en"}},
    "mixed": {"nom": {"m": "er", "f": "e", "n": "es", "pl": "en"},
              "acc": {"m": "en", "f": "e", "n": "es", "pl": "en"},
              "dat": {"m": "en", "f": "en", "n": "en", "pl": "en"}},
    "strong": {"nom": {"m": "er", "f": "e", "n": "es", "pl": "e"},
               "acc": {"m": "en", "f": "e", "n": "es", "pl": "e"},
               "dat": {"m": "em", "f": "er", "n": "em", "pl": "en"}},
}
_DE_CONTRACTIONS = {("zu", "dem"): "zum", ("zu", "der"): "zur", ("in", "dem"): "im",
                    ("in", "das"): "ins", ("an", "dem"): "am", ("an", "das"): "ans",
                    ("bei", "dem"): "beim", ("von", "dem"): "vom"}
_EN_POSSESSIVE = {"1s": "my", "2s": "your", "1p": "our", "3p": "their"}
_DE_POSSESSIVE = {"1s": "mein", "2s": "dein", "1p": "unser", "3p": "ihr"}
_FR_POSSESSIVE = {"1s": ("mon", "ma", "mes"), "2s": ("ton", "ta", "tes"),
                  "3s": ("son", "sa", "ses"), "1p": ("notre", "notre", "nos"),
                  "3p": ("leur", "leur", "leurs")}
_FR_ELIDING = {"je", "me", "te", "se", "le", "la", "de", "ne", "que", "ce"}
_FR_CONTRACTIONS = {("à", "le"): "au", ("à", "les"): "aux", ("de", "le"): "du",
                    ("de", "les"): "des"}
# Words before which nothing elides although they start with a vowel letter or an h.
_FR_NO_ELISION = ("huit", "onze", "oui", "haricot", "héros")


def en_possessive(owner: Subject) -> str:
  """my / your / his / her / our / their."""
  return _EN_POSSESSIVE.get(owner.person) or ("her" if owner.gender == "f" else "his")


def de_possessive_stem(owner: Subject) -> str:
  """mein / dein / sein / ihr / unser / ihr (before the ein-word ending)."""
  return _DE_POSSESSIVE.get(owner.person) or ("ihr" if owner.gender == "f" else "sein")


def en_indefinite(next_word: str) -> str:
  """'a' or 'an' before ``next_word`` (by its first letter)."""
  word = next_word.lower()
  return "an" if word[:1] in "aeiou" and not word.startswith(("eu", "one", "uni")) else "a"


def fr_starts_with_vowel(word: str) -> bool:
  """True when French elides before ``word`` (vowel or mute h)."""
  word = word.lower()
  if word.startswith(_FR_NO_ELISION):
    return False
  return word == "y" or word[:1] in "aeiouàâäéèêëîïôöûüœh"


def fr_join(text: str) -> str:
  """Applies French elision and article contraction to a space-separated sentence.

  ``je ai`` -> ``j'ai``, ``que Anna`` -> ``qu'Anna``, ``à le marché`` -> ``au marché``,
  ``de le eau`` -> ``de l'eau``, ``à les enfants`` -> ``aux enfants``.
  """
  elided: list[str] = []
  for token in text.split():
    prev = elided[-1].lower() if elided else ""
    elides = prev in _FR_ELIDING and fr_starts_with_vowel(token)
    if prev == "ce" and not token.lower().startswith(("e", "é")):
      elides = False
    if elides or (prev == "si" and token.lower() in ("il", "ils")):
      elided[-1] = elided[-1][:-1] + "'" + token
    else:
      elided.append(token)
  joined: list[str] = []
  for token in elided:
    pair = (joined[-1].lower(), token) if joined else None
    if pair in _FR_CONTRACTIONS:
      contracted = _FR_CONTRACTIONS[pair]
      joined[-1] = contracted.capitalize() if joined[-1][0].isupper() else contracted
    else:
      joined.append(token)
  return " ".join(joined)


def finish(text: str, lang: str, question: bool = False) -> str:
  """A sentence from space-separated words: French elision, capital letter, final . or ?"""
  if lang == "fr":
    text = fr_join(text)
  text = " ".join(text.split())
  end = "?" if question else "."
  if lang == "fr" and question:
    end = " ?"
  return text[:1].upper() + text[1:] + end


def _gender_key(noun: Noun, plural: bool) -> str:
  return "pl" if plural else noun.de_gender


def de_noun_form(noun: Noun, case: str, plural: bool) -> str:
  """The German noun in ``case``: dative plural -n (den Äpfeln), weak masculines (Nachbarn)."""
  if plural:
    word = noun.de_pl
    return word + "n" if case == "dat" and not word.endswith(("n", "s")) else word
  return noun.de_oblique if case != "nom" and noun.de_oblique else noun.de


def de_adjective(adjective: Adjective, declension: str, case: str, gender_key: str) -> str:
  """A declined German attributive adjective: (weak, dat, m) -> roten."""
  return adjective.de_stem + _DE_ADJECTIVE_ENDINGS[declension][case][gender_key]


@dataclasses.dataclass(frozen=True)
class NounPhrase:
  """A noun with determiner and adjectives, rendered in each language.

  ``det``: "def" (the), "indef" (a / some), "none" (bare: mass nouns, partitive in French),
  "poss" (possessive of ``owner``), "count" (a number word, always plural).
  ``negated`` in ``de``/``fr`` turns an indefinite or bare phrase into kein / de.
  """
  noun: Noun
  det: str = "def"
  adjectives: tuple[Adjective, ...] = ()
  plural: bool = False
  owner: Subject | None = None
  count: int = 0

  @property
  def is_plural(self) -> bool:
    return self.plural or self.det == "count"

  @property
  def person(self) -> str:
    """The grammatical person of the phrase as a subject."""
    return "3p" if self.is_plural else "3s"

  def en(self) -> str:
    """English: 'the red car', 'an old hat', 'three red cars', 'her new bag'."""
    words = [a.en for a in self.adjectives]
    words.append(self.noun.en_pl if self.is_plural else self.noun.en)
    if self.det == "def":
      return " ".join(["the"] + words)
    if self.det == "poss":
      return " ".join([en_possessive(self.owner)] + words)
    if self.det == "count":
      return " ".join([en_number(self.count)] + words)
    if self.det == "indef" and not self.is_plural:
      return " ".join([en_indefinite(words[0])] + words)
    return " ".join(words)

  def de(self, case: str, negated: bool = False) -> str:
    """German in ``case`` (nom/acc/dat): 'den roten Wagen', 'keine rote Tasche'."""
    gender_key = _gender_key(self.noun, self.is_plural)
    det = "kein" if negated and self.det in ("indef", "none") else self.det
    if det == "def":
      article, declension = _DE_DEFINITE[case][gender_key], "weak"
    elif det in ("kein", "poss") or (det == "indef" and not self.is_plural):
      stem = {"kein": "kein", "indef": "ein"}.get(det) or de_possessive_stem(self.owner)
      article, declension = stem + _DE_EIN_ENDINGS[case][gender_key], "mixed"
    elif det == "count":
      article, declension = de_number(self.count), "strong"
    else:
      article, declension = "", "strong"
    words = [article] if article else []
    words += [de_adjective(a, declension, case, gender_key) for a in self.adjectives]
    words.append(de_noun_form(self.noun, case, self.is_plural))
    return " ".join(words)

  def fr(self, negated: bool = False) -> str:
    """French: 'la voiture rouge', 'un nouvel ordinateur', 'de grands sacs', 'du thé'."""
    gender, plural = self.noun.fr_gender, self.is_plural
    noun_word = self.noun.fr_pl if plural else self.noun.fr
    before = [a for a in self.adjectives if a.fr_before_noun]
    before_words = [a.fr_form(gender, plural) for a in before]
    if before and not plural and gender == "m" and fr_starts_with_vowel(noun_word):
      before_words[-1] = before[-1].fr_ms_vowel or before_words[-1]
    # English order is quality before colour; after a French noun the colour comes first.
    after_words = [a.fr_form(gender, plural) for a in reversed(self.adjectives)
                   if not a.fr_before_noun]
    body = before_words + [noun_word] + after_words
    return " ".join([self._fr_determiner(body[0], negated)] + body)

  def _fr_determiner(self, first_word: str, negated: bool) -> str:
    gender, plural = self.noun.fr_gender, self.is_plural
    if negated and self.det in ("indef", "none"):
      return "de"
    if self.det == "def":
      return "les" if plural else ("la" if gender == "f" else "le")
    if self.det == "poss":
      masculine, feminine, many = _FR_POSSESSIVE[self.owner.person]
      if plural:
        return many
      return feminine if gender == "f" and not fr_starts_with_vowel(first_word) else masculine
    if self.det == "count":
      return fr_number(self.count, feminine=gender == "f")
    if plural:
      has_adjective_before = any(a.fr_before_noun for a in self.adjectives)
      return "de" if has_adjective_before and self.det == "indef" else "des"
    if self.det == "indef":
      return "une" if gender == "f" else "un"
    return "de la" if gender == "f" else "de le"  # partitive; fr_join makes du / de l'


def de_prepositional(preposition: str, phrase: NounPhrase, case: str,
                     negated: bool = False) -> str:
  """German preposition + phrase with the usual contractions: 'zum Bahnhof', 'im Park'."""
  words = phrase.de(case, negated).split(" ", 1)
  contracted = _DE_CONTRACTIONS.get((preposition, words[0]))
  if contracted and phrase.det == "def":
    return " ".join([contracted] + words[1:])
  return f"{preposition} {phrase.de(case, negated)}"
