"""Numbers, clock times, dates and prices spelled out in English, German and French.

Everything is returned as words (the text is spoken by a speech synthesiser), e.g.
``fr_number(91) == "quatre-vingt-onze"``, ``de_number(97) == "siebenundneunzig"``.
French uses the traditional spelling (hyphens below 100, "et" in 21, 31, ..., 71).
"""

from __future__ import annotations

EN_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
            "seventeen", "eighteen", "nineteen")
EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
DE_UNITS = ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
            "zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn",
            "achtzehn", "neunzehn")
DE_TENS = ("", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig",
           "neunzig")
FR_UNITS = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix",
            "onze", "douze", "treize", "quatorze", "quinze", "seize", "dix-sept", "dix-huit",
            "dix-neuf")
FR_TENS = ("", "", "vingt", "trente", "quarante", "cinquante", "soixante")

MONTHS = (("January", "Januar", "janvier"), ("February", "Februar", "février"),
          ("March", "März", "mars"), ("April", "April", "avril"), ("May", "Mai", "mai"),
          ("June", "Juni", "juin"), ("July", "Juli", "juillet"), ("August", "August", "août"),
          ("September", "September", "septembre"), ("October", "Oktober", "octobre"),
          ("November", "November", "novembre"), ("December", "Dezember", "décembre"))
DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
WEEKDAYS = (("Monday", "Montag", "lundi"), ("Tuesday", "Dienstag", "mardi"),
            ("Wednesday", "Mittwoch", "mercredi"), ("Thursday", "Donnerstag", "jeudi"),
            ("Friday", "Freitag", "vendredi"), ("Saturday", "Samstag", "samedi"),
            ("Sunday", "Sonntag", "dimanche"))
# Minutes a clock time may have: whole, quarter and ten-minute steps.
CLOCK_MINUTES = (0, 10, 15, 20, 30, 40, 45, 50)
# Cent amounts used in prices.
PRICE_CENTS = (0, 10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 95, 99)

Triple = tuple[str, str, str]


def _check_range(n: int, high: int = 100) -> None:
  if not 0 <= n <= high:
    raise ValueError(f"number {n} outside 0..{high}")


def en_number(n: int) -> str:
  """English cardinal 0..100: ``twenty-one``, ``one hundred``."""
  _check_range(n)
  if n == 100:
    return "one hundred"
  if n < 20:
    return EN_UNITS[n]
  tens, unit = divmod(n, 10)
  return EN_TENS[tens] + (f"-{EN_UNITS[unit]}" if unit else "")


def de_number(n: int) -> str:
  """German cardinal 0..100 as said when counting: ``eins``, ``einundzwanzig``, ``hundert``."""
  _check_range(n)
  if n == 100:
    return "hundert"
  if n < 20:
    return DE_UNITS[n]
  tens, unit = divmod(n, 10)
  if not unit:
    return DE_TENS[tens]
  return ("ein" if unit == 1 else DE_UNITS[unit]) + "und" + DE_TENS[tens]


def fr_number(n: int, feminine: bool = False) -> str:
  """French cardinal 0..100: ``vingt et un``, ``soixante et onze``, ``quatre-vingts``.

  ``feminine`` gives the form before a feminine noun: ``une``, ``vingt et une``.
  """
  _check_range(n)
  if n == 100:
    return "cent"
  if n < 20:
    word = FR_UNITS[n]
  elif n < 70:
    tens, unit = divmod(n, 10)
    word = FR_TENS[tens] + (" et un" if unit == 1 else f"-{FR_UNITS[unit]}" if unit else "")
  elif n < 80:
    word = "soixante et onze" if n == 71 else f"soixante-{FR_UNITS[n - 60]}"
  else:
    word = "quatre-vingts" if n == 80 else f"quatre-vingt-{FR_UNITS[n - 80]}"
  if feminine and (word == "un" or word.endswith((" un", "-un"))):
    word += "e"
  return word


def numbers(n: int, fr_feminine: bool = False) -> Triple:
  """The cardinal ``n`` in (en, de, fr)."""
  return en_number(n), de_number(n), fr_number(n, fr_feminine)


def en_ordinal(n: int) -> str:
  """English ordinal 1..31: ``first``, ``twelfth``, ``twentieth``, ``thirty-first``."""
  special = {1: "first", 2: "second", 3: "third", 5: "fifth", 8: "eighth", 9: "ninth",
             12: "twelfth"}
  if n in special:
    return special[n]
  if n < 20:
    return en_number(n) + "th"
  tens, unit = divmod(n, 10)
  if not unit:
    return EN_TENS[tens][:-1] + "ieth"
  return f"{EN_TENS[tens]}-{en_ordinal(unit)}"


