"""Miniature suites: scenes → prompts → items with facts, spans and per-fact token positions.

``mini-v0`` is the test split (200 items, fixed seed). ``train_items(n, seed)`` generates a training
split of any size: item ``i`` depends only on ``(seed, i)``, and no training scene shows the same
groups as any test scene (``Scene.key``; the background is not part of the key), so the splits never
share a picture's content. Prompts are capped at ``MAX_TOKENS`` content tokens (fillers are dropped,
last first) so that a segment encoder with ``token_length`` 240 reads every fact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from longbench.errors import LongbenchError
from longbench.mini import zoo
from longbench.mini.grammar import Prompt, make_prompt
from longbench.mini.sampler import sample_scene
from longbench.mini.world import Scene
from longbench.suites.base import Entity, Item, Suite
from longbench.worlds.suite import draft, item_rng
from longbench.worlds.tokens import token_positions

if TYPE_CHECKING:
    from longbench.text.tokenizer import TokenCounter

MINI_V0_NAME = "mini-v0"
MINI_V0_VERSION = "0"
MINI_V0_SEED = 20250611
MINI_V0_SIZE = 200
#: mini-v1: the ``homes`` layout (each shape in its home quadrant; prompts state no places), 200 items
MINI_V1_NAME = "mini-v1"
MINI_V1_VERSION = "1"
MINI_V1_SEED = 20261130
MINI_V1_SIZE = 200


@dataclass(frozen=True)
class Split:
    """The test suite of one scene layout: its name, version, seed, size and item id prefix, and the id prefix of
    the training items drawn apart from it."""

    name: str
    version: str
    seed: int
    size: int
    prefix: str
    train_prefix: str


#: per layout, its test split
TEST_SPLITS = {"free": Split(MINI_V0_NAME, MINI_V0_VERSION, MINI_V0_SEED, MINI_V0_SIZE, "mini", "mini-train"),
               "homes": Split(MINI_V1_NAME, MINI_V1_VERSION, MINI_V1_SEED, MINI_V1_SIZE, "mini1", "mini1-train")}
#: seeds no training split may use: the test splits'
TEST_SEEDS = tuple(s.seed for s in TEST_SPLITS.values())
#: Longest prompt in content tokens: with one start token per sentence it stays under 240 positions.
MAX_TOKENS = 200
#: what ``longbench eval`` runs on a miniature training split by default: the exact fact metric (no weights)
MINI_DEFAULT_METRICS = ("mini",)
#: what it runs on the test split of the shipped zoo's layout (``zoo.SHIPPED``, ``zoo.layout()``): the exact metric
#: and the learned ones on the zoo's scorers (:func:`mini_metric_args`); on the other split, the exact metric only
ZOO_SPLIT_DEFAULT_METRICS = ("mini", "denscore", "segment-align", "clipscore", "fid-clip")


def split_default_metrics(layout: str) -> tuple[str, ...]:
    """The default metrics of the layout's test split: the learned ones too where the shipped zoo's scorers were
    trained on that layout (a Denscore trained on ``homes`` scenes never learned to read stated places)."""
    return ZOO_SPLIT_DEFAULT_METRICS if zoo.SHIPPED and zoo.layout() == layout else MINI_DEFAULT_METRICS


def mini_metric_args() -> dict[str, dict[str, str]]:
    """Option defaults of the test splits: the learned metrics score with the miniature zoo's models (Denscore and
    Denscore-O with mini-denscore; segment alignment, CLIPScore and CLIP-feature FID with mini-clip), and FID
    compares with the exact renderer's images of the suite (``mini:oracle``, :class:`~longbench.metrics.
    fid_reference.ModelReference`). ``--metric-arg NAME.zoo=DIR`` points a metric at another zoo."""
    return {"denscore": {"model": "mini:denscore"}, "segment-align": {"model": "mini:clip"},
            "clipscore": {"model": "mini:clip"}, "fid-clip": {"model": "mini:clip", "ref_model": "mini:oracle"}}


#: Tag of the miniature world's item generators (``worlds.suite.item_rng``).
_TAG = "mini:"


def split_scene_keys(layout: str = "free") -> frozenset[tuple[tuple[str, str, str, int], ...]]:
    """The group keys of every scene of the layout's test split (``mini-v0`` / ``mini-v1``; no prompt or
    tokenizer needed)."""
    split = _split(layout)
    return frozenset(sample_scene(item_rng(split.seed, i, _TAG), layout).key() for i in range(split.size))


def _split(layout: str) -> Split:
    if layout not in TEST_SPLITS:
        raise LongbenchError(f"unknown mini layout {layout!r} (known: {', '.join(TEST_SPLITS)})")
    return TEST_SPLITS[layout]


def scene_item(item_id: str, scene: Scene, prompt: Prompt, sentence_starts: Sequence[int],
               fact_lasts: Sequence[int], background_last: int, n_tokens: int, tags: tuple[str, ...]) -> Item:
    """Assemble an item. ``meta``: ``mini_scene`` (the scene as JSON), ``segment_starts`` (content-token
    index where each sentence starts), ``fact_spans`` ([start, end) characters of each fact in the
    prompt, parallel to ``facts``), ``fact_last_tokens`` (content-token index of the last token of each
    fact's span), ``background_sentence``, ``background_span``, ``background_last_token`` and
    ``n_tokens``."""
    offsets = prompt.sentence_offsets()
    fact_spans = [[offsets[f.sentence] + a, offsets[f.sentence] + b] for f, (a, b) in zip(prompt.facts, prompt.spans)]
    bs = prompt.background_sentence
    entities = tuple(Entity(name=g.name, count=g.count, attributes=(g.colour,)) for g in scene.groups)
    return Item(
        id=item_id, prompt=prompt.text, segments=prompt.sentences, entities=entities, facts=prompt.facts,
        tags=tags,
        meta={"mini_scene": scene.to_dict(), "segment_starts": list(sentence_starts), "fact_spans": fact_spans,
              "fact_last_tokens": list(fact_lasts), "background_sentence": bs,
              "background_span": [offsets[bs] + prompt.background_span[0], offsets[bs] + prompt.background_span[1]],
              "background_last_token": background_last, "n_tokens": n_tokens},
    )


def _cap(prompt: Prompt, sentence_tokens: list[int]) -> tuple[Prompt, list[int]]:
    """Drop fillers, last first, until the prompt has at most ``MAX_TOKENS`` content tokens."""
    while sum(sentence_tokens) > MAX_TOKENS and prompt.fillers:
        i = prompt.fillers[-1]
        prompt = prompt.without_sentence(i)
        sentence_tokens = sentence_tokens[:i] + sentence_tokens[i + 1:]
    return prompt, sentence_tokens


def build_items(drafts: Sequence[tuple[str, Scene, Prompt]], tags: tuple[str, ...],
                counter: TokenCounter | None = None) -> list[Item]:
    """Items from (id, scene, prompt) drafts, with token positions from one batched tokenizer call."""
    from longbench.text.tokenizer import TokenCounter

    counter = counter or TokenCounter()
    unique = sorted({s for _, _, p in drafts for s in p.sentences})
    known = dict(zip(unique, counter.many(unique)))
    capped = [(i, s, _cap(p, [known[x] for x in p.sentences])[0]) for i, s, p in drafts]
    spans = [[(f.sentence, sp[1]) for f, sp in zip(p.facts, p.spans)] + [(p.background_sentence, p.background_span[1])]
             for _, _, p in capped]
    starts, lasts, totals = token_positions([p.sentences for _, _, p in capped], spans, counter, known)
    return [scene_item(item_id, scene, prompt, st, la[:-1], la[-1], n, tags)
            for (item_id, scene, prompt), st, la, n in zip(capped, starts, lasts, totals)]


def make_items(n: int, seed: int, prefix: str, exclude: frozenset = frozenset(), start: int = 0,
               tags: tuple[str, ...] = ("mini",), counter: TokenCounter | None = None,
               layout: str = "free") -> list[Item]:
    """Items ``{prefix}-{i}`` for ``i`` in ``start..start+n-1``; item ``i`` depends only on ``(seed, i)``.
    A scene whose key is in ``exclude`` is redrawn from the same generator."""
    sample = partial(sample_scene, layout=layout)
    drafts = [(f"{prefix}-{i:04d}", *draft(seed, i, sample, make_prompt, _TAG, exclude))
              for i in range(start, start + n)]
    return build_items(drafts, tags, counter)


def mini_v0() -> Suite:
    """The built-in miniature test suite: 200 scenes, prompts of ~40-200 CLIP tokens."""
    return Suite(
        name=MINI_V0_NAME, version=MINI_V0_VERSION,
        items=make_items(MINI_V0_SIZE, MINI_V0_SEED, prefix=TEST_SPLITS["free"].prefix),
        description="Miniature 32x32 scenes (2-3 groups of 7-px shapes in quadrants) for training and "
                    "testing tiny models; facts have exact spans, many beyond CLIP's 77-token window.",
        default_metrics=split_default_metrics("free"),
        metric_args=mini_metric_args(),
    )


def mini_v1() -> Suite:
    """The miniature test suite of the ``homes`` layout: 200 scenes whose shapes sit in their home quadrants,
    prompts that state no places."""
    return Suite(
        name=MINI_V1_NAME, version=MINI_V1_VERSION,
        items=make_items(MINI_V1_SIZE, MINI_V1_SEED, prefix=TEST_SPLITS["homes"].prefix, layout="homes"),
        description="Miniature 32x32 scenes whose 2-3 groups sit in their shapes' home quadrants; prompts state "
                    "shapes, colours and counts, many beyond CLIP's 77-token window.",
        default_metrics=split_default_metrics("homes"),
        metric_args=mini_metric_args(),
    )


def train_items(n: int, seed: int, start: int = 0, counter: TokenCounter | None = None,
                layout: str = "free") -> list[Item]:
    """A training split of the layout: ``n`` items from ``start``, seeded, never sharing a scene key with its
    test split (``mini-v0`` / ``mini-v1``); the test splits' seeds are refused."""
    split = _split(layout)
    if seed in TEST_SEEDS:
        raise ValueError(f"seed {seed} is a test split's seed; pick another")
    return make_items(n, seed, prefix=f"{split.train_prefix}{seed}", exclude=split_scene_keys(layout), start=start,
                      tags=("mini", "train"), counter=counter, layout=layout)


def train_suite(n: int, seed: int, layout: str = "free") -> Suite:
    """``train_items`` as a suite named ``mini-v0-train`` (``mini-v1-train``)."""
    split = _split(layout)
    return Suite(name=f"{split.name}-train", version=f"{split.version}+seed{seed}",
                 items=train_items(n, seed, layout=layout),
                 description=f"Training split of {split.name} ({n} items, seed {seed}); no scene shared with the test "
                             "split.",
                 default_metrics=MINI_DEFAULT_METRICS)
