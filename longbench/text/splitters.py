"""Sentence splitters for segment-level encoding and scoring.

Two splitters:

* ``longalign`` — the LongAlign reference behaviour, bit-for-bit: ``re.split`` on the pattern
  ``"!|\\.|\\?|;"`` (its alternatives are ``"!``, ``.``, ``?`` and ``;"`` — the stray quotes mean a bare
  ``!`` or ``;`` never splits), empty pieces dropped, ``"."`` appended to every piece, and the whole
  caption kept when nothing is left. Needed to reproduce released checkpoints.
* ``default`` — real sentence boundaries (``.``, ``!``, ``?``, ``;``, with closing quotes/brackets),
  never inside decimals ("3.5"), abbreviations ("e.g.", "Dr.", "a.m."), initials or ellipses; a sentence
  longer than the token budget is cut at clause boundaries (``,``, ``:``, dashes, then words) so no
  segment is ever truncated. Segments are stripped substrings of the prompt, in order: joining them with
  spaces loses no word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol

from longbench.errors import LongbenchError

LONGALIGN_PATTERN = re.compile(r'"!|\.|\?|;"')

# Lower-cased abbreviations whose trailing period does not end a sentence.
_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "vs", "cf", "approx", "ca", "mr", "mrs", "ms", "dr", "prof", "st", "mt", "ft",
    "jr", "sr", "no", "fig", "a.m", "p.m", "u.s", "u.k", "inc", "ltd", "co", "ave", "rd", "blvd", "dept",
    "est", "vol", "op", "feat", "min", "max", "incl",
}
_END = re.compile(r"""(\.{3}|…|[.!?;])(["'”’)\]]*)(?=\s|$)""")
_CLAUSE = re.compile(r"(?<=[,:])\s+|\s+(?=[—–-]\s)|(?<=[—–])\s+")

# Content tokens per segment: 77 minus the start and end tokens.
MAX_SEGMENT_TOKENS = 75


class TokenCounter(Protocol):
    def __call__(self, text: str) -> int: ...  # number of content tokens (no start/end token)


def split_longalign(text: str) -> list[str]:
    """The reference splitter, exactly (see module docstring)."""
    pieces = [p + "." for p in LONGALIGN_PATTERN.split(text) if len(p) > 0]
    return pieces if pieces else [text]


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in _END.finditer(text):
        punct = m.group(1)
        if punct == ".":
            word = re.search(r"(\S+)$", text[start:m.start()])
            token = word.group(1).lower().lstrip("(\"'") if word else ""
            if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                continue  # "e.g." / "Dr." / an initial
            if re.fullmatch(r"(?:[a-z]\.)+[a-z]", token):
                continue  # dotted acronyms such as "u.s"
        if punct in ("...", "…"):
            nxt = text[m.end():].lstrip()
            if nxt[:1].islower():
                continue  # an ellipsis inside a sentence
        spans.append((start, m.end()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _fit(sentence: str, count: TokenCounter, budget: int) -> list[str]:
    """Cut an overlong sentence at clause boundaries, then between words, packing greedily."""
    if count(sentence) <= budget:
        return [sentence]
    parts = [p for p in _CLAUSE.split(sentence) if p.strip()]
    if len(parts) == 1:
        parts = sentence.split()
        if len(parts) == 1:  # one unbroken "word" longer than the budget: cut by characters
            return _cut_chars(sentence, count, budget)
    out: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current} {part}".strip()
        if count(candidate) <= budget:
            current = candidate
            continue
        if current:
            out.append(current)
        if count(part) <= budget:
            current = part
        else:
            pieces = _fit(part, count, budget)
            out.extend(pieces[:-1])
            current = pieces[-1]
    if current:
        out.append(current)
    return out


def _cut_chars(word: str, count: TokenCounter, budget: int) -> list[str]:
    out, current = [], ""
    for ch in word:
        if current and count(current + ch) > budget:
            out.append(current)
            current = ""
        current += ch
    return out + ([current] if current else [])


def split_default(text: str, count: TokenCounter | None = None, budget: int = MAX_SEGMENT_TOKENS) -> list[str]:
    """Split ``text`` into sentences; with ``count`` also cut sentences over ``budget`` tokens."""
    segments = [text[a:b].strip() for a, b in _sentence_spans(text)]
    segments = [s for s in segments if s]
    if count is not None:
        segments = [piece for s in segments for piece in _fit(s, count, budget)]
    return segments if segments else ([text.strip()] if text.strip() else [""])


def fit_segments(prompt: str, given: Sequence[str] | None, count: TokenCounter, budget: int) -> list[str]:
    """The segments a segment-level metric scores: the suite's ``given`` segments when there are any (each
    one over ``budget`` tokens cut by :func:`split_default`), else the ``default`` split of ``prompt``; either
    way no segment exceeds ``budget`` and none is truncated."""
    if given:
        segs = [piece for s in given if s.strip()
                for piece in ([s.strip()] if count(s) <= budget else split_default(s, count, budget))]
        if segs:
            return segs
    return split_default(prompt, count, budget)


#: the splitters by name, the reference first: the one list of splitter names (options, configs, the CLI)
SPLITTERS: dict[str, Callable[..., list[str]]] = {"longalign": split_longalign, "default": split_default}


def check_splitter(name: str, where: str = "") -> str:
    """``name`` if it names a splitter, else a LongbenchError (prefixed with ``where``, e.g. ``denscore``)."""
    if name not in SPLITTERS:
        prefix = f"{where}: " if where else ""
        raise LongbenchError(f"{prefix}unknown splitter {name!r} (known: {', '.join(SPLITTERS)})")
    return name


def get_splitter(name: str) -> Callable[..., list[str]]:
    return SPLITTERS[check_splitter(name)]


def split(text: str, splitter: str = "default", count: TokenCounter | None = None) -> list[str]:
    """Split with a named splitter; ``count`` (a content-token counter) lets ``default`` fit 77 tokens."""
    if splitter == "longalign":
        return split_longalign(text)
    return get_splitter(splitter)(text, count)
