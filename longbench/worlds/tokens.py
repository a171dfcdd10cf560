"""Where a fact sits in CLIP's token sequence, and whether a truncating text encoder reads it.

CLIP's context has ``window`` positions (77): the start token (position 0), ``window - 2`` content tokens
and the end token, which a truncating tokenizer keeps in the last position. Content token ``k`` (0-based,
start token not counted) sits at position ``k + 1``. A fact is *visible* through the window when every
token stating it fits, i.e. the last of them is ``< window - 2`` (:func:`visible`).

The last token of a character span: CLIP's tokenizer splits text into pre-tokens (letter runs, single
digits, punctuation runs; never across a space) and applies BPE inside each, so the tokens of a prefix
that ends at a word boundary are exactly the first tokens of the whole text, and the counts of sentences
joined by spaces add up. One rule, two ways of applying it: :func:`last_tokens` for one text (the fast
tokenizer's character offsets, else prefix counts) and :func:`token_positions` for many prompts at once
(one batched count of sentences and sentence prefixes; used when building suites).

What items carry (``meta``): ``fact_spans``, parallel to ``facts``, per fact a ``[start, end]`` character
span of the prompt or a list of them (all words stating it), and ``background_span`` (the background
colour word). A world that stores the token positions themselves (``fact_last_tokens``,
``background_last_token``) has them read as stored. Items without spans (hand-written ones) fall back to a
rule never more generous than the truth: a fact is as late as the last token of its sentence.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    from longbench.suites.base import Item
    from longbench.text.tokenizer import TokenCounter

#: CLIP's context: 77 positions = start token + 75 content tokens + end token (a truncating tokenizer
#: keeps the end token, as transformers' CLIP tokenizer and the diffusers pipelines do).
CLIP_WINDOW = 77


def visible(last_token: int, window: int = CLIP_WINDOW) -> bool:
    """Whether a fact whose last token is content token ``last_token`` is read by a ``window``-position
    CLIP context.

    Positions count from the start token (position 0), so content token ``k`` (0-based) sits at position
    ``k + 1``; the truncated sequence keeps its end token in the last position ``window - 1``, leaving
    positions ``1 .. window - 2`` for content. Every token stating the fact must fit, so the fact is
    visible iff ``last_token + 1 <= window - 2``, i.e. ``last_token < window - 2`` (content tokens 0-74
    for 77 positions).
    """
    return last_token < window - 2


def last_tokens(text: str, char_ends: list[int], counter: TokenCounter) -> list[int]:
    """For each character offset ``e`` of ``text``, the index of the last CLIP content token that starts
    before ``e`` (so a word ending at ``e`` is covered), from the tokenizer's offsets; tokenizers without
    offsets count the tokens of ``text[:e]`` instead (the same at word boundaries: CLIP's BPE never
    merges across them)."""
    tok = counter.tokenizer
    if getattr(tok, "is_fast", False):
        enc = tok(text, add_special_tokens=False, truncation=False, return_offsets_mapping=True,
                  verbose=False)
        starts = [s for s, _ in enc["offset_mapping"]]
        return [bisect.bisect_left(starts, e) - 1 for e in char_ends]
    return [n - 1 for n in counter.many([text[:e] for e in char_ends])]


def check_word_end(text: str, end: int) -> None:
    """A span end must lie inside ``text`` and not cut a word (prefix counts are exact only there)."""
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
            check_word_end(sents[si], end)
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


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _meta(item: Item, key: str) -> Any:
    return item.meta.get(key) if isinstance(item.meta, dict) else None


def _is_span(sp: Any, n: int) -> bool:
    return isinstance(sp, list) and len(sp) == 2 and all(_is_int(x) for x in sp) and 0 <= sp[0] < sp[1] <= n


def fact_spans(item: Item) -> list[list[tuple[int, int]]] | None:
    """``meta.fact_spans`` as validated character spans of the prompt, per fact a list of ``(start, end)``
    (a fact stated by one span has a list of one); None when the item has none."""
    raw = _meta(item, "fact_spans")
    if raw is None:
        return None
    n = len(item.prompt)
    out: list[list[tuple[int, int]]] = []
    if isinstance(raw, list) and len(raw) == len(item.facts):
        for row in raw:
            spans = [row] if _is_span(row, n) else row
            if not (isinstance(spans, list) and spans and all(_is_span(sp, n) for sp in spans)):
                break
            out.append([(sp[0], sp[1]) for sp in spans])
    if len(out) != len(item.facts) or not isinstance(raw, list):
        raise LongbenchError(f"item {item.id!r}: meta.fact_spans must be a list of {len(item.facts)} lists of "
                             f"[start, end] spans inside the prompt ({n} characters); a fact stated by one span "
                             f"may give it bare")
    return out


def background_span(item: Item) -> tuple[int, int] | None:
    """``meta.background_span`` (the background colour word) as a validated ``(start, end)``, or None."""
    raw = _meta(item, "background_span")
    if raw is None:
        return None
    if not _is_span(raw, len(item.prompt)):
        raise LongbenchError(f"item {item.id!r}: meta.background_span must be a [start, end] span inside the "
                             f"prompt ({len(item.prompt)} characters)")
    return raw[0], raw[1]


def sentence_last_tokens(item: Item, counter: TokenCounter) -> list[int]:
    """Content-token index of the last token of each segment (the fallback without spans)."""
    if item.segments is None:
        raise LongbenchError(f"item {item.id!r} has no segments: synthetic items list their sentences")
    out, pos = [], 0
    for n in counter.many(list(item.segments)):
        pos += n
        out.append(pos - 1)
    return out


def _counter(counter: TokenCounter | None) -> TokenCounter:
    if counter is not None:
        return counter
    from longbench.text.tokenizer import TokenCounter

    return TokenCounter()


def fact_last_tokens(item: Item, counter: TokenCounter | None = None) -> list[int]:
    """Per fact (parallel to ``item.facts``), the CLIP content-token index (0-based, start token not
    counted) of the last token that states it: ``meta.fact_last_tokens`` when the item stores them, else
    the end of the latest of its spans (``meta.fact_spans``), else the last token of the fact's sentence
    (never more generous than the truth).

    Args:
        item: any item with facts.
        counter: the CLIP token counter (built when needed and not given; callers keep one per instance).
    """
    stored = _meta(item, "fact_last_tokens")
    if stored is not None:
        if not (isinstance(stored, list) and len(stored) == len(item.facts) and all(map(_is_int, stored))):
            raise LongbenchError(f"item {item.id!r}: meta.fact_last_tokens must list {len(item.facts)} token "
                                 f"indices")
        return stored
    spans = fact_spans(item)
    if spans is not None:
        return last_tokens(item.prompt, [max(e for _, e in sp) for sp in spans], _counter(counter))
    ends = sentence_last_tokens(item, _counter(counter))
    out = []
    for f in item.facts:
        if not 0 <= f.sentence < len(ends):
            raise LongbenchError(f"item {item.id!r}: fact {f.type}/{f.entity} points at sentence "
                                 f"{f.sentence}, but the item has {len(ends)} segments")
        out.append(ends[f.sentence])
    return out


def background_last_token(item: Item, counter: TokenCounter | None = None) -> int | None:
    """The content-token index of the last token naming the background colour: ``meta.background_last_token``
    when stored, else from ``meta.background_span``, else the last token of ``meta.background_sentence``;
    None when the item says none of these."""
    stored = _meta(item, "background_last_token")
    if stored is not None:
        if not _is_int(stored):
            raise LongbenchError(f"item {item.id!r}: meta.background_last_token must be a token index")
        return stored
    span = background_span(item)
    if span is not None:
        return last_tokens(item.prompt, [span[1]], _counter(counter))[0]
    bs = _meta(item, "background_sentence")
    if _is_int(bs):
        ends = sentence_last_tokens(item, _counter(counter))
        if 0 <= bs < len(ends):
            return ends[bs]
    return None
