"""What a synthetic model draws for an item: the full scene, the part a truncating text encoder can
read, or a scene with K facts broken.

* ``known_scene`` (``synth:clip77``): a fact is *known* when its sentence starts inside the CLIP window
  (content-token index < window - 2, see ``world.within_window``). A group whose presence fact is
  unknown is omitted (presence is always stated in the first sentence that mentions the group, so all
  its facts are unknown too). A drawn group keeps its known count, size and region; an unknown count is
  guessed uniformly from 1-4, an unknown size uniformly from small/large, an unknown region uniformly
  from the regions left free by the groups whose region is known. Guesses come from the request seed,
  so they are right by chance only. The background is the stated one when its sentence is known, else
  ``DEFAULT_BACKGROUND``.
* ``corrupt_scene`` (``synth:corrupt-K``): the item's facts are shuffled with the request seed and the
  first K are broken in that order: presence → the group is dropped (all its facts fail); count → a
  different count; attribute → the other size; spatial → a free region. Breaking a fact of an
  already dropped group changes nothing. The broken set for K is a prefix of the one for K+1, so every
  image's fact recall is non-increasing in K.
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
    within_window,
)

if TYPE_CHECKING:
    from longbench.suites.base import Item
    from longbench.text.tokenizer import TokenCounter


def needs_tokens(item: Item) -> bool:
    """Whether the item lacks stored token positions (so a tokenizer is needed to split by window)."""
    meta = item.meta if isinstance(item.meta, dict) else {}
    return not (isinstance(meta.get("fact_tokens"), list) and isinstance(meta.get("segment_starts"), list))


def item_scene(item: Item) -> Scene:
    """The scene of a synthetic item (``item.meta["scene"]``); a clear error for any other item."""
    raw = item.meta.get("scene") if isinstance(item.meta, dict) else None
    if raw is None:
        raise LongbenchError(
            f"item {item.id!r} has no synthetic scene (meta.scene): synth models and the 'synth' metric "
            f"only work on synthetic suites such as synth-v0")
    return Scene.from_dict(raw, where=f"item {item.id!r} meta.scene")


def segment_starts(item: Item, counter: TokenCounter | None = None) -> list[int]:
    """Content-token index at which each segment starts (from meta, else counted with ``counter``)."""
    if item.segments is None:
        raise LongbenchError(f"item {item.id!r} has no segments: synthetic items list their sentences")
    starts = item.meta.get("segment_starts")
    if isinstance(starts, list) and len(starts) == len(item.segments) and all(
            isinstance(s, int) and not isinstance(s, bool) for s in starts):
        return list(starts)
    if counter is None:
        from longbench.text.tokenizer import TokenCounter

        counter = TokenCounter()
    out, pos = [], 0
    for n in counter.many(list(item.segments)):
        out.append(pos)
        pos += n
    return out


def fact_starts(item: Item, counter: TokenCounter | None = None) -> list[int]:
    """Start token of each fact's sentence, parallel to ``item.facts``."""
    ft = item.meta.get("fact_tokens")
    if isinstance(ft, list) and len(ft) == len(item.facts) and all(
            isinstance(s, int) and not isinstance(s, bool) for s in ft):
        return list(ft)
    starts = segment_starts(item, counter)
    out = []
    for f in item.facts:
        if not 0 <= f.sentence < len(starts):
            raise LongbenchError(f"item {item.id!r}: fact {f.type}/{f.entity} points at sentence "
                                 f"{f.sentence}, but the item has {len(starts)} segments")
        out.append(starts[f.sentence])
    return out


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
    """The scene as read through a ``window``-position text encoder (module docstring). ``counter``
    is only used for items without stored token positions."""
    scene = item_scene(item)
    check_facts(item, scene)
    starts = fact_starts(item, counter)
    known: dict[str, dict[str, Any]] = {g.name: {} for g in scene.groups}
    for f, start in zip(item.facts, starts):
        if within_window(start, window):
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
    bs = item.meta.get("background_sentence")
    if isinstance(bs, int) and not isinstance(bs, bool):
        seg = segment_starts(item, counter)
        if 0 <= bs < len(seg) and not within_window(seg[bs], window):
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
