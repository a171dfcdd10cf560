"""Seeded drafts of a scene world's suite items: item ``i`` of a split is a (scene, prompt) drawn from a
generator seeded by ``(seed, i)`` alone, so any item can be rebuilt without the others (``--limit``, train
splits of any size, datasets that draw items on the fly)."""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from typing import Any, TypeVar

P = TypeVar("P")


def item_rng(seed: int | str, i: int, tag: str = "") -> random.Random:
    """The generator of item ``i`` of the split seeded ``seed``; ``tag`` keeps a world's streams apart."""
    return random.Random(f"{tag}{seed}:{i}")  # str seeds hash with SHA-512: stable across platforms


def draft(seed: int | str, i: int, sample_scene: Callable[[random.Random], Any],
          make_prompt: Callable[[Any, random.Random], P], tag: str = "",
          exclude: Collection[Any] = frozenset()) -> tuple[Any, P]:
    """Scene and prompt of item ``i``: the scene is sampled from :func:`item_rng` (redrawn from the same
    generator while its ``key()`` is in ``exclude``), then the prompt is written with the same generator."""
    rng = item_rng(seed, i, tag)
    scene = sample_scene(rng)
    while exclude and scene.key() in exclude:
        scene = sample_scene(rng)
    return scene, make_prompt(scene, rng)
