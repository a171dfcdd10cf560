"""Seeded percentile-bootstrap confidence intervals: for means of per-sample scores, and for any statistic
of resampled units (numpy only)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

N_RESAMPLES = 1000
CONFIDENCE = 0.95


def bootstrap_mean_ci(values: Sequence[float], *, n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE,
                      seed: int = 0) -> tuple[float, list[float] | None, int]:
    """Mean of the finite values and its percentile-bootstrap CI: ``(mean, [lo, hi] | None, n)``.

    NaN marks "no value for this sample" and is dropped before resampling. With fewer than two
    values there is no interval (``None``).
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return math.nan, None, 0
    mean = float(x.mean())
    if n < 2:
        return mean, None, n
    rng = np.random.default_rng(seed)
    # Resample in chunks so memory stays bounded for large n.
    means = np.empty(n_resamples)
    chunk = max(1, min(n_resamples, 2_000_000 // n))
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return mean, [float(lo), float(hi)], n


def bootstrap_ci(n: int, statistic: Callable[[np.ndarray], float], *, n_resamples: int = N_RESAMPLES,
                 confidence: float = CONFIDENCE, seed: int = 0) -> list[float] | None:
    """Percentile-bootstrap CI ``[lo, hi]`` of a statistic of ``n`` units: ``statistic(idx)`` computes it
    on the units ``idx`` (an int array of length ``n``, drawn with replacement; the statistic must be
    finite). None with fewer than two units."""
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, size=n)) for _ in range(n_resamples)], dtype=np.float64)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return [float(lo), float(hi)]
