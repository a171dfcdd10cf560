"""Synthetic suites: scenes → prompts → suite items with facts, entities and token positions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from longbench.suites.base import Entity, Item, Suite
from longbench.synth.grammar import Prompt, make_prompt
from longbench.synth.sampler import sample_scene
from longbench.synth.world import Scene
from longbench.worlds.suite import draft as draft_item

if TYPE_CHECKING:
    from longbench.text.tokenizer import TokenCounter

logger = logging.getLogger(__name__)

SYNTH_V0_NAME = "synth-v0"
SYNTH_V0_VERSION = "1"  # 1: facts carry the character spans that state them (meta.fact_spans)
SYNTH_V0_SEED = 20241015
SYNTH_V0_SIZE = 240
#: what ``longbench eval`` runs on a synthetic suite by default: the exact fact metric (no weights)
SYNTH_DEFAULT_METRICS = ("synth",)


def synth_metric_args() -> dict[str, dict[str, str]]:
    """Option defaults of a synthetic suite: the world's exact readers instead of learned models, so
    ``count`` and ``vqa`` need no weights (``--metric-arg`` overrides them)."""
    return {"count": {"detector": "synth"}, "vqa": {"judge": "synth"}}


def scene_item(item_id: str, scene: Scene, prompt: Prompt, sentence_tokens: Sequence[int]) -> Item:
    """Assemble a suite item from a scene, its prompt and the CLIP content-token count of each sentence.

    ``meta`` holds what models and the metric need: ``scene`` (JSON form), ``fact_spans`` (parallel to
    ``facts``: the ``[start, end]`` character spans of the prompt that state each fact, see
    ``grammar.Prompt``), ``background_span`` (the background colour word), ``background_sentence``,
    ``segment_starts`` (content-token index at which each sentence starts; the start token is not
    counted) and ``n_tokens``. Which facts a truncating encoder reads is derived from the spans with the
    tokenizer (``views.fact_last_tokens``). Token counts of sentences add up because CLIP's tokenizer
    never merges across spaces.
    """
    starts, pos = [], 0
    for n in sentence_tokens:
        starts.append(pos)
        pos += n
    entities = tuple(Entity(name=g.name, count=g.count, attributes=(g.colour, g.size)) for g in scene.groups)
    meta: dict[str, Any] = {"scene": scene.to_dict(), "fact_spans": [[list(sp) for sp in spans] for spans in prompt.fact_spans]}
    if prompt.background_span is not None:
        meta["background_span"] = list(prompt.background_span)
    meta.update(background_sentence=prompt.background_sentence, segment_starts=starts, n_tokens=pos)
    return Item(
        id=item_id, prompt=prompt.text, segments=prompt.sentences, entities=entities, facts=prompt.facts,
        tags=("synth",), meta=meta,
    )


def draft(seed: int, i: int) -> tuple[Scene, Prompt]:
    """Scene and prompt of item ``i`` of the split seeded ``seed`` (``longbench.worlds.suite.draft``)."""
    return draft_item(seed, i, sample_scene, make_prompt)


def make_items(n: int, seed: int, prefix: str = "synth", counter: TokenCounter | None = None) -> list[Item]:
    """``n`` items ``{prefix}-0000``...; item ``i`` depends only on (seed, i)."""
    from longbench.text.tokenizer import TokenCounter

    counter = counter or TokenCounter()
    drafts = [(f"{prefix}-{i:04d}", *draft(seed, i)) for i in range(n)]
    counts = counter.many([s for _, _, p in drafts for s in p.sentences])  # one batched tokenizer call
    items, k = [], 0
    for item_id, scene, prompt in drafts:
        m = len(prompt.sentences)
        items.append(scene_item(item_id, scene, prompt, counts[k:k + m]))
        k += m
    return items


def synth_v0() -> Suite:
    """The built-in synthetic suite: 240 scenes with prompts of 4-12 sentences (~60-300 CLIP tokens)."""
    return Suite(
        name=SYNTH_V0_NAME, version=SYNTH_V0_VERSION,
        items=make_items(SYNTH_V0_SIZE, SYNTH_V0_SEED, prefix="synth"),
        description="Synthetic scenes of coloured shapes on a 3×3 grid; every sentence carries known facts "
                    "(presence, count, size, region), many beyond CLIP's 77-token window.",
        default_metrics=SYNTH_DEFAULT_METRICS, metric_args=synth_metric_args(),
    )
