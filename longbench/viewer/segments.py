"""Where each metric's per-segment scores lie in the prompt text.

``samples.jsonl`` keeps, per image and metric, a list of per-segment scores but not the segment texts.
The viewer finds the segmentation that produced a list by its length, trying in order: the splitter the
metric's protocol names (``denscore``: ``splitter``), the suite's own ``segments`` (``synth``, ``vqa``,
``segment-align``), the ``default`` splitter (``vqa`` without suite segments) and the same fitted to 77
tokens (``segment-align``), and the ``longalign`` splitter. The
first candidate with as many segments as scores whose every segment can be found, in order, in the prompt
gives the character spans that get tinted. A list that matches no candidate (e.g. one score per VQA
question) is still shown per run as a strip of scores, but the prompt text is not tinted for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

Span = tuple[int, int]


def locate(prompt: str, pieces: list[str]) -> list[Span] | None:
    """Character spans of ``pieces`` found in order in ``prompt`` (whitespace runs may differ; a trailing
    period added by the ``longalign`` splitter may be absent), or None when one is not found."""
    spans: list[Span] = []
    pos = 0
    for piece in pieces:
        found = _find(prompt, piece.strip(), pos)
        if found is None and piece.strip().endswith("."):
            found = _find(prompt, piece.strip()[:-1].rstrip(), pos)
        if found is None:
            return None
        spans.append(found)
        pos = found[1]
    return spans


def _find(prompt: str, piece: str, pos: int) -> Span | None:
    if not piece:
        return (pos, pos)
    i = prompt.find(piece, pos)
    if i >= 0:
        return (i, i + len(piece))
    words = piece.split()
    m = re.compile(r"\s+".join(re.escape(w) for w in words)).search(prompt, pos)
    return (m.start(), m.end()) if m else None


class SegmentLocator:
    """Finds the spans of per-segment score lists; one per viewer build (keeps its tokenizer)."""

    def __init__(self) -> None:
        self._counter: Any = None
        self._cache: dict[tuple[str, str, int], list[Span] | None] = {}

    def _count(self) -> Callable[[str], int]:
        if self._counter is None:
            from longbench.text.tokenizer import TokenCounter

            self._counter = TokenCounter()
        return self._counter

    def _candidates(self, item: Any, protocol: dict[str, Any]) -> Iterator[list[str]]:
        from longbench.text.splitters import MAX_SEGMENT_TOKENS, SPLITTERS, split_default, split_longalign

        def suite_segments() -> Iterator[list[str]]:
            if item.segments:
                yield list(item.segments)
                # as segment-align uses them: an overlong suite segment is cut to fit the 77-token window
                count = self._count()
                yield [piece for s in item.segments if s.strip() for piece in
                       ([s.strip()] if count(s) <= MAX_SEGMENT_TOKENS else split_default(s, count, MAX_SEGMENT_TOKENS))]

        hinted = protocol.get("splitter") if isinstance(protocol, dict) else None
        known = hinted in SPLITTERS
        order = sorted(SPLITTERS, key=lambda name: name != (hinted if known else "default"))  # the recorded one first
        if not known:
            yield from suite_segments()
        for name in order:
            if name == "longalign":
                yield split_longalign(item.prompt)
            else:
                # sentences as they are (vqa groups its questions so), then fitted to 77 tokens (segment-align);
                # fitting only cuts overlong sentences, so two lists of one length are the same list
                yield split_default(item.prompt)
                yield split_default(item.prompt, self._count(), MAX_SEGMENT_TOKENS)
        if known:
            yield from suite_segments()

    def spans(self, item: Any, metric: str, n: int, protocol: dict[str, Any]) -> list[Span] | None:
        """Spans of the ``n`` segments ``metric`` scored for ``item`` (None: no segmentation matches)."""
        key = (item.id, metric, n)
        if key not in self._cache:
            self._cache[key] = None
            for pieces in self._candidates(item, protocol):
                if len(pieces) == n:
                    found = locate(item.prompt, pieces)
                    if found is not None:
                        self._cache[key] = found
                        break
        return self._cache[key]
