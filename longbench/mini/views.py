"""What a miniature model draws for an item: the full scene, the part a truncating text encoder can
read, or a scene with K facts broken.

* ``known_scene`` (``mini:clip77``): a fact is *known* when every token of its span lies inside the
  window (``fact_last_tokens`` < window - 2). A group whose presence is unknown is omitted (every other
  fact of a group is stated with its shape noun no earlier than the introduction, so it is unknown too).
  A drawn group keeps its known colour, count and quadrant; an unknown colour is guessed uniformly from
  the object colours, an unknown count from 1-4, an unknown quadrant from the quadrants left free by
  groups whose quadrant is known. Guesses come from the request seed. The background is the stated one
  when its span is known, else ``DEFAULT_BACKGROUND``.
* ``corrupt_scene`` (``mini:corrupt-K``): the item's facts are shuffled with the request seed and the
  first K are broken in that order: presence → the group is dropped; count → another count; attribute →
  another colour; spatial → a free quadrant (a scene has at most 3 groups, so one is always free).
  Breaking a fact of a dropped group changes nothing; broken sets are nested in K.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.mini.world import (
    CLIP_WINDOW,
    DEFAULT_BACKGROUND,
    MAX_COUNT,
    MIN_COUNT,
    OBJECT_COLOURS,
    REGIONS,
    Group,
    Scene,
    shape_of,
    visible,
)

if TYPE_CHECKING:
    from longbench.suites.base import Item


def item_scene(item: Item) -> Scene:
    """The scene of a miniature item (``item.meta["mini_scene"]``); a clear error for any other item."""
    raw = item.meta.get("mini_scene") if isinstance(item.meta, dict) else None
    if raw is None:
        raise LongbenchError(f"item {item.id!r} has no miniature scene (meta.mini_scene): mini models and the "
                             f"'mini' metric only work on miniature suites such as mini-v0")
    return Scene.from_dict(raw, where=f"item {item.id!r} meta.mini_scene")


def _int_list(item: Item, key: str, n: int) -> list[int]:
    v = item.meta.get(key)
    if not (isinstance(v, list) and len(v) == n and all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
        raise LongbenchError(f"item {item.id!r}: meta.{key} must list {n} token indices")
    return v


def fact_last_tokens(item: Item) -> list[int]:
    """Content-token index of the last token of each fact's span, parallel to ``item.facts``."""
    return _int_list(item, "fact_last_tokens", len(item.facts))


def check_facts(item: Item, scene: Scene) -> None:
    """Every fact must name a group of the scene and state what the scene shows."""
    allowed = {"count": tuple(range(MIN_COUNT, MAX_COUNT + 1)), "attribute": tuple(OBJECT_COLOURS),
               "spatial": REGIONS}
    for f in item.facts:
        shape = shape_of(f.entity or "")
        g = scene.group(shape) if shape else None
        if g is None:
            names = ", ".join(sorted(x.name for x in scene.groups))
            raise LongbenchError(f"item {item.id!r}: fact {f.type!r} names {f.entity!r}, which is not a group of "
                                 f"its scene ({names})")
        if f.type not in allowed and f.type != "presence":
            raise LongbenchError(f"item {item.id!r}: fact type {f.type!r} is not used by miniature items")
        truth = {"count": g.count, "attribute": g.colour, "spatial": g.region}.get(f.type, f.value)
        if f.value != truth:
            raise LongbenchError(f"item {item.id!r}: {f.type} fact of {f.entity!r} says {f.value!r} but its "
                                 f"scene says {truth!r}")


def known_scene(item: Item, seed: int, window: int = CLIP_WINDOW) -> Scene:
    """The scene as read through a ``window``-position text encoder (module docstring)."""
    scene = item_scene(item)
    check_facts(item, scene)
    known: dict[str, dict[str, Any]] = {g.shape: {} for g in scene.groups}
    for f, last in zip(item.facts, fact_last_tokens(item)):
        if visible(last, window):
            known[shape_of(f.entity)][f.type] = f.value if f.type != "presence" else True
    rng = random.Random(f"mini-clip{window}:{seed}")
    drafts = []
    for g in scene.groups:
        k = known[g.shape]
        if "presence" not in k:
            continue
        colour = k["attribute"] if "attribute" in k else rng.choice(tuple(OBJECT_COLOURS))
        count = k["count"] if "count" in k else rng.randint(MIN_COUNT, MAX_COUNT)
        drafts.append((g, colour, count, k.get("spatial")))
    free = [r for r in REGIONS if r not in {d[3] for d in drafts}]
    groups = []
    for g, colour, count, region in drafts:
        if region is None:
            region = free.pop(rng.randrange(len(free)))
        groups.append(Group(g.shape, colour, region, count))
    bg_last = item.meta.get("background_last_token")
    if not isinstance(bg_last, int) or isinstance(bg_last, bool):
        raise LongbenchError(f"item {item.id!r}: meta.background_last_token must be a token index")
    background = scene.background if visible(bg_last, window) else DEFAULT_BACKGROUND
    return Scene(background, tuple(groups)).sorted()


def corrupt_scene(item: Item, k: int, seed: int) -> Scene:
    """The scene with ``k`` of the item's facts broken (module docstring)."""
    scene = item_scene(item)
    check_facts(item, scene)
    order = list(range(len(item.facts)))
    random.Random(f"mini-corrupt:{seed}").shuffle(order)
    groups: dict[str, Group | None] = {g.shape: g for g in scene.groups}
    for fi in order[:k]:
        f = item.facts[fi]
        shape = shape_of(f.entity)
        g = groups[shape]
        if g is None:
            continue  # the group is already dropped
        rng = random.Random(f"mini-corrupt:{seed}:{fi}")
        if f.type == "presence":
            groups[shape] = None
        elif f.type == "count":
            groups[shape] = Group(g.shape, g.colour, g.region,
                                  rng.choice([c for c in range(MIN_COUNT, MAX_COUNT + 1) if c != g.count]))
        elif f.type == "attribute":
            groups[shape] = Group(g.shape, rng.choice([c for c in OBJECT_COLOURS if c != g.colour]), g.region, g.count)
        else:  # spatial (check_facts admits no other type)
            taken = {x.region for x in groups.values() if x is not None}
            groups[shape] = Group(g.shape, g.colour, rng.choice([r for r in REGIONS if r not in taken]), g.count)
    return Scene(scene.background, tuple(g for g in groups.values() if g is not None)).sorted()
