"""The vocabulary of the built-in corpus: nouns, adjectives, people, places, destinations.

Nouns carry their plural and gender per language (German m/f/n, French m/f); adjectives
carry the German stem used before endings and the four French forms plus their position.
Tables are written as ``|``-separated rows so that they read like a dictionary.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Noun:
  """A noun in English, German and French."""
  key: str
  en: str
  en_pl: str
  de: str
  de_pl: str
  de_gender: str          # "m", "f" or "n"
  fr: str
  fr_pl: str
  fr_gender: str          # "m" or "f"
  de_oblique: str = ""    # weak masculine singular outside the nominative (den Nachbarn)


@dataclasses.dataclass(frozen=True)
class Adjective:
  """An adjective; ``de_stem`` takes the declension endings (teuer -> teur-e)."""
  key: str
  en: str
  de: str
  de_stem: str
  fr_ms: str
  fr_fs: str
  fr_mp: str
  fr_fp: str
  fr_before_noun: bool
  fr_ms_vowel: str = ""   # masculine singular before a vowel (nouvel, vieil, bel)

  def fr_form(self, gender: str, plural: bool) -> str:
    """The French form agreeing with a noun of ``gender`` and number."""
    if plural:
      return self.fr_fp if gender == "f" else self.fr_mp
    return self.fr_fs if gender == "f" else self.fr_ms


@dataclasses.dataclass(frozen=True)
class Subject:
  """Who does something: a pronoun, a name or a noun phrase about people."""
  key: str
  en: str
  de: str
  fr: str
  person: str             # "1s", "2s", "3s", "1p" or "3p"
  gender: str             # "m" or "f" (French agreement, his/her, sein/ihr)
  kind: str               # "pronoun", "name" or "group"

  @property
  def plural(self) -> bool:
    return self.person.endswith("p")


@dataclasses.dataclass(frozen=True)
class Place:
  """A place in town with the prepositions each language uses to go there / be there."""
  noun: Noun
  en_to: str              # "to school", "to the station"
  en_at: str              # "at school", "in the park"
  de_to: str              # preposition of direction: "zu" (dative), "in"/"an" (accusative)
  de_at: str              # preposition of location (dative): "in", "an", "auf"
  de_travel: bool = False  # reached by vehicle: German "fahren" instead of "gehen"

  @property
  def key(self) -> str:
    return self.noun.key


@dataclasses.dataclass(frozen=True)
class Destination:
  """A city or country (German and French names, French article for countries)."""
  key: str
  en: str
  de: str
  fr: str                 # bare name: "Berlin", "France", "Allemagne"
  is_country: bool        # countries here are all feminine: "en France", "la France"

  @property
  def fr_named(self) -> str:
    """The name as a noun phrase: 'Berlin', 'la France' ('la Allemagne' elides later)."""
    return f"la {self.fr}" if self.is_country else self.fr

  def in_(self) -> tuple[str, str, str]:
    """'in Berlin' / 'in Berlin' / 'à Berlin'; 'in France' / 'in Frankreich' / 'en France'."""
    fr = f"en {self.fr}" if self.is_country else f"à {self.fr}"
    return f"in {self.en}", f"in {self.de}", fr

  def to(self) -> tuple[str, str, str]:
    """'to Berlin' / 'nach Berlin' / 'à Berlin'."""
    return f"to {self.en}", f"nach {self.de}", self.in_()[2]


def _nouns(table: str) -> dict[str, Noun]:
  """Parses rows ``en|en_pl|de|de_pl|g|fr|fr_pl|g[|de_oblique]`` keyed by the English word."""
  nouns = {}
  for row in table.strip().splitlines():
    fields = [f.strip() for f in row.split("|")]
    nouns[fields[0]] = Noun(fields[0], *fields)
  return nouns


def _adjectives(table: str) -> dict[str, Adjective]:
  """Parses rows ``en|de|de_stem|ms|fs|mp|fp|pre/post[|ms_vowel]``."""
  adjectives = {}
  for row in table.strip().splitlines():
    en, de, stem, ms, fs, mp, fp, position, *vowel = [f.strip() for f in row.split("|")]
    adjectives[en] = Adjective(en, en, de, stem, ms, fs, mp, fp, position == "pre", *vowel)
  return adjectives


# Things that have a colour and can be bought, carried, lost or given.
OBJECTS = _nouns("""
bag|bags|Tasche|Taschen|f|sac|sacs|m
book|books|Buch|Bücher|n|livre|livres|m
cup|cups|Tasse|Tassen|f|tasse|tasses|f
hat|hats|Hut|Hüte|m|chapeau|chapeaux|m
ball|balls|Ball|Bälle|m|ballon|ballons|m
pen|pens|Stift|Stifte|m|stylo|stylos|m
umbrella|umbrellas|Regenschirm|Regenschirme|m|parapluie|parapluies|m
shirt|shirts|Hemd|Hemden|n|chemise|chemises|f
dress|dresses|Kleid|Kleider|n|robe|robes|f
jacket|jackets|Jacke|Jacken|f|veste|vestes|f
lamp|lamps|Lampe|Lampen|f|lampe|lampes|f
bottle|bottles|Flasche|Flaschen|f|bouteille|bouteilles|f
shoe|shoes|Schuh|Schuhe|m|chaussure|chaussures|f
phone|phones|Telefon|Telefone|n|téléphone|téléphones|m
key|keys|Schlüssel|Schlüssel|m|clé|clés|f
scarf|scarves|Schal|Schals|m|écharpe|écharpes|f
sweater|sweaters|Pullover|Pullover|m|pull|pulls|m
clock|clocks|Uhr|Uhren|f|horloge|horloges|f
plate|plates|Teller|Teller|m|assiette|assiettes|f
box|boxes|Kiste|Kisten|f|boîte|boîtes|f
computer|computers|Computer|Computer|m|ordinateur|ordinateurs|m
bicycle|bicycles|Fahrrad|Fahrräder|n|vélo|vélos|m
car|cars|Auto|Autos|n|voiture|voitures|f
""")

# Furniture and containers that other objects are on, under, next to or in.
FURNITURE = _nouns("""
table|tables|Tisch|Tische|m|table|tables|f
chair|chairs|Stuhl|Stühle|m|chaise|chaises|f
bed|beds|Bett|Betten|n|lit|lits|m
sofa|sofas|Sofa|Sofas|n|canapé|canapés|m
shelf|shelves|Regal|Regale|n|étagère|étagères|f
door|doors|Tür|Türen|f|porte|portes|f
window|windows|Fenster|Fenster|n|fenêtre|fenêtres|f
""")
# Which location prepositions make sense with which piece of furniture / container.
LOCATION_PREPOSITIONS = {
    "table": ("on", "under", "next_to"), "chair": ("on", "under", "next_to"),
    "bed": ("on", "under", "next_to"), "sofa": ("on", "under", "behind", "next_to"),
    "shelf": ("on", "next_to"), "door": ("behind", "next_to"), "window": ("next_to",),
    "box": ("in", "next_to"), "bag": ("in", "next_to"),
}

ANIMALS = _nouns("""
dog|dogs|Hund|Hunde|m|chien|chiens|m
cat|cats|Katze|Katzen|f|chat|chats|m
bird|birds|Vogel|Vögel|m|oiseau|oiseaux|m
horse|horses|Pferd|Pferde|n|cheval|chevaux|m
rabbit|rabbits|Kaninchen|Kaninchen|n|lapin|lapins|m
""")

# Colours animals plausibly have.
ANIMAL_COLOURS = ("black", "white", "brown", "grey")

# Family members (used with a possessive: my brother) and people met with "the".
RELATIVES = _nouns("""
brother|brothers|Bruder|Brüder|m|frère|frères|m
sister|sisters|Schwester|Schwestern|f|sœur|sœurs|f
mother|mothers|Mutter|Mütter|f|mère|mères|f
father|fathers|Vater|Väter|m|père|pères|m
grandmother|grandmothers|Großmutter|Großmütter|f|grand-mère|grands-mères|f
grandfather|grandfathers|Großvater|Großväter|m|grand-père|grands-pères|m
uncle|uncles|Onkel|Onkel|m|oncle|oncles|m
aunt|aunts|Tante|Tanten|f|tante|tantes|f
friend|friends|Freund|Freunde|m|ami|amis|m
""")
PEOPLE = _nouns("""
teacher|teachers|Lehrer|Lehrer|m|professeur|professeurs|m
doctor|doctors|Arzt|Ärzte|m|médecin|médecins|m
neighbour|neighbours|Nachbar|Nachbarn|m|voisin|voisins|m|Nachbarn
child|children|Kind|Kinder|n|enfant|enfants|m
""")

DRINKS = _nouns("""
coffee|coffees|Kaffee|Kaffees|m|café|cafés|m
tea|teas|Tee|Tees|m|thé|thés|m
water|waters|Wasser|Wasser|n|eau|eaux|f
milk|milks|Milch|Milch|f|lait|laits|m
juice|juices|Saft|Säfte|m|jus|jus|m
""")
FOODS = _nouns("""
bread|breads|Brot|Brote|n|pain|pains|m
rice|rices|Reis|Reis|m|riz|riz|m
cheese|cheeses|Käse|Käse|m|fromage|fromages|m
soup|soups|Suppe|Suppen|f|soupe|soupes|f
fish|fish|Fisch|Fische|m|poisson|poissons|m
cake|cakes|Kuchen|Kuchen|m|gâteau|gâteaux|m
""")
# Measure nouns for ordering ("two glasses of water"); German measure plural of Stück is Stück.
CONTAINERS = _nouns("""
cup|cups|Tasse|Tassen|f|tasse|tasses|f
glass|glasses|Glas|Gläser|n|verre|verres|m
bottle|bottles|Flasche|Flaschen|f|bouteille|bouteilles|f
bowl|bowls|Schüssel|Schüsseln|f|bol|bols|m
piece|pieces|Stück|Stück|n|morceau|morceaux|m
""")
CONTAINER_CONTENTS = {
    "cup": ("coffee", "tea", "milk"), "glass": ("water", "milk", "juice"),
    "bottle": ("water", "milk", "juice"), "bowl": ("soup", "rice"),
    "piece": ("cake", "cheese", "bread"),
}

VEHICLES = _nouns("""
train|trains|Zug|Züge|m|train|trains|m
bus|buses|Bus|Busse|m|bus|bus|m
plane|planes|Flugzeug|Flugzeuge|n|avion|avions|m
boat|boats|Schiff|Schiffe|n|bateau|bateaux|m
""")

COLOURS = _adjectives("""
red|rot|rot|rouge|rouge|rouges|rouges|post
blue|blau|blau|bleu|bleue|bleus|bleues|post
green|grün|grün|vert|verte|verts|vertes|post
yellow|gelb|gelb|jaune|jaune|jaunes|jaunes|post
black|schwarz|schwarz|noir|noire|noirs|noires|post
white|weiß|weiß|blanc|blanche|blancs|blanches|post
grey|grau|grau|gris|grise|gris|grises|post
brown|braun|braun|marron|marron|marron|marron|post
""")
QUALITIES = _adjectives("""
big|groß|groß|grand|grande|grands|grandes|pre
small|klein|klein|petit|petite|petits|petites|pre
new|neu|neu|nouveau|nouvelle|nouveaux|nouvelles|pre|nouvel
old|alt|alt|vieux|vieille|vieux|vieilles|pre|vieil
beautiful|schön|schön|beau|belle|beaux|belles|pre|bel
expensive|teuer|teur|cher|chère|chers|chères|post
heavy|schwer|schwer|lourd|lourde|lourds|lourdes|post
""")
# States of people, used predicatively ("she is tired").
STATES = _adjectives("""
tired|müde|müd|fatigué|fatiguée|fatigués|fatiguées|post
ill|krank|krank|malade|malade|malades|malades|post
happy|glücklich|glücklich|heureux|heureuse|heureux|heureuses|post
""")

PRONOUNS = {s.key: s for s in (
    Subject("i", "I", "ich", "je", "1s", "m", "pronoun"),
    Subject("you", "you", "du", "tu", "2s", "m", "pronoun"),
    Subject("he", "he", "er", "il", "3s", "m", "pronoun"),
    Subject("she", "she", "sie", "elle", "3s", "f", "pronoun"),
    Subject("we", "we", "wir", "nous", "1p", "m", "pronoun"),
    Subject("they", "they", "sie", "ils", "3p", "m", "pronoun"),
)}
_FEMALE_NAMES = ("Anna", "Marie", "Lisa", "Sophie", "Emma", "Julia", "Clara", "Laura")
_MALE_NAMES = ("Paul", "Tom", "Max", "Lukas", "Felix", "David", "Leon", "Jonas")
NAMES = {n.lower(): Subject(n.lower(), n, n, n, "3s", g, "name")
         for names, g in ((_FEMALE_NAMES, "f"), (_MALE_NAMES, "m")) for n in names}
GROUPS = {s.key: s for s in (
    Subject("my_brother", "my brother", "mein Bruder", "mon frère", "3s", "m", "group"),
    Subject("my_sister", "my sister", "meine Schwester", "ma sœur", "3s", "f", "group"),
    Subject("my_mother", "my mother", "meine Mutter", "ma mère", "3s", "f", "group"),
    Subject("my_father", "my father", "mein Vater", "mon père", "3s", "m", "group"),
    Subject("the_teacher", "the teacher", "der Lehrer", "le professeur", "3s", "m", "group"),
    Subject("the_doctor", "the doctor", "der Arzt", "le médecin", "3s", "m", "group"),
    Subject("the_neighbour", "the neighbour", "der Nachbar", "le voisin", "3s", "m", "group"),
    Subject("the_children", "the children", "die Kinder", "les enfants", "3p", "m", "group"),
    Subject("my_parents", "my parents", "meine Eltern", "mes parents", "3p", "m", "group"),
    Subject("my_friends", "my friends", "meine Freunde", "mes amis", "3p", "m", "group"),
)}
SUBJECTS = {**PRONOUNS, **NAMES, **GROUPS}


def pronoun_for(subject: Subject) -> Subject:
  """The personal pronoun that refers back to ``subject`` (Anna -> she)."""
  if subject.kind == "pronoun":
    return subject
  if subject.plural:
    return PRONOUNS["they"]
  return PRONOUNS["she" if subject.gender == "f" else "he"]


def _place(en: str, en_to: str, en_at: str, de_to: str, de_at: str, de: str, fr: str,
           travel: bool = False) -> Place:
  """A place from its English word, German 'noun|gender' and French 'noun|gender'."""
  de_noun, de_gender = de.split("|")
  fr_noun, fr_gender = fr.split("|")
  noun = Noun(en, en, en + "s", de_noun, de_noun, de_gender, fr_noun, fr_noun + "s", fr_gender)
  return Place(noun, en_to, en_at, de_to, de_at, travel)


PLACES = {p.key: p for p in (
    _place("station", "to the station", "at the station", "zu", "an", "Bahnhof|m", "gare|f"),
    _place("school", "to school", "at school", "in", "in", "Schule|f", "école|f"),
    _place("market", "to the market", "at the market", "zu", "auf", "Markt|m", "marché|m"),
    _place("park", "to the park", "in the park", "in", "in", "Park|m", "parc|m"),
    _place("cinema", "to the cinema", "at the cinema", "in", "in", "Kino|n", "cinéma|m"),
    _place("museum", "to the museum", "at the museum", "in", "in", "Museum|n", "musée|m"),
    _place("library", "to the library", "at the library", "in", "in", "Bibliothek|f",
           "bibliothèque|f"),
    _place("beach", "to the beach", "at the beach", "an", "an", "Strand|m", "plage|f"),
    _place("office", "to the office", "at the office", "in", "in", "Büro|n", "bureau|m"),
    _place("hospital", "to the hospital", "at the hospital", "in", "in", "Krankenhaus|n",
           "hôpital|m"),
    _place("airport", "to the airport", "at the airport", "zu", "an", "Flughafen|m",
           "aéroport|m", travel=True),
    _place("bakery", "to the bakery", "at the bakery", "zu", "in", "Bäckerei|f",
           "boulangerie|f"),
    _place("supermarket", "to the supermarket", "at the supermarket", "zu", "in",
           "Supermarkt|m", "supermarché|m"),
    _place("restaurant", "to the restaurant", "at the restaurant", "in", "in", "Restaurant|n",
           "restaurant|m"),
    _place("garden", "to the garden", "in the garden", "in", "in", "Garten|m", "jardin|m"),
    _place("hotel", "to the hotel", "at the hotel", "in", "in", "Hotel|n", "hôtel|m"),
    _place("bank", "to the bank", "at the bank", "zu", "in", "Bank|f", "banque|f"),
    _place("pharmacy", "to the pharmacy", "at the pharmacy", "zu", "in", "Apotheke|f",
           "pharmacie|f"),
    _place("post office", "to the post office", "at the post office", "zu", "auf", "Post|f",
           "poste|f"),
)}
# Places with opening hours.
SHOPS = ("bakery", "supermarket", "museum", "library", "bank", "restaurant", "cinema",
         "market", "pharmacy", "post office")

DESTINATIONS = {d.key: d for d in (
    Destination("berlin", "Berlin", "Berlin", "Berlin", False),
    Destination("paris", "Paris", "Paris", "Paris", False),
    Destination("london", "London", "London", "Londres", False),
    Destination("rome", "Rome", "Rom", "Rome", False),
    Destination("vienna", "Vienna", "Wien", "Vienne", False),
    Destination("munich", "Munich", "München", "Munich", False),
    Destination("hamburg", "Hamburg", "Hamburg", "Hambourg", False),
    Destination("madrid", "Madrid", "Madrid", "Madrid", False),
    Destination("france", "France", "Frankreich", "France", True),
    Destination("germany", "Germany", "Deutschland", "Allemagne", True),
    Destination("italy", "Italy", "Italien", "Italie", True),
    Destination("spain", "Spain", "Spanien", "Espagne", True),
    Destination("austria", "Austria", "Österreich", "Autriche", True),
)}
CITIES = tuple(k for k, d in DESTINATIONS.items() if not d.is_country)
