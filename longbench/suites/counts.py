"""Count parser: finds stated quantities of things in raw prompts so imported suites get entities.

Recognised (case-insensitive):

* a number then a noun phrase: number words ("two" … "twenty", "thirty" … "ninety", "twenty-five"),
  digits 1–999, "N dozen"; the head noun is the first plural noun within a few words, across commas
  and colour pairs ("three small red boats" → boat ×3, attributes small, red; "3 red and black
  funnels"); "N other/more X" counts X;
* "a pair of", "a couple of" (2), "a trio of" (3), "a quartet of" (4), also with an adjective before
  the noun ("a gleaming pair of"), "a dozen" (12), "half a dozen" (6), "twin" (2), "two of <noun>"
  without a determiner ("two of fatty tuna");
* "one <noun> … another / a second …" (2, and one more per "a third" …), except after a preposition
  ("in one cage …, in another" spreads things over places);
* "several", "many", "a few", "numerous", "multiple", "countless", "a handful of", "dozens of", and
  "a single / lone / solitary <noun>": the entity, without a count (the annotation convention of
  ``longbench-v1``: counts there are 2 and more). A bare "one <noun>" is not an entity ("in one
  corner", "one hand").

Rejected as counts: times ("3 pm", "five o'clock", "3:30"), ages and sizes written as compounds
("5-year-old", "two-story"), measurements ("10 cm", "ten feet tall", "two years old"), years, decades
("the nineteen fifties") and numbers over 999, decimals, percentages, money, labels ("number 7",
"Route 66", "Apollo 11"), "one of the" / "two of them", ranges ("two or three", "3-4"), approximations
("about 20", "around 30", "more than two"), ordinals, "at one point", "one another", "without a single",
numbers inside quoted text, and "a pair of" before a one-piece noun ("a pair of glasses").

:func:`find_counts` returns mentions with their sentence index (into ``split_default(prompt)`` or the
given segments) so callers can attach facts; :func:`parse_counts` returns just the entities.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from longbench.suites.base import Entity, Fact
from longbench.suites.lexicon import (
    ORDINALS,
    PLURALIA_TANTUM,
    TENS,
    UNITS,
    WORD_RE,
    is_invariant,
    is_plural,
    same_noun,
    singular,
)
from longbench.text.splitters import split_default

logger = logging.getLogger(__name__)

_TOKEN_RE = re.compile(WORD_RE.pattern + r"|[^\sA-Za-z0-9]")
_QUOTE_RE = re.compile(r"\"[^\"]*\"|“[^”]*”|(?<![\w])'.+?'(?![\w])|‘[^’]*’")
_DIGITS_RE = re.compile(r"\d{1,3}")

# Words that end a noun phrase.
_STOP = {
    "of", "in", "on", "at", "with", "by", "for", "from", "to", "into", "onto", "under", "over", "above",
    "below", "behind", "beside", "besides", "near", "next", "across", "along", "around", "through",
    "between", "among", "amongst", "against", "toward", "towards", "upon", "inside", "outside", "atop",
    "beneath", "underneath", "past", "like", "via", "during", "without", "within", "beyond", "amid",
    "and", "or", "but", "nor", "while", "as", "that", "which", "who", "whom", "whose", "where", "when",
    "the", "a", "an", "this", "these", "those", "their", "its", "his", "her", "our", "my", "your",
    "each", "every", "all", "both", "some", "any", "no", "is", "are", "was", "were", "be", "been",
    "being", "has", "have", "had", "do", "does", "did", "can", "could", "will", "would", "may",
    "might", "must", "should", "shall", "it", "they", "them", "he", "she", "we", "you", "i", "there",
    "here", "than", "then", "so", "if", "not", "also", "just", "only", "even", "too", "very", "per", "about", "up", "down", "off", "out", "away", "together", "apart", "again", "facing",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "another",
}
# Nouns that measure rather than count.
_UNIT_NOUNS = {
    "year", "month", "week", "day", "hour", "minute", "second", "decade", "century", "millennium",
    "moment", "time", "night", "morning", "evening", "afternoon", "season", "o'clock", "pm", "am",
    "percent", "degree", "mm", "cm", "m", "km", "inch", "foot", "meter", "metre", "mile", "yard",
    "kilometer", "kilometre", "centimeter", "centimetre", "millimeter", "millimetre", "gram",
    "kilogram", "kg", "g", "lb", "pound", "ounce", "oz", "liter", "litre", "ml", "gallon", "ton", "tonne",
    "acre", "hectare", "mph", "kph", "dollar", "cent", "euro", "yen", "buck", "way", "step", "story",
    "storey", "pace", "stride", "x", "k", "p", "fps", "mp", "megapixel", "hz", "kb", "mb", "gb", "bpm",
    "point", "half", "third", "quarter", "tone", "shade", "side", "end", "direction",
    "sec", "min", "hr", "hrs", "yr", "yrs",
}
# A measurement or age follows: "ten feet tall", "two years old", "three blocks away".
_MEASURE_AFTER = {"tall", "high", "wide", "long", "deep", "thick", "old", "away", "apart", "across",
                  "in", "later", "ago", "earlier", "before", "after", "younger", "older"}
# Words before a number that make it a label, not a count.
_LABEL_BEFORE = {
    "number", "no", "route", "platform", "gate", "room", "page", "chapter", "size", "level", "version",
    "model", "channel", "highway", "track", "apartment", "suite", "floor", "aged", "age", "ages",
    "episode", "season", "part", "act", "scene", "grade", "volume", "vol", "issue", "bus", "line",
    "flight", "pier", "exit", "jersey", "nr", "iso", "f", "type", "series", "mark", "lane",
    "row", "seat", "block", "stage", "phase", "round", "day", "week", "year", "figure", "fig",
}
_APPROX_BEFORE = {"about", "approximately", "roughly", "nearly", "almost", "some", "maybe",
                  "perhaps", "circa", "than", "least", "most", "upwards", "possibly", "probably",
                  "estimated", "approx"}
# "over 20 people", "under 10 cars": approximate for large numbers, a place for small ones.
_APPROX_BEFORE_LARGE = {"over", "under", "below", "above", "beyond", "around"}
_RANGE_AFTER = {"or", "to", "-", "–", "—", "/"}
_VAGUE = {"several", "many", "numerous", "multiple", "countless", "various", "innumerable", "myriad"}
_DETERMINERS = {"the", "a", "an", "them", "these", "those", "this", "that", "which", "whom", "us", "you", "its",
                "their", "his", "her", "my", "our", "your", "it", "whose", "each", "all", "both", "any"}
_PREPOSITIONS = {"in", "on", "at", "into", "onto", "from", "under", "behind", "beside", "near", "inside", "atop",
                 "above", "below", "over", "across", "along", "through", "within", "by", "to", "toward", "towards"}
_VAGUE_OF = {"dozens", "hundreds", "thousands", "scores", "millions", "lots", "plenty", "loads", "tons"}
_COLLECTIVE = {"pair": 2, "couple": 2, "trio": 3, "quartet": 4, "quintet": 5}
_SINGLE_ADJ = {"single", "lone", "solitary", "sole"}
_INTENSIFIERS = {"very", "quite", "rather", "fairly", "slightly", "extremely", "really", "so", "too",
                 "almost", "nearly", "somewhat", "incredibly", "exactly", "identical", "identically",
                 "other", "more", "similar", "same", "separate", "different", "distinct", "individual"}
# Adjectives kept as entity attributes rather than as part of the name.
_ADJECTIVES = {
    "red", "orange", "yellow", "green", "blue", "purple", "violet", "pink", "brown", "black", "white",
    "gray", "grey", "silver", "golden", "gold", "beige", "cream", "teal", "turquoise", "crimson",
    "scarlet", "maroon", "navy", "ivory", "amber", "emerald", "magenta", "cyan", "lavender", "tan",
    "dark", "light", "pale", "bright", "vivid", "small", "large", "big", "tiny", "huge", "little",
    "giant", "tall", "short", "long", "wide", "narrow", "thick", "thin", "round", "square", "old", "young", "new", "ancient", "antique", "modern", "vintage", "wooden", "metal", "metallic",
    "glass", "ceramic", "plastic", "stone", "marble", "brass", "copper", "iron", "steel", "leather",
    "wool", "woolen", "woollen", "silk", "cotton", "paper", "velvet", "wicker", "bamboo", "clay",
    "porcelain", "crystal", "identical", "matching", "fluffy", "shiny", "rusty", "empty",
    "full", "open", "closed", "broken", "striped", "spotted", "plain", "ornate", "elegant", "colorful",
    "colourful", "fresh", "ripe", "dry", "wet", "hot", "cold", "warm", "soft", "hard", "heavy",
    "slender", "sleek", "worn", "weathered", "polished", "painted", "carved", "lit", "unlit",
    "glowing", "sleeping", "standing", "sitting", "smiling", "happy", "sad", "cute", "beautiful",
    "wild", "tame", "stray", "baby", "adult", "elderly", "twin", "massive", "miniature", "vibrant",
    "glossy", "neon", "juicy", "gleaming", "plump", "delicate", "intricate", "crisp", "smooth",
    "rough", "pristine", "unique", "iconic", "dusty", "sturdy", "fuzzy", "silky", "leafy", "rocky",
    "snowy", "misty", "cozy", "cosy", "matte", "translucent", "transparent", "rustic", "fancy",
    "rectangular", "circular", "cylindrical", "spherical", "triangular", "oval", "mini", "oversized",
}
# Modifiers that do not turn a unit into a countable thing ("two full days" is still a duration).
_TIME_MODIFIERS = {"full", "whole", "entire", "long", "short", "more", "few", "additional", "extra",
                   "consecutive", "straight", "last", "next", "past", "previous", "first"}
_VERB_SUFFIXES = ("ing", "ed")
# Nouns that measure out another ("two pairs of shoes", "five rolls of toilet paper"): the entity name
# keeps the "of" phrase; its head noun stays the partitive.
_PARTITIVE = {"pair", "piece", "bar", "roll", "slice", "set", "stack", "cup", "glass", "bowl", "bottle", "jar",
              "loaf", "bunch", "bouquet", "basket", "box", "plate", "sheet", "cob", "scoop", "stick", "strip",
              "strand", "head", "ball", "block", "pile", "cluster", "group", "flock", "herd", "pack", "string",
              "row", "can", "carton", "crate", "bag", "sack", "mug", "pot", "tray", "spool", "skein", "wedge"}


@dataclass(frozen=True)
class CountMention:
    """One entity found in a prompt: the entity, the 0-based sentence that states it, and the
    character span of the quantifier + noun phrase within that sentence."""

    entity: Entity
    sentence: int
    start: int
    end: int


@dataclass(frozen=True)
class _Tok:
    text: str
    low: str
    start: int
    end: int
    word: bool


def _tokenize(text: str) -> list[_Tok]:
    return [_Tok(m.group(0), m.group(0).lower().replace("’", "'"), m.start(), m.end(),
                 m.group(0)[0].isalnum()) for m in _TOKEN_RE.finditer(text)]


def _quoted(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _QUOTE_RE.finditer(text)]


def number_value(word: str) -> int | None:
    """Value of a number word or digit string ("seven", "twenty-one", "12"), else None."""
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


class _Parser:
    """Scans the tokens of one sentence (plus the next, for "one … another")."""

    def __init__(self, text: str, next_text: str = ""):
        self.text = text
        self.toks = _tokenize(text)
        self.next_toks = _tokenize(next_text)
        self.quoted = _quoted(text)

    def low(self, k: int) -> str:
        return self.toks[k].low if 0 <= k < len(self.toks) else ""

    def char_before(self, k: int) -> str:
        s = self.toks[k].start
        return self.text[s - 1] if s > 0 else ""

    def chars_after(self, k: int, n: int = 2) -> str:
        e = self.toks[k].end
        return self.text[e:e + n]

    def in_quotes(self, k: int) -> bool:
        s = self.toks[k].start
        return any(a <= s < b for a, b in self.quoted)

    # -- quantifiers -------------------------------------------------------------------------------
    def quantifier(self, i: int) -> tuple[int | None, int, str] | None:
        """(count or None, index after the quantifier, kind) for a quantifier starting at token i."""
        w, nxt = self.low(i), self.low(i + 1)
        if w in ("a", "an"):
            for gap in (1, 2, 3):  # "a pair of", "a gleaming pair of", "a well worn pair of"
                if i + gap + 1 >= len(self.toks):
                    break
                t = self.toks[i + gap]
                if t.low in _COLLECTIVE and self.low(i + gap + 1) == "of":
                    return _COLLECTIVE[t.low], i + gap + 2, "collective"
                if not t.word or t.low in _STOP:
                    break
            if nxt == "dozen":
                return 12, i + 3 if self.low(i + 2) == "of" else i + 2, "exact"
            if nxt == "few" or (nxt in ("handful", "multitude", "myriad") and self.low(i + 2) == "of"):
                return None, i + 3 if nxt != "few" else i + 2, "vague"
            if nxt in _SINGLE_ADJ:
                if self.low(i - 1) in ("without", "not", "no", "nor", "never"):
                    return None  # "without a single leaf" states absence
                return None, i + 2, "single"
            return None
        if w == "half" and nxt == "a" and self.low(i + 2) == "dozen":
            return 6, i + 4 if self.low(i + 3) == "of" else i + 3, "exact"
        if w in _VAGUE:
            return None, i + 1, "vague"
        if w in _VAGUE_OF and nxt == "of":
            return None, i + 2, "vague"
        if w == "twin":
            return 2, i + 1, "exact"
        n = number_value(w)
        if n is None or not self.number_ok(i, n):
            return None
        j = i + 1
        if self.low(j) == "of":
            return n, j + 1, "partitive"
        if self.low(j) == "dozen":
            n, j = n * 12, j + 1
            if self.low(j) == "of":
                j += 1
        return n, j, ("one" if n == 1 else "exact")

    def number_ok(self, i: int, n: int) -> bool:
        """Whether the number at token i can be a count (see the module docstring for the rejects)."""
        tok = self.toks[i]
        if n == 0 or self.in_quotes(i):
            return False
        after, before = self.chars_after(i), self.char_before(i)
        if after[:1] in ("%", "°", "'", "’", "+") or (after[:1] in ".:,/" and after[1:2].isdigit()):
            return False
        if before in ("$", "£", "€", "¥", "#", "-", "/", ":", ".", "×"):
            return False
        prev, nxt = self.low(i - 1), self.low(i + 1)
        if prev in _LABEL_BEFORE or prev in _APPROX_BEFORE or (prev in _APPROX_BEFORE_LARGE and n >= 10):
            return False
        if prev == "to" and self.low(i - 2) == "up":
            return False  # "up to five"
        if prev in ("or", "to", "-", "–") and number_value(self.low(i - 2)) is not None:
            return False  # the second number of a range
        if nxt in _UNIT_NOUNS or singular(nxt) in _UNIT_NOUNS:
            return False  # "3 km long", "two hours"
        if tok.text[0].isdigit() and i > 0 and self.toks[i - 1].word and self.toks[i - 1].text[0].isupper():
            return False  # "Apollo 11", "Route 66"
        if nxt in _RANGE_AFTER and number_value(self.low(i + 2)) is not None:
            return False
        if nxt == "of" and (n == 1 or self.low(i + 2) in _DETERMINERS):
            return False  # "one of the", "two of them" (but "two of fatty tuna" counts tuna)
        if nxt in ("another", "by", "less", "or", "times", "and"):
            return False  # "one another", "one by one", "and a half"
        # "at one point", "the one on the left"
        return not (prev in ("at", "every", "each", "any", "which", "no", "the") and n == 1)

    # -- noun phrases -------------------------------------------------------------------------------
    def plural_np(self, j: int, toks: list[_Tok] | None = None) -> tuple[list[str], int] | None:
        """Modifiers and index of the head noun: the first plural noun within 6 words of j.

        Commas between modifiers are allowed ("three sleek, dark boats"), not right after the number.
        """
        toks = self.toks if toks is None else toks
        mods: list[str] = []
        k = j
        while k < len(toks) and len(mods) < 7:
            t = toks[k]
            if t.text == "," and mods and k + 1 < len(toks) and toks[k + 1].word:
                k += 1
                continue
            if (t.low in ("and", "or") and mods and mods[-1] in _ADJECTIVES and k + 1 < len(toks)
                    and toks[k + 1].low in _ADJECTIVES):
                k += 1  # "3 red and black funnels"
                continue
            if not t.word or t.low in _STOP or number_value(t.low) is not None:
                return None
            if is_plural(t.low) and not (mods == [] and t.low in _ADJ_S):
                if number_value(singular(t.low)) is not None:
                    return None  # "the nineteen fifties" is a decade
                return mods, k
            mods.append(t.low)
            k += 1
        return None

    def singular_np(self, j: int, toks: list[_Tok] | None = None) -> tuple[list[str], int] | None:
        """Modifiers and head of a singular noun phrase: the last word before a phrase boundary."""
        toks = self.toks if toks is None else toks
        taken: list[int] = []
        k = j
        while k < len(toks) and len(taken) < 5:
            t = toks[k]
            if t.text == "," and k == j and k + 1 < len(toks) and toks[k + 1].word:
                k += 1  # "a single, ornate globe"
                continue
            if not t.word or t.low in _STOP or number_value(t.low) is not None:
                break
            if taken and (t.low.endswith(_VERB_SUFFIXES) or t.low.endswith("ly")):
                break
            if (is_plural(t.low) and not is_invariant(t.low)) or t.low.endswith("'s"):
                break  # a verb ("sleeps") or a possessive starts after the noun
            taken.append(k)
            k += 1
        if not taken:
            return None
        mods = [toks[k].low for k in taken[:-1]]
        return mods, taken[-1]

    def another_count(self, head: str, k: int) -> int:
        """How many of "another" / "a second" / "a third" … follow token k and refer to the same noun
        (in this sentence and the next). "the other" is not counted: "in one hand … in the other" splits
        a pair rather than adding a thing."""
        extra = 0
        seq = self.toks[k + 1:] + self.next_toks
        for m, t in enumerate(seq):
            follow = None
            if t.low == "another":
                follow = m + 1
            elif t.low in ("a", "the") and m + 1 < len(seq) and seq[m + 1].low in ORDINALS:
                if ORDINALS[seq[m + 1].low] != extra + 2:
                    continue
                follow = m + 2
            if follow is None:
                continue
            np = self.singular_np(follow, seq)
            if np is None or same_noun(seq[np[1]].low, head):
                extra += 1
        return extra

    # -- the scan -----------------------------------------------------------------------------------
    def mentions(self) -> list[tuple[Entity, int, int]]:
        out: list[tuple[Entity, int, int]] = []
        i = 0
        while i < len(self.toks):
            q = self.quantifier(i)
            if q is None:
                i += 1
                continue
            count, j, kind = q
            found = self.noun_phrase(j, kind)
            if found is None:
                i = max(i + 1, j if kind != "one" else i + 1)
                continue
            mods, h, shared = found
            head_word = self.toks[h].low
            resume = j if shared else h + 1  # a shared head: rescan from the next quantifier
            if kind == "one":
                # "in one cage …, in another": distributing things over places, not counting places
                extra = 0 if self.low(i - 1) in _PREPOSITIONS else self.another_count(head_word, h)
                if extra == 0:
                    i = h + 1
                    continue
                count = 1 + extra
            if kind == "collective" and head_word in PLURALIA_TANTUM:
                count = None  # "a pair of glasses" is one object
            if self.measure_follows(h):
                i = resume
                continue
            ent = _entity(mods, head_word, count, self.of_phrase(h))
            if ent is not None:
                out.append((ent, self.toks[i].start, self.toks[h].end))
            i = resume
        return out

    def noun_phrase(self, j: int, kind: str) -> tuple[list[str], int, bool] | None:
        """(modifiers, head index, whether the head is shared with a following number) or None."""
        if kind in ("one", "single"):
            np = self.singular_np(j)
            if np is None:
                return None
            if kind == "one" and self.toks[np[1]].low.endswith("ing") and not np[0]:
                return None  # "one playing a saxophone": a pronoun and a verb
            return np[0], np[1], False
        np = self.plural_np(j)
        if np is not None:
            return np[0], np[1], False
        if kind == "partitive":  # "two of fatty tuna": a mass noun after "of"
            np = self.singular_np(j)
            return (np[0], np[1], False) if np is not None else None
        if self.low(j + 1) in ("and", "or", ",") and j < len(self.toks) and self.toks[j].word:
            # "two red and three blue balloons": share the head of the next noun phrase
            for k in range(j + 2, min(j + 5, len(self.toks))):
                q = self.quantifier(k)
                if q is not None and q[0] is not None:
                    shared = self.plural_np(q[1])
                    if shared is not None:
                        return [self.toks[j].low], shared[1], True
                    break
        return None

    def of_phrase(self, h: int) -> list[str]:
        """The words of "of <noun>" after a partitive head ("rolls of toilet paper" → toilet, paper)."""
        if singular(self.low(h)) not in _PARTITIVE or self.low(h + 1) != "of":
            return []
        words: list[str] = []
        for t in self.toks[h + 2:h + 5]:
            if not t.word or t.low in _STOP:
                break
            words.append(t.low)
            if is_plural(t.low):
                break
        return words

    def measure_follows(self, h: int) -> bool:
        """A size, age or distance follows the noun: "three stories tall", "two years old"."""
        return self.low(h + 1) in _MEASURE_AFTER and self.low(h + 1) not in ("in", "across", "before", "after")


# Plural-looking adjectives that may precede the head ("various" is handled as vague).
_ADJ_S = {"glorious", "famous", "gorgeous", "stainless", "wireless", "countless"}


def _entity(mods: list[str], head: str, count: int | None, of: Sequence[str] = ()) -> Entity | None:
    noun = singular(head) + (" of " + " ".join(of) if of else "")
    if noun.isdigit():
        return None
    if noun in _UNIT_NOUNS and all(m in _ADJECTIVES or m in _TIME_MODIFIERS for m in mods):
        return None  # "two long years" is a duration; "three parking meters" are things
    attrs: list[str] = []
    name_parts: list[str] = []
    for m in mods:
        if m in _INTENSIFIERS or m.endswith(("ly", "'s")):
            continue
        if m in _ADJECTIVES or m.endswith(("ed", "ous", "ful", "less", "ish", "ive", "ing", "ical", "ular",
                                           "-shaped", "-colored", "-coloured", "-sized")):
            attrs.append(m)
        else:
            name_parts.append(m)
    name = " ".join([*name_parts, noun])
    return Entity(name=name, count=count, attributes=tuple(attrs))


def _sentence_offsets(prompt: str, sentences: Sequence[str]) -> list[int]:
    offsets, pos = [], 0
    for s in sentences:
        at = prompt.find(s, pos)
        offsets.append(max(at, 0))
        if at >= 0:
            pos = at + len(s)
    return offsets


def find_counts(prompt: str, segments: Sequence[str] | None = None) -> list[CountMention]:
    """Entities with stated counts (or vague quantities) in ``prompt``, each with its sentence index.

    Args:
        prompt: the raw prompt.
        segments: the item's segments when it has them; sentence indexes refer to these. Default:
            ``split_default(prompt)``.

    Returns:
        One mention per distinct entity, in order of first mention. A noun mentioned twice with the
        same count ("Two cats … the two cats …") is kept once.
    """
    sentences = list(segments) if segments is not None else split_default(prompt)
    found: list[CountMention] = []
    for si, sent in enumerate(sentences):
        nxt = sentences[si + 1] if si + 1 < len(sentences) else ""
        for ent, a, b in _Parser(sent, nxt).mentions():
            found.append(CountMention(ent, si, a, b))
    return _dedupe(found)


def _dedupe(found: list[CountMention]) -> list[CountMention]:
    out: list[CountMention] = []
    for m in found:
        clash = [k for k, o in enumerate(out) if o.entity.name == m.entity.name]
        if any(out[k].entity.count == m.entity.count for k in clash):
            continue  # the same entity mentioned again
        if clash and m.entity.count is None:
            continue  # "three cats … several cats": keep the stated count
        if clash:
            # Same noun, different counts ("two red and three blue balloons"): name them by attributes.
            for k in clash:
                out[k] = _with_attribute_name(out[k])
            m = _with_attribute_name(m)
            if any(o.entity.name == m.entity.name for o in out):
                continue
        out.append(m)
    return out


def _with_attribute_name(m: CountMention) -> CountMention:
    e = m.entity
    if not e.attributes or e.name.startswith(" ".join(e.attributes) + " "):
        return m
    return CountMention(Entity(" ".join(e.attributes + (e.name,)), e.count, e.attributes), m.sentence, m.start, m.end)


def parse_counts(prompt: str) -> list[Entity]:
    """The entities of :func:`find_counts` (count None for "several"/"many"/"a few")."""
    return [m.entity for m in find_counts(prompt)]


def facts_from_mentions(mentions: Sequence[CountMention]) -> list[Fact]:
    """A ``count`` fact per counted mention and a ``presence`` fact per uncounted one."""
    facts = []
    for m in mentions:
        if m.entity.count is None:
            facts.append(Fact(type="presence", sentence=m.sentence, entity=m.entity.name))
        else:
            facts.append(Fact(type="count", sentence=m.sentence, entity=m.entity.name, value=m.entity.count))
    return facts
