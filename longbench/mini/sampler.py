"""Seeded scene sampler (pure Python ``random.Random``: identical on every platform)."""

from __future__ import annotations

import random

from longbench.mini.world import (
    BACKGROUND_COLOURS,
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


def sample_scene(rng: random.Random | int) -> Scene:
    """Draw a scene: a background, 2-3 groups with distinct shapes and quadrants; colours and counts
    uniform and independent (colours may repeat across groups).

    Args:
        rng: a ``random.Random`` (consumed) or an integer seed.
    """
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    background = rng.choice(tuple(BACKGROUND_COLOURS))
    n = rng.randint(MIN_GROUPS, MAX_GROUPS)
    shapes = rng.sample(SHAPES, n)
    regions = rng.sample(REGIONS, n)
    groups = tuple(Group(shape=s, colour=rng.choice(tuple(OBJECT_COLOURS)), region=r,
                         count=rng.randint(MIN_COUNT, MAX_COUNT)) for s, r in zip(shapes, regions))
    scene = Scene(background, groups).sorted()
    scene.validate()
    return scene
