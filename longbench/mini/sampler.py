"""Seeded scene sampler (pure Python ``random.Random``: identical on every platform)."""

from __future__ import annotations

import random

from longbench.errors import LongbenchError
from longbench.mini.world import (
    BACKGROUND_COLOURS,
    HOMES,
    LAYOUTS,
    MAX_COUNT,
    MAX_GROUPS,
    MIN_COUNT,
    MIN_GROUPS,
    OBJECT_COLOURS,
    REGIONS,
    SHAPES,
    Group,
    Scene,
)


def sample_scene(rng: random.Random | int, layout: str = "free") -> Scene:
    """Draw a scene: a background, 2-3 groups with distinct shapes and quadrants; colours and counts
    uniform and independent (colours may repeat across groups). Layout ``homes`` draws the shapes among
    those with a home (``HOMES``) and puts each group there.

    Args:
        rng: a ``random.Random`` (consumed) or an integer seed.
        layout: ``free`` or ``homes`` (``world.LAYOUTS``).
    """
    if layout not in LAYOUTS:
        raise LongbenchError(f"unknown mini layout {layout!r} (known: {', '.join(LAYOUTS)})")
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    background = rng.choice(tuple(BACKGROUND_COLOURS))
    n = rng.randint(MIN_GROUPS, MAX_GROUPS)
    if layout == "homes":
        shapes = rng.sample(tuple(HOMES), n)
        regions = [HOMES[s] for s in shapes]
    else:  # the draws of mini-v0, in its order
        shapes = rng.sample(SHAPES, n)
        regions = rng.sample(REGIONS, n)
    groups = tuple(Group(shape=s, colour=rng.choice(tuple(OBJECT_COLOURS)), region=r,
                         count=rng.randint(MIN_COUNT, MAX_COUNT)) for s, r in zip(shapes, regions))
    scene = Scene(background, groups, layout).sorted()
    scene.validate()
    return scene
