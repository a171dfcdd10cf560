"""Segment-level alignment (``segment-align``): every sentence of a long prompt scored against the image.

Segments: the suite's ``segments`` when an item has them, else the ``default`` splitter; either way each
segment is fitted to the model's context (sentences over 75 tokens are cut at clause boundaries), so no
segment is ever truncated. Each segment ``s`` and the image ``x`` are embedded and L2-normalised with a
CLIP-style model using its standard preprocessing; the segment's score is ``100·x·s``.

Columns (per image, then averaged over images):

* ``segment-align-mean`` — mean segment score; ``segment-align-min`` — the worst segment's score.
* ``segment-coverage`` — how well the image's segments pick out *this* image. For every image ``i`` we fix a
  set ``O_i`` of up to ``K`` (default 16) *other* items (see below). A segment ``s`` of item ``i`` wins
  against an image ``x_o`` of ``o ∈ O_i`` when ``s·x_i > s·x_o`` (a tie counts ½). Coverage of image ``i`` is
  the mean over its segments of the fraction of the images of ``O_i`` they win against: the expected share
  of the image's segments that score higher on their own image than on a random one of the fixed other
  images. It uses no threshold and depends on the similarities only through their order, so it is
  comparable across models; chance level is 0.5 whatever ``K``. An image with no other item to compare
  against has NaN coverage.

``O_i`` is a suite-level constant: it is drawn from the items that come *before* item ``i`` in the suite —
``K`` of them, chosen pseudo-randomly with a generator seeded by ``sha256(item id)``, or all of them when
there are fewer than ``K`` (the first item of a suite has none: NaN). Because ``--limit N`` scores the first
``N`` items, every scored item finds all of ``O_i`` scored too, so an image's coverage is the same in a
limited run as in the full one; appending items to a suite does not change the earlier items' sets; and
nothing depends on update order, batch size or sharding. Used without a suite (``SegmentAlign(...)``
directly), the items of the run ordered by ``sha256(item id)`` take the suite's place; items the suite
does not list come after the suite's, in that order.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from longbench.errors import LongbenchError
from longbench.images import ImageBatch, as_image_batch
from longbench.metrics.base import LongbenchMetric, MetricContext, cat_state, split_flat
from longbench.metrics.clip_models import ClipScorer, load_clip_scorer
from longbench.metrics.functional import segment_align as F
from longbench.metrics.functional.denscore import l2_normalize
from longbench.metrics.functional.segment_align import segment_coverage  # noqa: F401 (re-export)
from longbench.metrics.options import SegmentAlignOptions
from longbench.options import option_values

DEFAULT_MODEL = SegmentAlignOptions.model
DEFAULT_OTHERS = SegmentAlignOptions.others


def item_key(item_id: str) -> int:
    """A signed 64-bit key from ``sha256(item id)`` (fits an int64 state tensor)."""
    return int.from_bytes(hashlib.sha256(item_id.encode("utf-8")).digest()[:8], "big", signed=True)


def other_items(position: int, key: int, k: int) -> list[int]:
    """Suite positions of the other items compared with the item at ``position`` (module docstring):
    ``k`` of the earlier positions drawn with a generator seeded by the item's ``key``, or all of them."""
    if position <= k:
        return list(range(position))
    return sorted(random.Random(key).sample(range(position), k))


def other_sets(keys: torch.Tensor, order: dict[int, int], k: int) -> list[list[int]]:
    """For each sample, the indices of the samples (images) of its other items.

    Args:
        keys: (N,) int64 item keys (:func:`item_key`), one per sample; several samples may share an item.
        order: item key → position in the suite; keys it lacks are placed after it, by key.
        k: the number of other items per item.
    """
    key_list = keys.tolist()
    pos = dict(order)
    for key in sorted(set(key_list) - set(pos)):
        pos[key] = len(pos)
    samples_at: dict[int, list[int]] = {}
    for i, key in enumerate(key_list):
        samples_at.setdefault(pos[key], []).append(i)
    sets: dict[int, list[int]] = {}
    for key in set(key_list):
        sets[key] = [j for p in other_items(pos[key], key, k) for j in samples_at.get(p, ())]
    return [sets[key] for key in key_list]


