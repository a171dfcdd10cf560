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
  values over subsets; ``groups`` gives a label per sample in update order;
* ``per_segment() -> list[list[float]] | None`` — per-segment scores for ``samples.jsonl``;
* ``protocol() -> dict`` — everything that defines the number (weights id/hash, resize, crop, dtype).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torchmetrics import Metric

from longbench.errors import LongbenchError


class LongbenchMetric(Metric):
    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    columns: ClassVar[dict[str, bool]] = {}
    full_state_update = False

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

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}


class PerSampleMetric(LongbenchMetric):
    """A metric whose columns are all means of per-sample scores.

    Subclasses implement ``score(images, items) -> dict[column, list[float]]``; this class keeps the
    scores as concatenable tensor states (synced across processes) and averages them.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        for col in self.columns:
            self.add_state(_state_name(col), default=[], dist_reduce_fx="cat")

    @abstractmethod
    def score(self, images: Sequence[Any], items: Sequence[Any]) -> dict[str, list[float]]:
        """Per-image scores of every column for one batch."""

    def update(self, images: Sequence[Any], items: Sequence[Any]) -> None:
        scores = self.score(images, items)
        for col in self.columns:
            vals = scores[col]
            if len(vals) != len(images):
                raise RuntimeError(f"{self.name}: {len(vals)} scores for {len(images)} images in {col!r}")
            getattr(self, _state_name(col)).append(torch.tensor(vals, dtype=torch.float64))

    def _values(self, col: str) -> torch.Tensor:
        state = getattr(self, _state_name(col))
        if isinstance(state, torch.Tensor):  # after a distributed sync the list is concatenated
            return state
        return torch.cat(state) if state else torch.zeros(0, dtype=torch.float64)

    def per_sample(self) -> dict[str, list[float]]:
        return {col: self._values(col).tolist() for col in self.columns}

    def compute(self) -> dict[str, float]:
        out = {}
        for col in self.columns:
            v = self._values(col)
            v = v[~torch.isnan(v)]
            out[col] = float(v.mean()) if v.numel() else math.nan
        return out


def _state_name(col: str) -> str:
    return "scores_" + "".join(c if c.isalnum() else "_" for c in col)


@dataclass
class MetricContext:
    """What a metric may need beyond its own options: the suite (for suite-level constants such as
    Denscore's direction V or FID reference statistics), the device, and the on-disk cache.

    ``suite`` is always the whole suite, also when the run scores only its first ``--limit`` items
    (those arrive through ``update``): a suite-level constant must not depend on ``--limit``."""

    suite: Any
    device: str = "cpu"
    cache_dir: Path = field(default_factory=lambda: Path("runs/cache"))
    seed: int = 0


def build_metric(name: str, ctx: MetricContext, options: dict[str, Any] | None = None) -> LongbenchMetric:
    """Instantiate a registered metric: ``cls.from_context(ctx, **options)`` when defined, else ``cls(**options)``."""
    from longbench.registry import METRICS

    cls = METRICS.get(name)
    options = options or {}
    try:
        metric = cls.from_context(ctx, **options) if hasattr(cls, "from_context") else cls(**options)
    except (TypeError, ValueError) as e:  # unknown or badly typed --metric-arg
        raise LongbenchError(f"--metric-arg for {name!r}: {str(e).splitlines()[0]}") from None
    return metric.to(ctx.device)
