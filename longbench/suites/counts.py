"""Count parser: finds stated quantities of things in raw prompts so imported suites get entities.

Recognised (case-insensitive):

* a number then a noun phrase: number words ("two" … "twenty", "thirty" … "ninety", "twenty-five"),
  digits 1–999, "N dozen"; the head noun is the first plural noun within a few words
  ("three small red boats" → boat ×3, attributes small, red);
* "a pair of", "a couple of" (2), "a trio of" (3), "a quartet of" (4), "a dozen" (12),
  "half a dozen" (6), "twin" (2);
* "one <noun> … another / the other / a second …" (2, and one more per "a third" …);
* "a single" / "a lone" / "a solitary" / "exactly one" (1) — a bare "one <noun>" is only a count when
  "another" follows, because "in one corner", "one hand" are almost never meant as counts;
* "several", "many", "a few", "numerous", "multiple", "countless", "a handful of", "dozens of" …:
  the entity, without a count.

Rejected as counts: times ("3 pm", "five o'clock", "3:30"), ages and sizes written as compounds
("5-year-old", "two-story"), measurements ("10 cm", "ten feet tall", "two years old"), years and other
numbers over 999, decimals, percentages, money, labels ("number 7", "Route 66", "Apollo 11"),
"one of the", ranges ("two or three", "3-4"), approximations ("about 20", "more than two"), ordinals,
"at one point", "one another", numbers inside quoted text, and "a pair of" before a one-piece noun
("a pair of glasses").

:func:`find_counts` returns mentions with their sentence index (into ``split_default(prompt)`` or the
given segments) so callers can attach facts; :func:`parse_counts` returns just the entities.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Sequence

from longbench.suites.base import Entity, Fact
from longbench.suites.lexicon import (ORDINALS, PLURALIA_TANTUM, TENS, UNITS, WORD_RE, is_plural, same_noun,
                                      singular)
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
    "here", "than", "then", "so", "if", "not", "also", "just", "only", "even", "too", "very", "each",
    "per", "about", "up", "down", "off", "out", "away", "together", "apart", "again", "facing",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "another", "other",
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
    "point", "half", "third", "quarter", "tone", "shade", "side", "end", "direction", "level", "layer",
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
    "flight", "pier", "exit", "jersey", "number", "nr", "iso", "f", "type", "series", "mark", "lane",
    "row", "seat", "block", "stage", "phase", "round", "day", "week", "year", "figure", "fig",
}
_APPROX_BEFORE = {"about", "around", "approximately", "roughly", "nearly", "almost", "over", "under",
                  "some", "maybe", "perhaps", "circa", "than", "least", "most", "to", "or", "upwards",
                  "possibly", "probably", "estimated", "past", "after", "before", "by", "until", "til"}
_RANGE_AFTER = {"or", "to", "-", "–", "—", "/"}
_VAGUE = {"several", "many", "numerous", "multiple", "countless", "various", "innumerable", "myriad"}
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
    "giant", "tall", "short", "long", "wide", "narrow", "thick", "thin", "round", "square", "tall",
    "old", "young", "new", "ancient", "antique", "modern", "vintage", "wooden", "metal", "metallic",
    "glass", "ceramic", "plastic", "stone", "marble", "brass", "copper", "iron", "steel", "leather",
    "wool", "woolen", "woollen", "silk", "cotton", "paper", "velvet", "wicker", "bamboo", "clay",
    "porcelain", "crystal", "identical", "matching", "tiny", "fluffy", "shiny", "rusty", "empty",
    "full", "open", "closed", "broken", "striped", "spotted", "plain", "ornate", "elegant", "colorful",
    "colourful", "fresh", "ripe", "dry", "wet", "hot", "cold", "warm", "soft", "hard", "heavy",
    "slender", "sleek", "worn", "weathered", "polished", "painted", "carved", "lit", "unlit",
    "glowing", "sleeping", "standing", "sitting", "smiling", "happy", "sad", "cute", "beautiful",
    "wild", "tame", "stray", "baby", "adult", "elderly", "identical", "twin", "massive", "miniature",
}
_VERB_SUFFIXES = ("ing", "ed")


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
            if nxt in _COLLECTIVE and self.low(i + 2) == "of":
                return _COLLECTIVE[nxt], i + 3, "collective"
            if nxt == "dozen":
                return 12, i + 3 if self.low(i + 2) == "of" else i + 2, "exact"
            if nxt == "few" or (nxt in ("handful", "multitude", "myriad") and self.low(i + 2) == "of"):
                return None, i + 3 if nxt != "few" else i + 2, "vague"
            if nxt in _SINGLE_ADJ:
                return 1, i + 2, "single"
            return None
        if w == "half" and nxt == "a" and self.low(i + 2) == "dozen":
            return 6, i + 4 if self.low(i + 3) == "of" else i + 3, "exact"
        if w in _VAGUE:
            return None, i + 1, "vague"
        if w in _VAGUE_OF and nxt == "of":
            return None, i + 2, "vague"
        if w == "twin":
            return 2, i + 1, "exact"
        if w in ("exactly", "only", "just") and nxt == "one":
            return 1, i + 2, "single"
        n = number_value(w)
        if n is None or not self.number_ok(i, n):
            return None
        j = i + 1
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
        if prev in _LABEL_BEFORE or prev in _APPROX_BEFORE:
            return False
        if tok.text[0].isdigit() and i > 0 and self.toks[i - 1].word and self.toks[i - 1].text[0].isupper():
            return False  # "Apollo 11", "Route 66"
        if nxt in _RANGE_AFTER and number_value(self.low(i + 2)) is not None:
            return False
        if nxt in ("of", "another", "by", "more", "less", "or", "times", "and"):
            return False  # "one of the", "one another", "one by one", "two more", "and a half"
        if prev in ("at", "every", "each", "any", "which", "no", "the") and n == 1:
            return False  # "at one point", "the one on the left"
        return True

    # -- noun phrases -------------------------------------------------------------------------------
    def plural_np(self, j: int, toks: list[_Tok] | None = None) -> tuple[list[str], int] | None:
        """Modifiers and index of the head noun: the first plural noun within 6 words of j."""
        toks = self.toks if toks is None else toks
        mods: list[str] = []
        for k in range(j, min(j + 7, len(toks))):
            t = toks[k]
            if not t.word or t.low in _STOP or number_value(t.low) is not None:
                return None
            if is_plural(t.low) and not (mods == [] and t.low in _ADJ_S):
                return mods, k
            mods.append(t.low)
        return None

    def singular_np(self, j: int, toks: list[_Tok] | None = None) -> tuple[list[str], int] | None:
        """Modifiers and head of a singular noun phrase: the last word before a phrase boundary."""
        toks = self.toks if toks is None else toks
        taken: list[int] = []
        for k in range(j, min(j + 5, len(toks))):
            t = toks[k]
            if not t.word or t.low in _STOP or number_value(t.low) is not None:
                break
            if taken and (t.low.endswith(_VERB_SUFFIXES) or t.low.endswith("ly")):
                break
            if is_plural(t.low) or t.low.endswith("'s"):
                break  # a verb ("sleeps") or a possessive starts after the noun
            taken.append(k)
        if not taken:
            return None
        mods = [toks[k].low for k in taken[:-1]]
        return mods, taken[-1]

    def another_count(self, head: str, k: int) -> int:
        """How many of "another" / "the other" / "a second" / "a third" … follow token k and refer
        to the same noun (in this sentence and the next)."""
        extra = 0
        seq = self.toks[k + 1:] + self.next_toks
        for m, t in enumerate(seq):
            follow = None
            if t.low == "another":
                follow = m + 1
            elif t.low in ("a", "the") and m + 1 < len(seq) and (
                    seq[m + 1].low in ORDINALS or seq[m + 1].low == "other"):
                if seq[m + 1].low in ORDINALS and ORDINALS[seq[m + 1].low] != extra + 2:
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
            found = self.noun_phrase(count, j, kind)
            if found is None:
                i = max(i + 1, j if kind != "one" else i + 1)
                continue
            mods, h = found
            head_word = self.toks[h].low
            resume = h + 1 if h == j + len(mods) else j  # a shared head: rescan the next quantifier
            if kind == "one":
                extra = self.another_count(head_word, h)
                if extra == 0:
                    i = h + 1
                    continue
                count = 1 + extra
            if kind == "collective" and head_word in PLURALIA_TANTUM:
                count = None  # "a pair of glasses" is one object
            if self.measure_follows(h):
                i = resume
                continue
            ent = _entity(mods, head_word, count)
            if ent is not None:
                out.append((ent, self.toks[i].start, self.toks[h].end))
            i = resume
        return out

    def noun_phrase(self, count: int | None, j: int, kind: str) -> tuple[list[str], int] | None:
        if kind in ("one", "single"):
            return self.singular_np(j)
        np = self.plural_np(j)
        if np is None and self.low(j + 1) in ("and", "or") or np is None and self.low(j + 1) == ",":
            # "two red and three blue balloons": share the head of the next noun phrase
            for k in range(j + 2, min(j + 5, len(self.toks))):
                q = self.quantifier(k)
                if q is not None and q[0] is not None:
                    shared = self.plural_np(q[1])
                    if shared is not None and j < len(self.toks) and self.toks[j].word:
                        return [self.toks[j].low], shared[1]
                    break
        return np

    def measure_follows(self, h: int) -> bool:
        """A size, age or distance follows the noun: "three stories tall", "two years old"."""
        return self.low(h + 1) in _MEASURE_AFTER and self.low(h + 1) not in ("in", "across", "before", "after")


# Plural-looking adjectives that may precede the head ("various" is handled as vague).
_ADJ_S = {"glorious", "famous", "gorgeous", "stainless", "wireless", "countless"}


def _entity(mods: list[str], head: str, count: int | None) -> Entity | None:
    noun = singular(head)
    if noun in _UNIT_NOUNS or noun.isdigit():
        return None
    attrs: list[str] = []
    name_parts: list[str] = []
    for m in mods:
        if m in _INTENSIFIERS or m.endswith("ly") or m.endswith("'s"):
            continue
        if m in _ADJECTIVES or m.endswith(("ed", "ous", "ful", "less", "ish", "ive", "ing")):
            attrs.append(m)
        else:
            name_parts.append(m)
    name = " ".join(name_parts + [noun])
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
