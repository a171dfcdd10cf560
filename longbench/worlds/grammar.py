"""The sentence plan shared by the scene worlds' grammars.

A prompt states every group in an *introduction* (presence plus any subset of the group's other fact
kinds) and up to two later *detail* sentences (the rest), in a shuffled group order; two consecutive
introductions may share one sentence (a *pair*). A world's grammar adds fillers and the background
sentence to the plan, then realises each planned sentence in its own wording. All choices come from the
``random.Random`` passed in, so a world's prompts depend only on its seed and the order of these calls.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sentence:
    """A planned sentence: which groups and fact kinds it states (text is realised after ordering)."""

    kind: str  # "background", "filler", "intro", "pair", "detail"
    groups: list[int] = field(default_factory=list)
    facts: list[list[str]] = field(default_factory=list)  # per group: fact kinds (besides presence)


def partition(rng: random.Random, kinds: Sequence[str], p_single: float) -> list[list[str]]:
    """Split a group's fact kinds (shuffled) into an introduction (first) and 0-2 detail sentences: all in
    the introduction with probability ``p_single``, else in two sentences (up to 0.9), else in three."""
    kinds = list(kinds)
    rng.shuffle(kinds)
    r = rng.random()
    if r < p_single:
        return [kinds]
    n = len(kinds)
    if r < 0.9:
        k = rng.randint(0, n - 1)
        return [kinds[:k], kinds[k:]]
    k = rng.randint(0, n - 2)
    cut = rng.randint(k + 1, n - 1)
    return [kinds[:k], kinds[k:cut], kinds[cut:]]


def plan_groups(rng: random.Random, parts: Sequence[Sequence[list[str]]], p_pair: float) -> list[Sentence]:
    """The introductions and detail sentences of all groups (``parts[g]`` from :func:`partition`).

    Groups are introduced in a shuffled order, two consecutive introductions sharing a sentence with
    probability ``p_pair``; each detail sentence is then inserted anywhere after the group's last
    sentence so far, so a detail never precedes its introduction.
    """
    n = len(parts)
    order = list(range(n))
    rng.shuffle(order)
    plan: list[Sentence] = []
    i = 0
    while i < n:
        gi = order[i]
        if i + 1 < n and rng.random() < p_pair:  # two introductions, one sentence
            gj = order[i + 1]
            plan.append(Sentence("pair", [gi, gj], [parts[gi][0], parts[gj][0]]))
            i += 2
        else:
            plan.append(Sentence("intro", [gi], [parts[gi][0]]))
            i += 1
    for gi in order:
        for kinds in parts[gi][1:]:
            last = max(j for j, s in enumerate(plan) if gi in s.groups)
            plan.insert(rng.randint(last + 1, len(plan)), Sentence("detail", [gi], [kinds]))
    return plan


class RealiserBase:
    """Base of a world's realiser (planned sentences → text), tracking per group what the reader already
    knows: ``count_stated`` holds the groups whose count has been stated (a later mention of a single
    object is singular)."""

    def __init__(self, scene: Any, rng: random.Random):
        self.scene = scene
        self.rng = rng
        self.count_stated: set[int] = set()

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        return self.rng.choice(options)

    def presence_phrase(self, clauses: Sequence[str]) -> str:
        """How a clause of a pair says that a group is there without placing it (never a phrase an
        earlier clause of the sentence used)."""
        return self.pick([e for e in ("also present", "included", "shown too")
                          if all(e not in c for c in clauses)])
