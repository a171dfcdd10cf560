"""Small English word lists and noun morphology shared by the count parser and the suite validator.

Everything here is pure string work (no NLP library): number words, plural detection, singular forms
and head-noun comparison that tolerates singular/plural ("boxes" ~ "box", "leaves" ~ "leaf",
"people" ~ "person").
"""

from __future__ import annotations

import re

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
        "ninety": 90}
ORDINALS = {"second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
            "ninth": 9, "tenth": 10}

# A word: letters/digits, optionally joined by hyphens or apostrophes ("long-haired", "children's").
WORD_RE = re.compile(r"[A-Za-z0-9]+(?:[-'’][A-Za-z0-9]+)*")
# A count written in digits: 1-999 (larger numbers are years, sizes, labels).
_DIGITS_RE = re.compile(r"\d{1,3}")

_IRREGULAR_PLURALS = {
    "people": "person", "men": "man", "women": "woman", "children": "child", "feet": "foot",
    "teeth": "tooth", "mice": "mouse", "geese": "goose", "oxen": "ox", "lice": "louse", "dice": "die",
    "cacti": "cactus", "fungi": "fungus", "octopi": "octopus", "criteria": "criterion",
    "gentlemen": "gentleman", "businessmen": "businessman", "fishermen": "fisherman",
    "firemen": "fireman", "policemen": "policeman", "snowmen": "snowman", "sportsmen": "sportsman",
    "craftsmen": "craftsman", "horsemen": "horseman", "noblemen": "nobleman", "salesmen": "salesman",
}
# Same form in singular and plural: plural after a number, singular otherwise.
_INVARIANT = {"sheep", "fish", "deer", "moose", "bison", "salmon", "trout", "cod", "swine", "aircraft",
              "spacecraft", "shrimp", "squid", "offspring", "elk", "reindeer", "buffalo", "species",
              "series"}
# Words ending in "s" that are not plurals.
_NOT_PLURAL = {
    "glass", "brass", "grass", "moss", "dress", "class", "chess", "cross", "boss", "mass", "press",
    "canvas", "gas", "atlas", "christmas", "texas", "bus", "lotus", "cactus", "octopus", "hippopotamus",
    "iris", "tennis", "news", "lens", "chassis", "bias", "compass", "fortress", "mattress", "harness",
    "walrus", "citrus", "virus", "campus", "circus", "bonus", "focus", "census", "status", "chorus",
    "always", "perhaps", "across", "towards", "afterwards", "upwards", "downwards", "backwards",
    "sideways", "this", "his", "its", "hers", "ours", "yours", "theirs", "was", "is", "has", "does",
    "us", "thus", "yes", "plus", "minus", "versus", "whereas", "unless", "less", "as", "various",
    "famous", "gorgeous", "numerous", "previous", "serious", "curious", "nervous", "glorious",
    "mysterious", "luminous", "enormous", "precious", "delicious", "spacious", "luxurious",
    "ominous", "wireless", "stainless", "endless", "countless", "timeless", "seamless",
    "swiss", "analysis", "axis", "basis", "oasis", "crisis", "emphasis", "thesis", "metropolis",
    "hibiscus", "narcissus", "asparagus", "abyss", "express", "princess", "goddess", "actress",
    "waitress", "hostess", "lioness", "mistress", "duchess", "countess", "empress", "business",
    "wilderness", "darkness", "happiness", "calmness", "stillness", "brightness", "kindness",
}
# Nouns that are one object although plural ("a pair of glasses" is one pair).
PLURALIA_TANTUM = {
    "glasses", "sunglasses", "eyeglasses", "spectacles", "scissors", "jeans", "pants", "trousers",
    "shorts", "tights", "pliers", "tongs", "binoculars", "goggles", "pajamas", "pyjamas", "leggings",
    "overalls", "headphones", "earphones", "tweezers", "shears", "briefs", "slacks", "knickers",
    "boxers", "dungarees", "suspenders", "handcuffs", "clippers", "breeches", "jodhpurs", "trunks",
}
# Plural-only nouns that have no singular in use ("glasses" and "shorts" do: a glass, a short).
_NO_SINGULAR = PLURALIA_TANTUM - {"glasses", "spectacles", "shorts", "briefs", "trunks", "boxers", "clippers",
                                  "suspenders", "shears", "overalls", "headphones", "earphones"}
# Plurals that end in "is" like "tennis" or "axis" do.
_IS_PLURALS = {"taxis", "skis", "kiwis", "bikinis", "martinis", "yetis", "safaris", "khakis", "semis", "minis",
               "tipis", "alibis", "origamis", "emojis", "wasabis", "raviolis", "tikis"}
_F_PLURALS = {"leaves": "leaf", "wolves": "wolf", "shelves": "shelf", "loaves": "loaf", "halves": "half",
              "scarves": "scarf", "hooves": "hoof", "calves": "calf", "thieves": "thief", "elves": "elf",
              "selves": "self", "knives": "knife", "wives": "wife", "lives": "life", "sheaves": "sheaf",
              "dwarves": "dwarf", "wharves": "wharf"}
