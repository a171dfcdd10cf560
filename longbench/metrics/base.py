"""The metric contract.

Every metric is a ``torchmetrics.Metric`` (state syncs across processes for free) with:

* ``update(images, items)`` — a batch of RGB PIL images and their suite items;
* ``compute() -> dict[str, float]`` — one or more named columns (e.g. ``denscore`` and ``denscore-o``);
* ``columns`` — column name → higher_is_better; ``output_columns(options)`` — the columns a run with these
  options will report, known before it runs (the default is ``columns``);
* ``per_sample() -> dict[str, list[float]]`` — per-image scores of the columns that have them, in update
  order (NaN where a sample has no value); the runner bootstraps CIs and length-bucket values from these,
  and for such columns ``compute()`` equals the NaN-ignoring mean of ``per_sample()``;
* ``compute_groups(groups) -> {group: {column: value}}`` — for columns without per-sample scores (FID),
  values over subsets; ``groups`` gives a label per sample in update order (the runner passes the
  prompt-length buckets of ``MetricContext.lengths``, the same ones a metric may use during ``update``);
* ``per_segment() -> list[list[float]] | None`` — per-segment scores for ``samples.jsonl``; a
  :class:`PerSampleMetric` declares them with ``has_segments`` and returns them from ``score()`` in
  :class:`Scores`;
* ``protocol() -> dict`` — everything that defines the number (weights id/hash, resize, crop, dtype);
* ``Options`` — the dataclass of its ``--metric-arg`` options, declared once in a module without torch
  (:mod:`longbench.metrics.options` for the built-ins) and named by the registry entry too;
  ``from_context(ctx, options)`` — the metric built for a run from those options and the
  :class:`MetricContext` (suite-level constants such as Denscore's V come from here);
  ``weights_status()`` — for ``longbench doctor``, whether its default weights resolve offline;
* ``per_sample_details()`` / ``report()`` — optional per-image details for ``samples.jsonl`` and facts
  about the run for ``results.json`` (None when a metric has none);
* ``reset()`` — torchmetrics' reset: the runner builds each metric once per run (weights, suite constants)
  and resets it between models, so anything a metric accumulates per model must be a state or be cleared
  in ``reset()``.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from longbench.options import NoOptions, build_options, option_values

if TYPE_CHECKING:
    from longbench.text.tokenizer import PromptLengths


class LongbenchMetric(Metric):
    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    columns: ClassVar[dict[str, bool]] = {}
    #: the dataclass of the metric's ``--metric-arg`` options (module docstring)
    Options: ClassVar[type] = NoOptions
    full_state_update = False

    @classmethod
    def from_context(cls, ctx: MetricContext, options: Any) -> LongbenchMetric:
        """The metric of a run: ``cls(**options, **ctx.metric_kwargs)``, an unset ``device`` option taken from
        the run (``ctx.device``). Override to add what the context supplies (suite constants); an override
        passes ``ctx.metric_kwargs`` on to the constructor."""
        kwargs = option_values(options)
        if kwargs.get("device", ...) is None:
            kwargs["device"] = ctx.device
        return cls(**kwargs, **ctx.metric_kwargs)

    @classmethod
    def weights_status(cls) -> list[dict[str, Any]]:
        """For ``longbench doctor``: ``[{spec, available, where}]`` of the default weights (none by default)."""
        return []

    @classmethod
    def output_columns(cls, options: dict[str, Any]) -> dict[str, bool]:
        """Column → higher_is_better of what ``compute()`` will return with these options (the metric's
        ``--metric-arg`` values, unparsed), known before anything runs so flags naming columns
        (``--fail-under``, ``--max-regression``) are checked first. Override when the columns depend
        on the options; the default is ``columns``."""
        return dict(cls.columns)

    def per_sample(self) -> dict[str, list[float]]:
        return {}

    def compute_groups(self, groups: Sequence[str]) -> dict[str, dict[str, float]]:
        return {}

    def per_segment(self) -> list[list[float]] | None:
        return None

    def per_sample_details(self) -> list[dict[str, Any]] | None:
        """Per image (update order), details for ``samples.jsonl`` (e.g. a judge's answers); None: none."""
        return None

    def report(self) -> dict[str, Any] | None:
        """What a reader must know about the run (``results.json`` ``reports``); None: nothing."""
        return None

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}


@dataclass
class Scores:
    """What :meth:`PerSampleMetric.score` returns for a batch: per image, the value of every column and,
    for a metric that declares ``has_segments``, the list of its per-segment scores (one per sentence)."""

    columns: dict[str, list[float]]
    segments: list[list[float]] | None = None


