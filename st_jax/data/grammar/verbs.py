"""Verbs with their conjugation tables in English, German and French.

Persons are indexed in the order of ``PERSONS`` (1s, 2s, 3s, 1p, 3p). German separable
verbs keep the prefix apart (``ankommen``: ``kommt ... an``); French verbs know their
passé-composé auxiliary and whether they are reflexive (``se lever``).
"""

from __future__ import annotations

import dataclasses

PERSONS = ("1s", "2s", "3s", "1p", "3p")
DE_HABEN = ("habe", "hast", "hat", "haben", "haben")
DE_SEIN = ("bin", "bist", "ist", "sind", "sind")
DE_WERDEN = ("werde", "wirst", "wird", "werden", "werden")
FR_AVOIR = ("ai", "as", "a", "avons", "ont")
FR_ETRE = ("suis", "es", "est", "sommes", "sont")
FR_FUTURE_ENDINGS = ("ai", "as", "a", "ons", "ont")
FR_REFLEXIVE = ("me", "te", "se", "nous", "se")


@dataclasses.dataclass(frozen=True)
class Verb:
  """One verb in three languages (see the module docstring for the conventions)."""
  key: str
  en_base: str
  en_third: str              # 3rd person singular present ("goes")
  en_past: str
  de_infinitive: str         # with a separable prefix: "ankommen"
  de_present: tuple[str, ...]  # without the separable prefix: "komme", ...
  de_participle: str         # "angekommen"
  de_auxiliary: str          # "haben" or "sein"
  fr_present: tuple[str, ...]
  fr_participle: str
  fr_auxiliary: str          # "avoir" or "être"
  fr_future_stem: str        # "ir" -> "irai", "ira", ...
  en_particle: str = ""      # "up" in "get up"
  de_prefix: str = ""        # separable prefix: "an"
  de_preterite: tuple[str, ...] = ()   # simple past used instead of the Perfekt (war, hatte)
  fr_imperfect: tuple[str, ...] = ()   # imparfait used instead of the passé composé (était)
  fr_reflexive: bool = False

  def de_finite(self, person: str) -> str:
    return self.de_present[PERSONS.index(person)]

  def fr_finite(self, person: str) -> str:
    return self.fr_present[PERSONS.index(person)]

  def fr_future(self, person: str) -> str:
    return self.fr_future_stem + FR_FUTURE_ENDINGS[PERSONS.index(person)]


def _verb(key: str, en: str, de: str, fr: str, **extra) -> Verb:
  """Builds a verb from compact specs.

  en: ``"base|third|past"``; de: ``"infinitive|1s 2s 3s 1p 3p|participle|aux[|prefix]"``;
  fr: ``"1s 2s 3s 1p 3p|participle|aux|future stem"``; ``extra`` tables are space separated.
  """
  en_base, en_third, en_past = en.split("|")
  de_inf, de_forms, de_part, de_aux, *prefix = de.split("|")
  fr_forms, fr_part, fr_aux, fr_future = fr.split("|")
  for table in ("de_preterite", "fr_imperfect"):
    if table in extra:
      extra[table] = tuple(extra[table].split())
  return Verb(key, en_base, en_third, en_past, de_inf, tuple(de_forms.split()), de_part,
              de_aux, tuple(fr_forms.split()), fr_part, fr_aux, fr_future,
              de_prefix="".join(prefix), **extra)


_GEHEN = "gehen|gehe gehst geht gehen gehen|gegangen|sein"
_ALLER = "vais vas va allons vont|allé|être|ir"
_PARTIR = "pars pars part partons partent|parti|être|partir"