_OES_PLURALS = {"tomatoes", "potatoes", "heroes", "echoes", "mangoes", "volcanoes", "mosquitoes",
                "torpedoes", "dominoes", "buffaloes", "tornadoes", "cargoes", "avocadoes"}


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (hyphen/apostrophe compounds kept together)."""
    return [w.lower() for w in WORD_RE.findall(text)]


def number_value(word: str) -> int | None:
    """Value of a number word or digit string ("seven", "twenty-one", "12"; digits up to 999), else None."""
    w = word.lower()
    if _DIGITS_RE.fullmatch(w):
        return int(w)
    if w in UNITS:
        return UNITS[w]
    if w in TENS:
        return TENS[w]
    tens, _, unit = w.partition("-")
    if tens in TENS and unit in UNITS and 0 < UNITS[unit] < 10:
        return TENS[tens] + UNITS[unit]
    return None


# Compounds inflect like their last part: "grandchildren", "policewomen", "townspeople".
_IRREGULAR_TAILS = ("children", "women", "men", "people", "feet", "teeth", "mice", "geese")
_NOT_MEN = {"omen", "omens", "amen", "semen", "specimen", "abdomen", "stamen", "regimen", "hymen", "yemen",
            "acumen", "ramen"}


def _irregular_singular(w: str) -> str | None:
    if w in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[w]
    if w in _NOT_MEN:
        return None
    for tail in _IRREGULAR_TAILS:
        if w.endswith(tail) and len(w) > len(tail):
            return w[:-len(tail)] + _IRREGULAR_PLURALS[tail]
    return None


def is_invariant(w: str) -> bool:
    """Whether a noun has the same singular and plural form ("sheep", "goldfish")."""
    # Compounds of invariant nouns: "goldfish", "angelfish", "jellyfish", "bighorn sheep" (last word).
    return w in _INVARIANT or w.endswith(("fish", "sheep", "deer"))


def is_plural(word: str) -> bool:
    """Whether a lower-case word looks like a plural noun (heuristic: no part-of-speech tagger)."""
    w = word.lower()
    if _irregular_singular(w) is not None or w in _F_PLURALS or is_invariant(w):
        return True
    if "'" in w or "’" in w:
        return False  # possessives and contractions
    if len(w) < 3 or not w.endswith("s") or w in _NOT_PLURAL:
        return False
    if w in _IS_PLURALS:
        return True
    return not w.endswith(("ss", "us", "ous", "is", "less"))


def singular(word: str) -> str:
    """Best-effort singular of a lower-case noun ("boxes" → "box", "berries" → "berry")."""
    w = word.lower()
    # Only the last part of a hyphen compound inflects ("t-shirts" → "t-shirt").
    if "-" in w:
        head, _, tail = w.rpartition("-")
        return f"{head}-{singular(tail)}"
    irregular = _irregular_singular(w)
    if irregular is not None:
        return irregular
    if w in _F_PLURALS:
        return _F_PLURALS[w]
    if is_invariant(w) or w in _NO_SINGULAR or not is_plural(w):
        return w
    if w in _OES_PLURALS:
        return w[:-2]
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "sses", "xes", "zzes")):
        return w[:-2]
    return w[:-1]


def noun_forms(word: str) -> set[str]:
    """Forms a noun may take in text: itself, its singular and plausible plurals."""
    w = word.lower()
    s = singular(w)
    forms = {w, s, s + "s", s + "es"}
    if s.endswith("y"):
        forms.add(s[:-1] + "ies")
    for pl, sg in list(_IRREGULAR_PLURALS.items()) + list(_F_PLURALS.items()):
        if sg == s:
            forms.add(pl)
    return forms


def same_noun(a: str, b: str) -> bool:
    """Whether two nouns are the same word up to number ("dog"/"dogs", "leaf"/"leaves")."""
    a, b = a.lower(), b.lower()
    return a == b or singular(a) == singular(b) or bool(noun_forms(a) & noun_forms(b))


def head_noun(name: str) -> str:
    """The head noun of an entity name: the last word before an "of" phrase, else the last word.

    "red wooden chairs" → "chairs"; "cup of coffee" → "cup"; "t-shirt" → "t-shirt".
    """
    ws = words(name)
    if not ws:
        return ""
    if "of" in ws[1:]:
        ws = ws[:ws.index("of", 1)]
    return ws[-1]


def mentions_noun(text: str, noun: str) -> bool:
    """Whether ``text`` contains ``noun`` as a word, up to number, also as the tail of a compound
    ("t-shirts", "sunflowers" do not match "flower"; "wood-panelled walls" matches "wall")."""
    target = noun_forms(noun)
    for w in words(text):
        if w in target or singular(w) in target:
            return True
        if "-" in w:
            tail = w.rsplit("-", 1)[1]
            if tail in target or singular(tail) in target:
                return True
    return False