class PerSampleMetric(LongbenchMetric):
    """A metric whose columns are all means of per-sample scores.

    Subclasses implement ``score(images, items)``, returning ``{column: [one float per image]}`` or, with
    per-segment scores, :class:`Scores`; this class keeps the scores as concatenable tensor states (synced
    across processes) and averages them. A subclass with per-segment scores sets ``has_segments = True``
    and returns them in ``Scores.segments``; they are kept flat (values, count per image) and come back
    from ``per_segment()``.
    """

    #: whether ``score()`` returns per-segment scores (``Scores.segments``)
    has_segments: ClassVar[bool] = False

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        for col in self.columns:
            self.add_state(_state_name(col), default=[], dist_reduce_fx="cat")
        if self.has_segments:
            self.add_state("segment_scores", default=[], dist_reduce_fx="cat")
            self.add_state("segment_counts", default=[], dist_reduce_fx="cat")

    @abstractmethod
    def score(self, images: Sequence[Any], items: Sequence[Any]) -> dict[str, list[float]] | Scores:
        """Per-image scores of every column for one batch (and per-segment scores: see ``has_segments``)."""

    def update(self, images: Sequence[Any], items: Sequence[Any]) -> None:
        out = self.score(images, items)
        scores = out if isinstance(out, Scores) else Scores(out)
        for col in self.columns:
            vals = scores.columns[col]
            if len(vals) != len(images):
                raise RuntimeError(f"{self.name}: {len(vals)} scores for {len(images)} images in {col!r}")
            getattr(self, _state_name(col)).append(torch.tensor(vals, dtype=torch.float64))
        if not self.has_segments:
            if scores.segments is not None:
                raise RuntimeError(f"{self.name}: score() returned per-segment scores; declare has_segments = True")
            return
        segs = scores.segments
        if segs is None or len(segs) != len(images):
            raise RuntimeError(f"{self.name}: has_segments needs one list of segment scores per image from score()")
        self.segment_scores.append(torch.tensor([v for s in segs for v in s], dtype=torch.float64))
        self.segment_counts.append(torch.tensor([len(s) for s in segs], dtype=torch.int64))

    def per_segment(self) -> list[list[float]] | None:
        return split_flat(self.segment_scores, self.segment_counts) if self.has_segments else None

    def _values(self, col: str) -> torch.Tensor:
        return cat_state(getattr(self, _state_name(col)), torch.zeros(0, dtype=torch.float64))

    def per_sample(self) -> dict[str, list[float]]:
        return {col: self._values(col).tolist() for col in self.columns}

    def compute(self) -> dict[str, float]:
        out = {}
        for col in self.columns:
            v = self._values(col)
            v = v[~torch.isnan(v)]
            out[col] = float(v.mean()) if v.numel() else math.nan
        return out


def cat_state(state: Any, empty: torch.Tensor) -> torch.Tensor:
    """A ``dist_reduce_fx="cat"`` state as one tensor: the list of updates before a sync, the concatenated
    tensor after one (torchmetrics' ``dim_zero_cat``); ``empty`` when nothing was added."""
    if isinstance(state, list) and not state:
        return empty
    return dim_zero_cat(state)


def _state_name(col: str) -> str:
    return "scores_" + "".join(c if c.isalnum() else "_" for c in col)


def split_flat(flat_state: Any, counts_state: Any) -> list[list[float]]:
    """Undo the flat storage of per-segment scores: a ``cat`` state of values and one of the number of
    values per sample (lists of tensors, or tensors after a distributed sync) → one list per sample."""
    flat = flat_state if isinstance(flat_state, torch.Tensor) else (
        torch.cat(flat_state) if flat_state else torch.zeros(0, dtype=torch.float64))
    counts = counts_state if isinstance(counts_state, torch.Tensor) else (
        torch.cat(counts_state) if counts_state else torch.zeros(0, dtype=torch.long))
    return [chunk.tolist() for chunk in torch.split(flat, counts.tolist())]


@dataclass
class MetricContext:
    """What a metric may need beyond its own options: the suite (for suite-level constants such as
    Denscore's direction V or FID reference statistics), the device, and the on-disk cache.

    ``suite`` is always the whole suite, also when the run scores only its first ``--limit`` items
    (those arrive through ``update``): a suite-level constant must not depend on ``--limit``.
    ``lengths``: the CLIP length and length bucket of every scored prompt, computed once by the runner
    (None outside a run: a metric then counts tokens itself). ``metric_kwargs``: ``torchmetrics.Metric``
    keyword arguments every metric built from this context passes to its constructor (the runner gives
    ``sync_on_compute=False``: its main process holds every sample, there is nothing to gather)."""

    suite: Any
    device: str = "cpu"
    cache_dir: Path = field(default_factory=lambda: Path("runs/cache"))
    seed: int = 0
    lengths: PromptLengths | None = None
    metric_kwargs: dict[str, Any] = field(default_factory=dict)


def build_metric(name: str, ctx: MetricContext, options: dict[str, Any] | None = None) -> LongbenchMetric:
    """Instantiate a registered metric: its ``Options`` from ``options`` (``--metric-arg`` strings or typed
    values; a one-line LongbenchError naming the metric and the key), then ``cls.from_context(ctx, opts)``,
    which passes ``ctx.metric_kwargs`` on to the constructor (checked here for ``sync_on_compute``)."""
    from longbench.registry import METRICS

    cls = METRICS.get(name)
    opts = build_options(cls.Options, options, f"metric {name!r}")
    metric = cls.from_context(ctx, opts)
    want = ctx.metric_kwargs.get("sync_on_compute", True)
    if metric.sync_on_compute != want:  # a from_context that dropped metric_kwargs: a bug in that metric
        raise RuntimeError(f"metric {name!r}: from_context did not pass ctx.metric_kwargs to the constructor "
                           f"(sync_on_compute is {metric.sync_on_compute}, expected {want})")
    return metric.to(ctx.device)
