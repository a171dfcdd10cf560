"""The count parser's scanner: finds quantifier + noun phrase mentions in one sentence (the grammar is described
in :mod:`longbench.suites.counts`, which runs it over a prompt's sentences). Word lists:
:mod:`longbench.suites.count_words`; number words and noun morphology: :mod:`longbench.suites.lexicon`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from longbench.suites.base import Entity
from longbench.suites.count_words import (
    ADJ_S,
    ADJECTIVES,
    APPROX_BEFORE,
    APPROX_BEFORE_LARGE,
    COLLECTIVE,
    DETERMINERS,
    INTENSIFIERS,
    LABEL_BEFORE,
    MEASURE_AFTER,
    PARTITIVE,
    PREPOSITIONS,
    RANGE_AFTER,
    SINGLE_ADJ,
    STOP,
    TIME_MODIFIERS,
    UNIT_NOUNS,
    VAGUE,
    VAGUE_OF,
    VERB_SUFFIXES,
)
from longbench.suites.lexicon import (
    ORDINALS,
    PLURALIA_TANTUM,
    WORD_RE,
    is_invariant,
    is_plural,
    number_value,
    same_noun,
    singular,
)

_TOKEN_RE = re.compile(WORD_RE.pattern + r"|[^\sA-Za-z0-9]")
_QUOTE_RE = re.compile(r"\"[^\"]*\"|“[^”]*”|(?<![\w])'.+?'(?![\w])|‘[^’]*’")


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


class SentenceParser:
    """Scans the tokens of one sentence (plus the next, for "one … another"); :meth:`mentions` lists
    ``(entity, start, end)`` for every counted noun phrase."""

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
                if t.low in COLLECTIVE and self.low(i + gap + 1) == "of":
                    return COLLECTIVE[t.low], i + gap + 2, "collective"
                if not t.word or t.low in STOP:
                    break
            if nxt == "dozen":
                return 12, i + 3 if self.low(i + 2) == "of" else i + 2, "exact"
            if nxt == "few" or (nxt in ("handful", "multitude", "myriad") and self.low(i + 2) == "of"):
                return None, i + 3 if nxt != "few" else i + 2, "vague"
            if nxt in SINGLE_ADJ:
                if self.low(i - 1) in ("without", "not", "no", "nor", "never"):
                    return None  # "without a single leaf" states absence
                return None, i + 2, "single"
            return None
        if w == "half" and nxt == "a" and self.low(i + 2) == "dozen":
            return 6, i + 4 if self.low(i + 3) == "of" else i + 3, "exact"
        if w in VAGUE:
            return None, i + 1, "vague"
        if w in VAGUE_OF and nxt == "of":
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
        if prev in LABEL_BEFORE or prev in APPROX_BEFORE or (prev in APPROX_BEFORE_LARGE and n >= 10):
            return False
        if prev == "to" and self.low(i - 2) == "up":
            return False  # "up to five"
        if prev in ("or", "to", "-", "–") and number_value(self.low(i - 2)) is not None:
            return False  # the second number of a range
        if nxt in UNIT_NOUNS or singular(nxt) in UNIT_NOUNS:
            return False  # "3 km long", "two hours"
        if tok.text[0].isdigit() and i > 0 and self.toks[i - 1].word and self.toks[i - 1].text[0].isupper():
            return False  # "Apollo 11", "Route 66"
        if nxt in RANGE_AFTER and number_value(self.low(i + 2)) is not None:
            return False
        if nxt == "of" and (n == 1 or self.low(i + 2) in DETERMINERS):
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
            if (t.low in ("and", "or") and mods and mods[-1] in ADJECTIVES and k + 1 < len(toks)
                    and toks[k + 1].low in ADJECTIVES):
                k += 1  # "3 red and black funnels"
                continue
            if not t.word or t.low in STOP or number_value(t.low) is not None:
                return None
            if is_plural(t.low) and not (mods == [] and t.low in ADJ_S):
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
            if not t.word or t.low in STOP or number_value(t.low) is not None:
                break
            if taken and (t.low.endswith(VERB_SUFFIXES) or t.low.endswith("ly")):
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
                extra = 0 if self.low(i - 1) in PREPOSITIONS else self.another_count(head_word, h)
                if extra == 0:
                    i = h + 1
                    continue
                count = 1 + extra
            if kind == "collective" and head_word in PLURALIA_TANTUM:
                count = None  # "a pair of glasses" is one object
            if self.measure_follows(h):
                i = resume
                continue
            ent = make_entity(mods, head_word, count, self.of_phrase(h))
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
        if singular(self.low(h)) not in PARTITIVE or self.low(h + 1) != "of":
            return []
        words: list[str] = []
        for t in self.toks[h + 2:h + 5]:
            if not t.word or t.low in STOP:
                break
            words.append(t.low)
            if is_plural(t.low):
                break
        return words

    def measure_follows(self, h: int) -> bool:
        """A size, age or distance follows the noun: "three stories tall", "two years old"."""
        return self.low(h + 1) in MEASURE_AFTER and self.low(h + 1) not in ("in", "across", "before", "after")


def make_entity(mods: list[str], head: str, count: int | None, of: Sequence[str] = ()) -> Entity | None:
    """The entity of a noun phrase: its head noun in the singular (plus an ``of`` phrase), adjectives as
    attributes, other modifiers in the name; None for a number or a duration ("two long years")."""
    noun = singular(head) + (" of " + " ".join(of) if of else "")
    if noun.isdigit():
        return None
    if noun in UNIT_NOUNS and all(m in ADJECTIVES or m in TIME_MODIFIERS for m in mods):
        return None  # "two long years" is a duration; "three parking meters" are things
    attrs: list[str] = []
    name_parts: list[str] = []
    for m in mods:
        if m in INTENSIFIERS or m.endswith(("ly", "'s")):
            continue
        if m in ADJECTIVES or m.endswith(("ed", "ous", "ful", "less", "ish", "ive", "ing", "ical", "ular",
                                           "-shaped", "-colored", "-coloured", "-sized")):
            attrs.append(m)
        else:
            name_parts.append(m)
    name = " ".join([*name_parts, noun])
    return Entity(name=name, count=count, attributes=tuple(attrs))
