"""Statistics behind the leaderboard: ranking and the paired bootstrap.

Pure numpy functions with no knowledge of results files, so they can be checked against independent
computations. Conventions:

* ranks are "competition" ranks (1, 2, 2, 4): equal values share a rank, NaN values get no rank;
* the paired bootstrap is the percentile bootstrap of the mean of the per-item differences
  ``a - b`` (``longbench.stats.bootstrap_mean_ci``, the same procedure as the runner's CIs): items are
  resampled with replacement, each pair staying together. Every call builds a fresh generator from
  ``seed``, so a comparison's result does not depend on which other comparisons were made before it;
* two models are tied when the confidence interval of their difference contains 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedBootstrap:
    """Result of a paired bootstrap of the mean difference ``a - b``.

    Attributes:
        diff: observed mean of ``a - b`` over the pairs.
        ci: percentile interval ``(lo, hi)`` of the bootstrap distribution of the mean difference.
        n: number of pairs used.
        n_resamples: bootstrap resamples drawn.
        confidence: confidence level of ``ci``.
        seed: seed of the generator.
    """

    diff: float
    ci: tuple[float, float]
    n: int
    n_resamples: int
    confidence: float
    seed: int

    @property
    def tie(self) -> bool:
        """True when the interval contains 0 (the two cannot be told apart at this confidence)."""
        return is_tie(self.ci)


def is_tie(ci: Sequence[float]) -> bool:
    """Tie rule: the confidence interval of a difference contains 0 (closed interval)."""
    lo, hi = float(ci[0]), float(ci[1])
    return lo <= 0.0 <= hi


def competition_ranks(values: Sequence[float], higher_is_better: bool) -> list[int | None]:
    """Rank values with ties sharing the best rank ("1224" ranking); NaN/None get ``None``.

    Args:
        values: one value per entry, NaN or None where an entry has no value.
        higher_is_better: direction of the metric.

    Returns:
        A rank (1 = best) per entry, in input order.
    """
    arr = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    key = -arr if higher_is_better else arr
    ranks: list[int | None] = [None] * len(arr)
    for i, k in enumerate(key):
        if np.isnan(k):
            continue
        ranks[i] = 1 + int(np.sum(key[~np.isnan(key)] < k))
    return ranks


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedBootstrap:
    """Paired bootstrap of the mean difference ``a - b``.

    ``a[i]`` and ``b[i]`` must be scores of the same item (same item id and seed) for the two models.
    Pairs where either score is NaN (or infinite) are dropped. The items (pairs) are resampled together,
    so the per-item difficulty that both models share cancels out.

    Args:
        a: per-item scores of the first model.
        b: per-item scores of the second model, aligned with ``a``.
        n_resamples: bootstrap resamples.
        confidence: level of the percentile interval.
        seed: generator seed.

    Returns:
        The observed difference, its percentile interval and the number of pairs used.

    Raises:
        ValueError: if the arrays differ in length or fewer than 2 complete pairs remain.
    """
    from longbench.stats import bootstrap_mean_ci

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired bootstrap needs two aligned 1-D arrays, got shapes {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    if d.size < 2:
        raise ValueError(f"paired bootstrap needs at least 2 pairs with both scores, got {d.size}")
    diff, ci, n = bootstrap_mean_ci(d, n_resamples=n_resamples, confidence=confidence, seed=seed)
    return PairedBootstrap(diff=float(diff), ci=(float(ci[0]), float(ci[1])), n=int(n),
                           n_resamples=int(n_resamples), confidence=float(confidence), seed=int(seed))
