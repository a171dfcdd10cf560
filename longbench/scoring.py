"""From a model's updated metrics to the columns of its results: values, bootstrap intervals, length buckets.

A column with per-sample scores gets the NaN-ignoring mean, a percentile-bootstrap 95% interval and the
same per prompt-length bucket (the run's buckets, ``PromptLengths``); a column without them (FID) gets the
metric's value and its ``compute_groups`` over the same buckets. Every image's scores, per-segment scores
and details go into its ``samples.jsonl`` record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from longbench.metrics.base import LongbenchMetric
from longbench.results import BucketValue, MetricEntry, SampleRecord
from longbench.stats import bootstrap_mean_ci


@dataclass
class Scored:
    """What the metrics of one model report: the columns, each metric's protocol and run report."""

    metrics: dict[str, MetricEntry] = field(default_factory=dict)
    protocols: dict[str, dict[str, Any]] = field(default_factory=dict)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)


def score_metrics(metrics: dict[str, LongbenchMetric], rows: Sequence[SampleRecord], *, n_bootstrap: int,
                  seed: int) -> Scored:
    """Compute every metric (updated with the images of ``rows``, in order) and fill the rows' scores.

    Args:
        metrics: name → metric, updated with one image per row.
        rows: the samples, in update order, with their ``bucket`` set.
        n_bootstrap: bootstrap resamples of each interval.
        seed: seed of the resampling.
    """
    buckets = [row.bucket for row in rows]
    out = Scored()
    for name, metric in metrics.items():
        values = metric.compute()
        per_sample = metric.per_sample()
        groups = metric.compute_groups(buckets) if set(values) - set(per_sample) else {}
        out.protocols[name] = metric.protocol()
        segments = metric.per_segment()
        if segments is not None:
            for row, s in zip(rows, segments):
                row.segments[name] = s
        details = metric.per_sample_details()
        if details is not None:
            for row, d in zip(rows, details):
                row.details = {**(row.details or {}), name: d}
        report = metric.report()
        if report is not None:
            out.reports[name] = report
        for col, value in values.items():
            hib = bool(metric.columns.get(col, True))
            if col in per_sample:
                out.metrics[col] = _sampled(name, hib, per_sample[col], buckets, n_bootstrap, seed)
                for row, s in zip(rows, per_sample[col]):
                    row.scores[col] = None if s is None or (isinstance(s, float) and math.isnan(s)) else s
            else:
                out.metrics[col] = MetricEntry(
                    metric=name, higher_is_better=hib, value=float(value), ci=None, n=len(rows),
                    by_bucket={b: BucketValue(value=float(g[col]), ci=None, n=buckets.count(b))
                               for b, g in groups.items() if col in g})
    return out


def _sampled(name: str, hib: bool, scores: list[float], buckets: list[str], n_bootstrap: int,
             seed: int) -> MetricEntry:
    mean, ci, n = bootstrap_mean_ci(scores, n_resamples=n_bootstrap, seed=seed)
    by_bucket = {}
    for b in sorted(set(buckets)):
        sub = [s for s, g in zip(scores, buckets) if g == b]
        bm, bci, bn = bootstrap_mean_ci(sub, n_resamples=n_bootstrap, seed=seed)
        if bn:
            by_bucket[b] = BucketValue(value=bm, ci=bci, n=bn)
    return MetricEntry(metric=name, higher_is_better=hib, value=mean, ci=ci, n=n, by_bucket=by_bucket)
