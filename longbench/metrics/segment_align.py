"""Segment-level alignment (``segment-align``): every sentence of a long prompt scored against the image.

Segments: the suite's ``segments`` when an item has them, else the ``default`` splitter; either way each
segment is fitted to the model's context (sentences over 75 tokens are cut at clause boundaries), so no
segment is ever truncated. Each segment ``s`` and the image ``x`` are embedded and L2-normalised with a
CLIP-style model using its standard preprocessing; the segment's score is ``100·x·s``.

Columns (per image, then averaged over images):

* ``segment-align-mean`` — mean segment score; ``segment-align-min`` — the worst segment's score.
* ``segment-coverage`` — how well the image's segments pick out *this* image. For every image ``i`` we fix a
  set ``O_i`` of ``K`` (default 16) images of *other* items from the same run (see below). A segment ``s`` of
  item ``i`` wins against ``o ∈ O_i`` when ``s·x_i > s·x_o`` (a tie counts ½). Coverage of image ``i`` is the
  mean over its segments of the fraction of ``O_i`` they win against: the expected share of the image's
  segments that score higher on their own image than on a random one of the fixed other images. It uses
  no threshold and depends on the similarities only through their order, so it is comparable across
  models; chance level is 0.5 whatever ``K``. With fewer than two distinct items in the run it is NaN.

``O_i`` is fixed by item ids alone: the run's images are put in a pseudo-random order keyed by
``sha256(item id)`` (ties, i.e. several images of one item, broken by the image features), and ``O_i`` is
the first ``K`` images after ``i`` in that cyclic order whose item differs from ``i``'s. The set therefore
does not depend on update order, batch size or how the run was sharded, only on which items were scored
(``--limit`` changes it, as it changes the run).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from longbench.errors import LongbenchError
from longbench.metrics.base import LongbenchMetric, MetricContext
from longbench.metrics.clip_models import ClipScorer, load_clip_scorer, to_uint8_tensors
from longbench.metrics.denscore import split_flat
from longbench.metrics.functional.denscore import l2_normalize

DEFAULT_MODEL = "openai/clip-vit-large-patch14"
DEFAULT_OTHERS = 16


def item_key(item_id: str) -> int:
    """A signed 64-bit key from ``sha256(item id)`` (fits an int64 state tensor)."""
    return int.from_bytes(hashlib.sha256(item_id.encode("utf-8")).digest()[:8], "big", signed=True)


def other_sets(keys: torch.Tensor, tiebreak: torch.Tensor, k: int) -> list[list[int]]:
    """For each sample, the indices of the ``k`` samples of other items that follow it in key order.

    Args:
        keys: (N,) int64 item keys.
        tiebreak: (N,) float values ordering samples that share a key.
        k: set size (fewer when the run has fewer samples of other items).
    """
    key_list, ties = keys.tolist(), tiebreak.tolist()
    n = len(key_list)
    order = sorted(range(n), key=lambda i: (key_list[i], ties[i]))
    pos = {idx: p for p, idx in enumerate(order)}
    out = []
    for i in range(n):
        chosen: list[int] = []
        p = pos[i]
        for step in range(1, n):
            j = order[(p + step) % n]
            if key_list[j] != key_list[i]:
                chosen.append(j)
                if len(chosen) == k:
                    break
        out.append(chosen)
    return out


def segment_coverage(image_feats: torch.Tensor, seg_feats: torch.Tensor, owners: torch.Tensor,
                     others: list[list[int]]) -> torch.Tensor:
    """Per-image coverage (see module docstring): mean over segments of the win rate against ``others``.

    Args:
        image_feats: (N,D) normalised image features.
        seg_feats: (S,D) normalised segment features.
        owners: (S,) owning image of each segment.
        others: per image, the indices of the images it is compared against.

    Returns:
        (N,) float64; NaN for an image with no others or no segments.
    """
    n, d = image_feats.shape
    k = max((len(o) for o in others), default=0)
    if n == 0 or k == 0:
        return torch.full((n,), math.nan, dtype=torch.float64)
    idx = torch.full((n, k), -1, dtype=torch.long)
    for i, o in enumerate(others):
        idx[i, :len(o)] = torch.tensor(o, dtype=torch.long)
    x = image_feats.double()
    win_sum = torch.zeros(n, dtype=torch.float64)
    seg_count = torch.zeros(n, dtype=torch.float64)
    chunk = max(1, (1 << 22) // (k * d))  # bounds the (chunk, K, D) gather to ~32 MB
    for a in range(0, seg_feats.shape[0], chunk):
        s = seg_feats[a:a + chunk].double()
        o = owners[a:a + chunk]
        own = (s * x[o]).sum(-1, keepdim=True)  # (c,1)
        oi = idx[o]  # (c,K)
        valid = oi >= 0
        other = torch.einsum("cd,ckd->ck", s, x[oi.clamp_min(0)])
        wins = ((own > other).double() + 0.5 * (own == other).double()) * valid
        rate = wins.sum(-1) / valid.sum(-1).clamp_min(1)
        has = valid.any(-1)
        win_sum.index_add_(0, o[has], rate[has])
        seg_count.index_add_(0, o[has], torch.ones(int(has.sum()), dtype=torch.float64))
    out = win_sum / seg_count
    out[seg_count == 0] = math.nan
    return out


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
    """

    name: ClassVar[str] = "segment-align"
    version: ClassVar[str] = "1"
    columns: ClassVar[dict[str, bool]] = {"segment-align-mean": True, "segment-align-min": True,
                                         "segment-coverage": True}
    higher_is_better = True

    def __init__(self, model: Any = DEFAULT_MODEL, processor: Any = None, *, others: int = DEFAULT_OTHERS,
                 use_suite_segments: bool = True, device: str = "cpu", dtype: str = "float32",
                 tokenizer_fallback: bool = False, trust_remote_code: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if int(others) < 1:
            raise LongbenchError(f"segment-align: others must be >= 1, got {others}")
        self.others = int(others)
        self.use_suite_segments = bool(use_suite_segments)
        if isinstance(model, str):
            self.scorer = load_clip_scorer(model, processor, device=device, dtype=dtype,
                                           tokenizer_fallback=tokenizer_fallback,
                                           trust_remote_code=trust_remote_code, what="segment-align model")
        else:
            self.scorer = ClipScorer.wrap(model, processor)
        self._segment_cache: dict[tuple[str, Any], list[str]] = {}  # splitting counts tokens: do it once
        for state in ("image_feats", "segment_feats", "segment_counts", "item_keys"):
            self.add_state(state, default=[], dist_reduce_fx="cat")

    @classmethod
    def from_context(cls, ctx: MetricContext, **options: Any) -> SegmentAlign:
        from longbench.metrics.options import coerce_options, parse_bool

        options = coerce_options(cls.name, options, {
            "model": str, "processor": str, "others": int, "use_suite_segments": parse_bool, "device": str,
            "dtype": str, "tokenizer_fallback": parse_bool, "trust_remote_code": parse_bool})
        options.setdefault("device", ctx.device)
        return cls(**options)

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        from longbench.metrics.denscore import _weights_status

        return _weights_status([("model", DEFAULT_MODEL)])

    def segments_of(self, item: Any) -> list[str]:
        """The item's segments, each fitted to the model's context (never truncated)."""
        from longbench.text.splitters import split_default

        budget = self.scorer.context_length - 2
        if isinstance(item, str):
            return split_default(item, self.scorer.count_tokens, budget)
        given = item.segments if self.use_suite_segments else None
        if given:
            count = self.scorer.count_tokens
            segs = [piece for s in given if s.strip()
                    for piece in ([s.strip()] if count(s) <= budget else split_default(s, count, budget))]
            if segs:
                return segs
        return split_default(item.prompt, self.scorer.count_tokens, budget)

    def _segments_cached(self, item: Any) -> list[str]:
        key = (item, None) if isinstance(item, str) else (item.prompt, item.segments)
        if key not in self._segment_cache:
            self._segment_cache[key] = self.segments_of(item)
        return self._segment_cache[key]

    @torch.no_grad()
    def update(self, images: Sequence[Any], items: Sequence[Any]) -> None:
        if len(images) != len(items):
            raise LongbenchError(f"segment-align: {len(images)} images but {len(items)} items")
        if not len(images):
            return
        pixels = self.scorer.standard_pixels(to_uint8_tensors(images, where="segment-align image"))
        x = l2_normalize(self.scorer.image_features(pixels).float())
        segs = [self._segments_cached(it) for it in items]
        flat = [s for ss in segs for s in ss]
        feats = self.scorer.normalized_text_features(flat).to(x)
        ids = [it if isinstance(it, str) else it.id for it in items]
        self.image_feats.append(x)
        self.segment_feats.append(feats)
        self.segment_counts.append(torch.tensor([len(s) for s in segs], dtype=torch.long, device=x.device))
        self.item_keys.append(torch.tensor([item_key(i) for i in ids], dtype=torch.long, device=x.device))

    def _gathered(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        def cat(state: Any, empty: torch.Tensor) -> torch.Tensor:
            if isinstance(state, torch.Tensor):
                return state
            return torch.cat(state) if state else empty

        x = cat(self.image_feats, torch.zeros(0, 0)).cpu()
        s = cat(self.segment_feats, torch.zeros(0, 0)).cpu()
        counts = cat(self.segment_counts, torch.zeros(0, dtype=torch.long)).cpu()
        keys = cat(self.item_keys, torch.zeros(0, dtype=torch.long)).cpu()
        return x, s, counts, keys

    def per_sample(self) -> dict[str, list[float]]:
        x, s, counts, keys = self._gathered()
        n = x.shape[0]
        if n == 0:
            return {col: [] for col in self.columns}
        owners = torch.repeat_interleave(torch.arange(n), counts)
        own = 100.0 * (s.double() * x.double()[owners]).sum(-1)
        chunks = torch.split(own, counts.tolist())
        others = other_sets(keys, x.double().sum(-1), self.others)
        coverage = segment_coverage(x, s, owners, others)
        return {
            "segment-align-mean": [float(c.mean()) for c in chunks],
            "segment-align-min": [float(c.min()) for c in chunks],
            "segment-coverage": coverage.tolist(),
        }

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
        owners = torch.repeat_interleave(torch.arange(x.shape[0]), counts)
        own = 100.0 * (s.double() * x.double()[owners]).sum(-1)
        return split_flat(own, counts)

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "model": self.scorer.describe(),
                "segments": ("suite segments when given, else splitter 'default'" if self.use_suite_segments
                             else "splitter 'default'") + f", fitted to {self.scorer.context_length - 2} tokens",
                "image": "model's standard preprocessing (image processor)",
                "coverage": {"others": self.others, "order": "sha256(item id)", "ties": 0.5,
                             "definition": "mean over segments of the share of K other items' images scoring "
                                           "lower than the segment's own image"}}
