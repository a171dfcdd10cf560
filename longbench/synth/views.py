"""What a synthetic model draws for an item: the full scene, the part a truncating text encoder can
read, or a scene with K facts broken.

* ``known_scene`` (``synth:clip77``): a fact is *known* when every token that states it lies inside the
  window (:func:`fact_last_tokens`, ``world.visible``): the words naming its group and the words giving
  its value, located by the character spans the grammar records (``meta.fact_spans``) and mapped to CLIP
  tokens with the tokenizer. A group whose presence fact is unknown is omitted (presence is stated by the
  first mention of the group, and every other fact ends at or after a mention of it, so all its facts
  are unknown too). A drawn group keeps its known count, size and region; an unknown count is guessed
  uniformly from 1-4, an unknown size uniformly from small/large, an unknown region uniformly from the
  regions left free by the groups whose region is known. Guesses come from the request seed, so they
  are right by chance only. The background is the stated one when its colour word is inside the window,
  else ``DEFAULT_BACKGROUND``.
* ``corrupt_scene`` (``synth:corrupt-K``): the item's facts are shuffled with the request seed and the
  first K are broken in that order: presence → the group is dropped (all its facts fail); count → a
  different count; attribute → the other size; spatial → a free region. Breaking a fact of an
  already dropped group changes nothing. The broken set for K is a prefix of the one for K+1, so every
  image's fact recall is non-increasing in K.

Items without character spans (hand-written ones) fall back to a rule that is never more generous than
the truth: a fact counts as inside only when its whole sentence is.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.synth.world import (
    CLIP_WINDOW,
    DEFAULT_BACKGROUND,
    MAX_COUNT,
    MIN_COUNT,
    REGIONS,
    SIZES,
    Group,
    Scene,
    visible,
)

if TYPE_CHECKING:
    from longbench.suites.base import Item
    from longbench.text.tokenizer import TokenCounter


def item_scene(item: Item) -> Scene:
    """The scene of a synthetic item (``item.meta["scene"]``); a clear error for any other item."""
    raw = item.meta.get("scene") if isinstance(item.meta, dict) else None
    if raw is None:
        raise LongbenchError(
            f"item {item.id!r} has no synthetic scene (meta.scene): synth models and the 'synth' metric "
            f"only work on synthetic suites such as synth-v0")
    return Scene.from_dict(raw, where=f"item {item.id!r} meta.scene")


def _spans(item: Item, key: str, count: int | None) -> list[list[tuple[int, int]]] | None:
    """``meta[key]`` as validated character spans of the prompt (``count`` entries), None when absent."""
    raw = item.meta.get(key) if isinstance(item.meta, dict) else None
    if raw is None:
        return None
    rows = raw if count is not None else [raw]
    n = len(item.prompt)
    ok = isinstance(raw, list) and (count is None or len(raw) == count)
    out: list[list[tuple[int, int]]] = []
    for row in rows if ok else ():
        spans = row if count is not None else [row]
        if not (isinstance(spans, list) and spans and all(
                isinstance(sp, list) and len(sp) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                              for x in sp) and 0 <= sp[0] < sp[1] <= n
                for sp in spans)):
            ok = False
            break
        out.append([(sp[0], sp[1]) for sp in spans])
    if not ok:
        what = f"a list of {count} lists of [start, end] spans" if count is not None else "a [start, end] span"
        raise LongbenchError(f"item {item.id!r}: meta.{key} must be {what} inside the prompt "
                             f"({n} characters)")
    return out


def last_tokens(text: str, char_ends: list[int], counter: TokenCounter) -> list[int]:
    """For each character offset ``e`` of ``text``, the index of the last CLIP content token that starts
    before ``e`` (so a word ending at ``e`` is covered), from the tokenizer's offsets; tokenizers without
    offsets count the tokens of ``text[:e]`` instead (the same at word boundaries: CLIP's BPE never
    merges across them)."""
    import bisect

    tok = counter.tokenizer
    if getattr(tok, "is_fast", False):
        enc = tok(text, add_special_tokens=False, truncation=False, return_offsets_mapping=True, verbose=False)
        starts = [s for s, _ in enc["offset_mapping"]]
        return [bisect.bisect_left(starts, e) - 1 for e in char_ends]
    return [n - 1 for n in counter.many([text[:e] for e in char_ends])]


def _sentence_last_tokens(item: Item, counter: TokenCounter) -> list[int]:
    """Content-token index of the last token of each segment (the fallback without spans)."""
    if item.segments is None:
        raise LongbenchError(f"item {item.id!r} has no segments: synthetic items list their sentences")
    out, pos = [], 0
    for n in counter.many(list(item.segments)):
        pos += n
        out.append(pos - 1)
    return out


def fact_last_tokens(item: Item, counter: TokenCounter | None = None) -> list[int]:
    """Per fact (parallel to ``item.facts``), the CLIP content-token index (0-based, start token not
    counted) of the last token that states it: the end of the latest of its spans (``meta.fact_spans``).
    Without spans, the last token of the fact's sentence (never more generous than the truth).

    Args:
        item: a synthetic item.
        counter: the CLIP token counter (built when not given; callers keep one per instance).
    """
    if counter is None:
        from longbench.text.tokenizer import TokenCounter

        counter = TokenCounter()
    spans = _spans(item, "fact_spans", len(item.facts))
    if spans is not None:
        return last_tokens(item.prompt, [max(e for _, e in sp) for sp in spans], counter)
    ends = _sentence_last_tokens(item, counter)
    out = []
    for f in item.facts:
        if not 0 <= f.sentence < len(ends):
            raise LongbenchError(f"item {item.id!r}: fact {f.type}/{f.entity} points at sentence "
                                 f"{f.sentence}, but the item has {len(ends)} segments")
        out.append(ends[f.sentence])
    return out


def background_last_token(item: Item, counter: TokenCounter | None = None) -> int | None:
    """The content-token index of the last token naming the background colour (``meta.background_span``;
    else the last token of ``meta.background_sentence``), or None when the item says neither."""
    if counter is None:
        from longbench.text.tokenizer import TokenCounter

        counter = TokenCounter()
    span = _spans(item, "background_span", None)
    if span is not None:
        return last_tokens(item.prompt, [span[0][0][1]], counter)[0]
    bs = item.meta.get("background_sentence") if isinstance(item.meta, dict) else None
    if isinstance(bs, int) and not isinstance(bs, bool):
        ends = _sentence_last_tokens(item, counter)
        if 0 <= bs < len(ends):
            return ends[bs]
    return None


def check_facts(item: Item, scene: Scene) -> None:
    """Every fact must name a group of the scene and carry a value of the synthetic world."""
    names = {g.name for g in scene.groups}
    allowed = {"count": tuple(range(MIN_COUNT, MAX_COUNT + 1)), "attribute": SIZES, "spatial": REGIONS}
    for f in item.facts:
        if f.entity not in names:
            raise LongbenchError(f"item {item.id!r}: fact {f.type!r} names {f.entity!r}, which is not a "
                                 f"group of its scene ({', '.join(sorted(names))})")
        if f.type in allowed and f.value not in allowed[f.type]:
            raise LongbenchError(f"item {item.id!r}: {f.type} fact of {f.entity!r} has value {f.value!r} "
                                 f"(expected one of {', '.join(map(str, allowed[f.type]))})")
        if f.type not in allowed and f.type != "presence":
            raise LongbenchError(f"item {item.id!r}: fact type {f.type!r} is not used by synthetic items")
        g = scene.group(f.entity)
        truth = {"count": g.count, "attribute": g.size, "spatial": g.region}.get(f.type, f.value)
        if f.value != truth:
            raise LongbenchError(f"item {item.id!r}: {f.type} fact of {f.entity!r} says {f.value!r} but its "
                                 f"scene says {truth!r}")


def known_scene(item: Item, seed: int, window: int = CLIP_WINDOW,
                counter: TokenCounter | None = None) -> Scene:
    """The scene as read through a ``window``-position text encoder (module docstring); ``counter`` is the
    CLIP token counter (built when not given)."""
    scene = item_scene(item)
    check_facts(item, scene)
    if counter is None:
        from longbench.text.tokenizer import TokenCounter

        counter = TokenCounter()
    known: dict[str, dict[str, Any]] = {g.name: {} for g in scene.groups}
    for f, last in zip(item.facts, fact_last_tokens(item, counter)):
        if visible(last, window):
            known[f.entity][f.type] = f.value if f.type != "presence" else True
    rng = random.Random(f"clip{window}:{seed}")
    drafts = []
    for g in scene.groups:
        k = known[g.name]
        if "presence" not in k:
            continue
        count = k["count"] if "count" in k else rng.randint(MIN_COUNT, MAX_COUNT)
        size = k["attribute"] if "attribute" in k else rng.choice(SIZES)
        drafts.append((g, count, size, k.get("spatial")))
    free = [r for r in REGIONS if r not in {d[3] for d in drafts}]
    groups = []
    for g, count, size, region in drafts:
        if region is None:
            region = free.pop(rng.randrange(len(free)))
        groups.append(Group(g.shape, g.colour, size, region, count))
    background = scene.background
    bg_last = background_last_token(item, counter)
    if bg_last is not None and not visible(bg_last, window):
        background = DEFAULT_BACKGROUND
    return Scene(background, tuple(groups)).sorted()


def corrupt_scene(item: Item, k: int, seed: int) -> Scene:
    """The scene with ``k`` of the item's facts broken (module docstring)."""
    scene = item_scene(item)
    check_facts(item, scene)
    order = list(range(len(item.facts)))
    random.Random(f"corrupt:{seed}").shuffle(order)
    groups: dict[str, Group | None] = {g.name: g for g in scene.groups}
    for fi in order[:k]:
        f = item.facts[fi]
        g = groups[f.entity]
        if g is None:
            continue  # the group is already dropped
        rng = random.Random(f"corrupt:{seed}:{fi}")
        if f.type == "presence":
            groups[f.entity] = None
        elif f.type == "count":
            groups[f.entity] = Group(g.shape, g.colour, g.size, g.region,
                                     rng.choice([c for c in range(MIN_COUNT, MAX_COUNT + 1) if c != g.count]))
        elif f.type == "attribute":
            groups[f.entity] = Group(g.shape, g.colour, SIZES[1 - SIZES.index(g.size)], g.region, g.count)
        else:  # spatial (check_facts admits no other type)
            taken = {x.region for x in groups.values() if x is not None}
            free = [r for r in REGIONS if r not in taken]
            groups[f.entity] = Group(g.shape, g.colour, g.size, rng.choice(free), g.count)
    return Scene(scene.background, tuple(g for g in groups.values() if g is not None)).sorted()