def de_ordinal_dative(n: int) -> str:
  """German ordinal 1..31 with the weak dative ending used after ``am``: ``dritten``."""
  special = {1: "erst", 3: "dritt", 7: "siebt", 8: "acht"}
  stem = special.get(n) or (de_number(n) + ("t" if n < 20 else "st"))
  return stem + "en"


def on_date(day: int, month: int) -> Triple:
  """'on the third of May' / 'am dritten Mai' / 'le trois mai' (month is 1..12)."""
  if not 1 <= month <= 12 or not 1 <= day <= DAYS_IN_MONTH[month - 1]:
    raise ValueError(f"no such date: day {day} of month {month}")
  en_month, de_month, fr_month = MONTHS[month - 1]
  fr_day = "premier" if day == 1 else fr_number(day)
  return (f"on the {en_ordinal(day)} of {en_month}", f"am {de_ordinal_dative(day)} {de_month}",
          f"le {fr_day} {fr_month}")


def clock_time(hour: int, minute: int) -> Triple:
  """A 12-hour clock time without preposition: 'half past seven' / 'halb acht' / ...

  ``hour`` is 1..11 (1..10 when ``minute`` >= 40, which names the next hour in English and
  French); ``minute`` is one of ``CLOCK_MINUTES``.
  """
  if minute not in CLOCK_MINUTES or not 1 <= hour <= (10 if minute >= 40 else 11):
    raise ValueError(f"unsupported clock time {hour}:{minute:02d}")
  nxt = hour + 1
  en_h, en_next = en_number(hour), en_number(nxt)
  de_h, de_next = de_number(hour), de_number(nxt)
  fr_h = fr_number(hour, feminine=True) + (" heure" if hour == 1 else " heures")
  fr_next = fr_number(nxt, feminine=True) + " heures"
  if minute == 0:
    return f"{en_h} o'clock", ("ein" if hour == 1 else de_h) + " Uhr", fr_h
  if minute == 15:
    return f"a quarter past {en_h}", f"Viertel nach {de_h}", f"{fr_h} et quart"
  if minute == 30:
    return f"half past {en_h}", f"halb {de_next}", f"{fr_h} et demie"
  if minute == 45:
    return f"a quarter to {en_next}", f"Viertel vor {de_next}", f"{fr_next} moins le quart"
  if minute < 30:
    return (f"{en_number(minute)} past {en_h}", f"{de_number(minute)} nach {de_h}",
            f"{fr_h} {fr_number(minute)}")
  rest = 60 - minute
  return (f"{en_number(rest)} to {en_next}", f"{de_number(rest)} vor {de_next}",
          f"{fr_next} moins {fr_number(rest)}")


def at_time(hour: int, minute: int) -> Triple:
  """'at half past seven' / 'um halb acht' / 'à sept heures et demie'."""
  en, de, fr = clock_time(hour, minute)
  return f"at {en}", f"um {de}", f"à {fr}"


def price(euros: int, cents: int) -> Triple:
  """'three euros fifty' / 'drei Euro fünfzig' / 'trois euros cinquante'.

  ``euros`` is 0 or 2..99 (one euro is left out: its German case form varies); with 0 euros
  the price is cents only ('fifty cents' / 'fünfzig Cent' / 'cinquante centimes').
  """
  if euros == 1 or not 0 <= euros <= 99 or not 0 <= cents <= 99 or euros == cents == 0:
    raise ValueError(f"unsupported price {euros}.{cents:02d}")
  if euros == 0:
    return (f"{en_number(cents)} cents", f"{de_number(cents)} Cent",
            f"{fr_number(cents)} centimes")
  en, de, fr = f"{en_number(euros)} euros", f"{de_number(euros)} Euro", f"{fr_number(euros)} euros"
  if cents:
    en, de, fr = f"{en} {en_number(cents)}", f"{de} {de_number(cents)}", f"{fr} {fr_number(cents)}"
  return en, de, fr


def parse_time(value: str) -> tuple[int, int]:
  """'7:30' -> (7, 30): the slot format of clock times."""
  hour, minute = value.split(":")
  return int(hour), int(minute)


def parse_date(value: str) -> tuple[int, int]:
  """'3-5' -> (3, 5): the slot format of dates (day-month)."""
  day, month = value.split("-")
  return int(day), int(month)


def parse_price(value: str) -> tuple[int, int]:
  """'12.50' -> (12, 50): the slot format of prices."""
  euros, cents = value.split(".")
  return int(euros), int(cents)