class SegmentAlign(LongbenchMetric):
    """``segment-align-mean``, ``segment-align-min`` and ``segment-coverage``; per-segment scores kept.

    Args:
        model: spec (HF id, directory, ``open_clip:ARCH:PATH``) or a loaded model / :class:`ClipScorer`.
        processor: processor spec or object (defaults to the model's own).
        others: ``K``, the number of other items' images each image's segments are compared against.
        use_suite_segments: use an item's ``segments`` when it has them (else always split the prompt).
        device: torch device for loading a spec.
        dtype: model dtype for loading a spec.
        tokenizer_fallback: use the bundled CLIP tokenizer when the processor is not available offline.
        trust_remote_code: passed to transformers when loading a spec.
        zoo: the zoo directory of a ``mini:`` model spec (default: the shipped weights).
        item_order: the suite's item ids in suite order (the other items of each item are drawn from the
            ones before it); None: the run's items ordered by ``sha256(item id)``.
        order_source: what ``item_order`` came from (recorded in the protocol).
    """

    name: ClassVar[str] = "segment-align"
    version: ClassVar[str] = "2"
    columns: ClassVar[dict[str, bool]] = {"segment-align-mean": True, "segment-align-min": True,
                                         "segment-coverage": True}
    higher_is_better = True
    Options = SegmentAlignOptions

    def __init__(self, model: Any = DEFAULT_MODEL, processor: Any = None, *, others: int = DEFAULT_OTHERS,
                 use_suite_segments: bool = True, device: str = "cpu", dtype: str = "float32",
                 tokenizer_fallback: bool = False, trust_remote_code: bool = False, zoo: str | None = None,
                 item_order: Sequence[str] | None = None, order_source: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if int(others) < 1:
            raise LongbenchError(f"segment-align: others must be >= 1, got {others}")
        self.others = int(others)
        self.use_suite_segments = bool(use_suite_segments)
        self._order = {item_key(i): p for p, i in enumerate(item_order or ())}
        self.order_source = order_source if item_order else None
        if isinstance(model, str):
            self.scorer = load_clip_scorer(model, processor, device=device, dtype=dtype,
                                           tokenizer_fallback=tokenizer_fallback,
                                           trust_remote_code=trust_remote_code, what="segment-align model", zoo=zoo)
        else:
            self.scorer = ClipScorer.wrap(model, processor)
        self._segment_cache: dict[tuple[str, Any], list[str]] = {}  # splitting counts tokens: do it once
        for state in ("image_feats", "segment_feats", "segment_counts", "item_keys"):
            self.add_state(state, default=[], dist_reduce_fx="cat")

    @classmethod
    def from_context(cls, ctx: MetricContext, options: SegmentAlignOptions) -> SegmentAlign:
        kwargs = {**option_values(options), "device": options.device or ctx.device}
        suite = ctx.suite
        if suite is not None:  # the whole suite, also under --limit: the other items are a suite constant
            kwargs["item_order"] = [it.id for it in suite.items]
            kwargs["order_source"] = f"suite:{suite.name}@{suite.version}:{suite.sha256[:12]}"
        return cls(**kwargs, **ctx.metric_kwargs)

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        from longbench.metrics.weights_status import segment_align

        return segment_align()

    def segments_of(self, item: Any) -> list[str]:
        """The item's segments, each fitted to the model's context (never truncated)."""
        from longbench.text.splitters import fit_segments

        budget = self.scorer.context_length - 2
        if isinstance(item, str):
            return fit_segments(item, None, self.scorer.count_tokens, budget)
        given = item.segments if self.use_suite_segments else None
        return fit_segments(item.prompt, given, self.scorer.count_tokens, budget)

    @staticmethod
    def _segment_key(item: Any) -> tuple[str, Any]:
        if isinstance(item, str):
            return item, None
        return item.prompt, None if item.segments is None else tuple(item.segments)

    def _segments_cached(self, item: Any) -> list[str]:
        key = self._segment_key(item)
        if key not in self._segment_cache:
            self._segment_cache[key] = self.segments_of(item)
        return self._segment_cache[key]

    def _fit_new(self, items: Sequence[Any]) -> None:
        """Fit the segments of the items not seen before with one tokenizer call for all their sentences:
        a first pass takes every uncounted sentence as short and notes it; the noted sentences are counted
        in one batch; an item with a sentence over the budget is fitted again with the real counts (the
        first pass is exact for every other item: a short sentence is kept whole either way)."""
        from longbench.text.splitters import fit_segments

        budget = self.scorer.context_length - 2
        drafts = []
        for it in items:
            key = self._segment_key(it)
            if key in self._segment_cache:
                continue
            noted: list[str] = []

            def probe(text: str, noted: list[str] = noted) -> int:
                n = self.scorer._count_cache.get(text)
                if n is None:
                    noted.append(text)
                    return 0
                return n

            given = None if isinstance(it, str) or not self.use_suite_segments else it.segments
            self._segment_cache[key] = fit_segments(it if isinstance(it, str) else it.prompt, given, probe, budget)
            drafts.append((it, key, noted))
        self.scorer.prime_token_counts([t for _, _, noted in drafts for t in noted])
        for it, key, noted in drafts:
            if any(self.scorer.count_tokens(t) > budget for t in noted):
                self._segment_cache[key] = self.segments_of(it)

    @torch.inference_mode()
    def update(self, images: ImageBatch | Sequence[Any], items: Sequence[Any]) -> None:
        if len(images) != len(items):
            raise LongbenchError(f"segment-align: {len(images)} images but {len(items)} items")
        if not len(images):
            return
        batch = as_image_batch(images, device=self.scorer.device, where="segment-align image")
        x = l2_normalize(self.scorer.image_features(self.scorer.standard_pixels(batch)).float())
        self._fit_new(items)
        segs = [self._segments_cached(it) for it in items]
        flat = [s for ss in segs for s in ss]
        feats = self.scorer.normalized_text_features(flat).to(x)
        ids = [it if isinstance(it, str) else it.id for it in items]
        self.image_feats.append(x)
        self.segment_feats.append(feats)
        self.segment_counts.append(torch.tensor([len(s) for s in segs], dtype=torch.long, device=x.device))
        self.item_keys.append(torch.tensor([item_key(i) for i in ids], dtype=torch.long, device=x.device))

    def _gathered(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = cat_state(self.image_feats, torch.zeros(0, 0)).cpu()
        s = cat_state(self.segment_feats, torch.zeros(0, 0)).cpu()
        counts = cat_state(self.segment_counts, torch.zeros(0, dtype=torch.long)).cpu()
        keys = cat_state(self.item_keys, torch.zeros(0, dtype=torch.long)).cpu()
        return x, s, counts, keys

    def per_sample(self) -> dict[str, list[float]]:
        x, s, counts, keys = self._gathered()
        n = x.shape[0]
        if n == 0:
            return {col: [] for col in self.columns}
        cols = F.segment_align(x, s, counts, other_sets(keys, self._order, self.others))
        return {col: values.tolist() for col, values in cols.items()}

    def compute(self) -> dict[str, float]:
        out = {}
        for col, vals in self.per_sample().items():
            v = torch.tensor(vals, dtype=torch.float64)
            v = v[~torch.isnan(v)]
            out[col] = float(v.mean()) if v.numel() else math.nan
        return out

    def per_segment(self) -> list[list[float]] | None:
        x, s, counts, _ = self._gathered()
        if x.shape[0] == 0:
            return []
        return split_flat(F.own_segment_scores(x, s, counts), counts)

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "model": self.scorer.describe(),
                "segments": ("suite segments when given, else splitter 'default'" if self.use_suite_segments
                             else "splitter 'default'") + f", fitted to {self.scorer.context_length - 2} tokens",
                "image": "model's standard preprocessing (image processor)",
                "coverage": {"others": self.others, "ties": 0.5,
                             "order": self.order_source or "items of the run by sha256(item id)",
                             "other_items": "K of the items before the item in that order, drawn with "
                                            "random.Random(first 8 bytes of sha256(item id), signed); all "
                                            "when fewer",
                             "definition": "mean over segments of the share of K other items' images scoring "
                                           "lower than the segment's own image"}}
