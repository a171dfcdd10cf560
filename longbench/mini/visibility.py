"""Per-fact visibility: which CLIP content token ends each fact's character span.

CLIP's tokenizer first splits text into pre-tokens (letter runs, single digits, punctuation runs; never
across a space) and then applies BPE inside each pre-token, so the tokens of a prefix that ends at a
pre-token boundary are exactly the first tokens of the whole text. Hence the last token of a span that
ends at such a boundary is ``count(text[:end]) - 1`` (content tokens, start token not counted), and the
counts of sentences joined by spaces add up. A fact is visible through a ``window``-position encoder
when that last token fits: ``last < window - 2`` (``longbench.mini.world.visible``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from longbench.text.tokenizer import TokenCounter


def _check_boundary(text: str, end: int) -> None:
    if not 0 < end <= len(text):
        raise ValueError(f"span end {end} outside a text of {len(text)} characters")
    if end < len(text) and text[end - 1].isalpha() and text[end].isalpha():
        raise ValueError(f"span end {end} cuts a word in {text!r}")


def token_positions(sentences: Sequence[Sequence[str]], spans: Sequence[Sequence[tuple[int, int]]],
                    counter: TokenCounter, known: dict[str, int] | None = None,
                    ) -> tuple[list[list[int]], list[list[int]], list[int]]:
    """For many prompts at once (one batched tokenizer call).

    Args:
        sentences: per prompt, its sentences (the prompt is them joined by single spaces).
        spans: per prompt, ``(sentence index, end character)`` of each span to place; the end must not cut
            a word.
        counter: the CLIP content-token counter.
        known: content-token counts of texts already counted (not counted again).

    Returns:
        per prompt: the content-token index at which each sentence starts, the content-token index of
        the last token of each span, and the prompt's number of content tokens.
    """
    texts: list[str] = []
    index: dict[str, int] = {}

    def slot(text: str) -> int:
        if text not in index:
            index[text] = len(texts)
            texts.append(text)
        return index[text]

    sentence_slots = [[slot(s) for s in sents] for sents in sentences]
    span_slots = []
    for sents, sp in zip(sentences, spans):
        row = []
        for si, end in sp:
            _check_boundary(sents[si], end)
            row.append(slot(sents[si][:end]))
        span_slots.append(row)
    known = known or {}
    todo = [t for t in texts if t not in known]
    fresh = dict(zip(todo, counter.many(todo)))
    counts = [known[t] if t in known else fresh[t] for t in texts]
    all_starts, all_lasts, totals = [], [], []
    for slots, sp, sslots in zip(sentence_slots, spans, span_slots):
        starts, pos = [], 0
        for k in slots:
            starts.append(pos)
            pos += counts[k]
        all_starts.append(starts)
        all_lasts.append([starts[si] + counts[k] - 1 for (si, _), k in zip(sp, sslots)])
        totals.append(pos)
    return all_starts, all_lasts, totals
