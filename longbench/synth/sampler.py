"""Seeded scene sampler (pure Python ``random.Random``: identical on every platform)."""

from __future__ import annotations

import random

from longbench.synth.world import (
    BACKGROUND_COLOURS,
    MAX_COUNT,
    MAX_GROUPS,
    MIN_COUNT,
    MIN_GROUPS,
    NEUTRAL_COLOURS,
    OBJECT_COLOURS,
    REGIONS,
    SHAPES,
    SIZES,
    Group,
    Scene,
)

#: Probability that the background is neutral (white/gray/black) rather than an object colour.
P_NEUTRAL_BACKGROUND = 0.7


def sample_scene(rng: random.Random | int) -> Scene:
    """Draw a scene: background, 3-8 groups with distinct regions and distinct (colour, shape) pairs.

    Args:
        rng: a ``random.Random`` (consumed) or an integer seed.
    """
    if not isinstance(rng, random.Random):
        rng = random.Random(rng)
    if rng.random() < P_NEUTRAL_BACKGROUND:
        background = rng.choice(tuple(NEUTRAL_COLOURS))
    else:
        background = rng.choice([c for c in BACKGROUND_COLOURS if c not in NEUTRAL_COLOURS])
    colours = [c for c in OBJECT_COLOURS if c != background]
    n_groups = rng.randint(MIN_GROUPS, MAX_GROUPS)
    regions = rng.sample(REGIONS, n_groups)
    pairs = rng.sample([(c, s) for c in colours for s in SHAPES], n_groups)
    groups = tuple(
        Group(shape=shape, colour=colour, size=rng.choice(SIZES), region=region,
              count=rng.randint(MIN_COUNT, MAX_COUNT))
        for region, (colour, shape) in zip(regions, pairs))
    scene = Scene(background, groups).sorted()
    scene.validate()
    return scene