VERBS = {v.key: v for v in (
    _verb("be", "be|is|was", "sein|bin bist ist sind sind|gewesen|sein",
          "suis es est sommes sont|été|avoir|ser",
          de_preterite="war warst war waren waren",
          fr_imperfect="étais étais était étions étaient"),
    _verb("have", "have|has|had", "haben|habe hast hat haben haben|gehabt|haben",
          "ai as a avons ont|eu|avoir|aur",
          de_preterite="hatte hattest hatte hatten hatten",
          fr_imperfect="avais avais avait avions avaient"),
    _verb("go", "go|goes|went", _GEHEN, _ALLER),
    _verb("travel", "go|goes|went", "fahren|fahre fährst fährt fahren fahren|gefahren|sein",
          _ALLER),
    _verb("buy", "buy|buys|bought", "kaufen|kaufe kaufst kauft kaufen kaufen|gekauft|haben",
          "achète achètes achète achetons achètent|acheté|avoir|achèter"),
    _verb("see", "see|sees|saw", "sehen|sehe siehst sieht sehen sehen|gesehen|haben",
          "vois vois voit voyons voient|vu|avoir|verr"),
    _verb("cost", "cost|costs|cost", "kosten|koste kostest kostet kosten kosten|gekostet|haben",
          "coûte coûtes coûte coûtons coûtent|coûté|avoir|coûter"),
    _verb("arrive", "arrive|arrives|arrived",
          "ankommen|komme kommst kommt kommen kommen|angekommen|sein|an",
          "arrive arrives arrive arrivons arrivent|arrivé|être|arriver"),
    _verb("get_up", "get|gets|got",
          "aufstehen|stehe stehst steht stehen stehen|aufgestanden|sein|auf",
          "lève lèves lève levons lèvent|levé|être|lèver", en_particle="up",
          fr_reflexive=True),
    _verb("call", "call|calls|called", "anrufen|rufe rufst ruft rufen rufen|angerufen|haben|an",
          "appelle appelles appelle appelons appellent|appelé|avoir|appeller"),
    _verb("visit", "visit|visits|visited",
          "besuchen|besuche besuchst besucht besuchen besuchen|besucht|haben",
          "visite visites visite visitons visitent|visité|avoir|visiter"),
    _verb("visit_person", "visit|visits|visited",
          "besuchen|besuche besuchst besucht besuchen besuchen|besucht|haben",
          "rends rends rend rendons rendent|rendu|avoir|rendr"),
    _verb("wait", "wait|waits|waited", "warten|warte wartest wartet warten warten|gewartet|haben",
          "attends attends attend attendons attendent|attendu|avoir|attendr"),
    _verb("give", "give|gives|gave", "geben|gebe gibst gibt geben geben|gegeben|haben",
          "donne donnes donne donnons donnent|donné|avoir|donner"),
    _verb("eat", "eat|eats|ate", "essen|esse isst isst essen essen|gegessen|haben",
          "mange manges mange mangeons mangent|mangé|avoir|manger"),
    _verb("drink", "drink|drinks|drank",
          "trinken|trinke trinkst trinkt trinken trinken|getrunken|haben",
          "bois bois boit buvons boivent|bu|avoir|boir"),
    _verb("live", "live|lives|lived", "wohnen|wohne wohnst wohnt wohnen wohnen|gewohnt|haben",
          "habite habites habite habitons habitent|habité|avoir|habiter"),
    _verb("like", "like|likes|liked", "mögen|mag magst mag mögen mögen|gemocht|haben",
          "aime aimes aime aimons aiment|aimé|avoir|aimer",
          de_preterite="mochte mochtest mochte mochten mochten",
          fr_imperfect="aimais aimais aimait aimions aimaient"),
    _verb("lose", "lose|loses|lost",
          "verlieren|verliere verlierst verliert verlieren verlieren|verloren|haben",
          "perds perds perd perdons perdent|perdu|avoir|perdr"),
    _verb("find", "find|finds|found", "finden|finde findest findet finden finden|gefunden|haben",
          "trouve trouves trouve trouvons trouvent|trouvé|avoir|trouver"),
    _verb("open", "open|opens|opened",
          "öffnen|öffne öffnest öffnet öffnen öffnen|geöffnet|haben",
          "ouvre ouvres ouvre ouvrons ouvrent|ouvert|avoir|ouvrir"),
    _verb("close", "close|closes|closed",
          "schließen|schließe schließt schließt schließen schließen|geschlossen|haben",
          "ferme fermes ferme fermons ferment|fermé|avoir|fermer"),
    _verb("stay", "stay|stays|stayed",
          "bleiben|bleibe bleibst bleibt bleiben bleiben|geblieben|sein",
          "reste restes reste restons restent|resté|être|rester"),
    _verb("take_along", "take|takes|took",
          "mitnehmen|nehme nimmst nimmt nehmen nehmen|mitgenommen|haben|mit",
          "prends prends prend prenons prennent|pris|avoir|prendr"),
    _verb("leave", "leave|leaves|left",
          "abfahren|fahre fährst fährt fahren fahren|abgefahren|sein|ab",
          _PARTIR),
    _verb("fly_off", "leave|leaves|left",
          "abfliegen|fliege fliegst fliegt fliegen fliegen|abgeflogen|sein|ab", _PARTIR),
    _verb("rain", "rain|is raining|was raining",
          "regnen|regne regnest regnet regnen regnen|geregnet|haben",
          "pleus pleus pleut pleuvons pleuvent|plu|avoir|pleuvr",
          fr_imperfect="pleuvais pleuvais pleuvait pleuvions pleuvaient"),
    _verb("think", "think|thinks|thought",
          "glauben|glaube glaubst glaubt glauben glauben|geglaubt|haben",
          "pense penses pense pensons pensent|pensé|avoir|penser"),
    _verb("know", "know|knows|knew", "wissen|weiß weißt weiß wissen wissen|gewusst|haben",
          "sais sais sait savons savent|su|avoir|saur"),
    _verb("say", "say|says|said", "sagen|sage sagst sagt sagen sagen|gesagt|haben",
          "dis dis dit disons disent|dit|avoir|dir"),
    _verb("play", "play|plays|played",
          "spielen|spiele spielst spielt spielen spielen|gespielt|haben",
          "joue joues joue jouons jouent|joué|avoir|jouer"),
    _verb("work", "work|works|worked",
          "arbeiten|arbeite arbeitest arbeitet arbeiten arbeiten|gearbeitet|haben",
          "travaille travailles travaille travaillons travaillent|travaillé|avoir|travailler"),
    _verb("read", "read|reads|read", "lesen|lese liest liest lesen lesen|gelesen|haben",
          "lis lis lit lisons lisent|lu|avoir|lir"),
    _verb("sleep", "sleep|sleeps|slept",
          "schlafen|schlafe schläfst schläft schlafen schlafen|geschlafen|haben",
          "dors dors dort dormons dorment|dormi|avoir|dormir"),
)}
