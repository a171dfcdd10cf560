"""leaderboard.stats against independent computations (scipy, exact enumeration, hand-computed cases)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as sps

from leaderboard.stats import competition_ranks, is_tie, paired_bootstrap


def test_competition_ranks_match_scipy_min_rank():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, size=30).astype(float)  # many exact ties
    x[[3, 7]] = np.nan
    ok = ~np.isnan(x)
    for hib in (True, False):
        ranks = competition_ranks(list(x), higher_is_better=hib)
        ref = sps.rankdata(-x[ok] if hib else x[ok], method="min")
        assert [r for r, k in zip(ranks, ok) if k] == [int(v) for v in ref]
        assert ranks[3] is None and ranks[7] is None


def test_competition_ranks_hand_case():
    assert competition_ranks([0.5, 0.9, 0.5, None, 0.1], higher_is_better=True) == [2, 1, 2, None, 4]
    assert competition_ranks([30.0, 25.0, 40.0], higher_is_better=False) == [2, 1, 3]


def test_constant_difference_has_degenerate_interval():
    a = np.array([1.0, 5.0, 2.0, 8.0])
    res = paired_bootstrap(a + 0.25, a, n_resamples=500, seed=3)
    assert res.diff == pytest.approx(0.25)
    assert res.ci == pytest.approx((0.25, 0.25))
    assert not res.tie and res.n == 4
    same = paired_bootstrap(a, a, n_resamples=50)
    assert same.ci == (0.0, 0.0) and same.tie  # closed interval: 0 is inside


def test_interval_matches_exact_enumeration():
    # n=4 pairs: all 4**4 resamples are equally likely, so the bootstrap distribution of the mean
    # difference is known exactly; its quantiles are atoms of that distribution.
    b = np.array([10.0, 20.0, 30.0, 40.0])
    d = np.array([0.0, 1.0, 3.0, 7.0])
    exact = np.sort([d[list(idx)].mean() for idx in itertools.product(range(4), repeat=4)])
    confidence = 0.8
    for q in (0.1, 0.9):
        cdf = np.searchsorted(exact, exact, side="right") / exact.size
        assert np.min(np.abs(cdf - q)) > 0.01  # q falls inside an atom: the sample quantile is that atom
    lo, hi = exact[int(np.ceil(0.1 * exact.size)) - 1], exact[int(np.ceil(0.9 * exact.size)) - 1]
    res = paired_bootstrap(b + d, b, n_resamples=100_000, confidence=confidence, seed=0)
    assert res.diff == pytest.approx(d.mean())
    assert res.ci == pytest.approx((lo, hi))


def test_paired_interval_matches_scipy_bootstrap():
    rng = np.random.default_rng(7)
    base = rng.normal(20, 2, size=60)
    a = base + 0.3 + rng.normal(0, 0.5, size=60)
    b = base + rng.normal(0, 0.5, size=60)
    ours = paired_bootstrap(a, b, n_resamples=20_000, confidence=0.9, seed=11)
    ref = sps.bootstrap((a, b), lambda x, y, axis=-1: np.mean(x - y, axis=axis), paired=True, vectorized=True,
                        n_resamples=20_000, confidence_level=0.9, method="percentile", rng=np.random.default_rng(5))
    se = np.std(a - b, ddof=1) / np.sqrt(60)
    assert ours.diff == pytest.approx(np.mean(a - b), abs=1e-12)
    assert ours.ci[0] == pytest.approx(ref.confidence_interval.low, abs=0.05 * se)
    assert ours.ci[1] == pytest.approx(ref.confidence_interval.high, abs=0.05 * se)


def test_nan_pairs_are_dropped_and_seed_is_reproducible():
    a = np.array([1.0, np.nan, 3.0, 4.0, 2.0, 6.0])
    b = np.array([0.5, 2.0, np.nan, 3.0, 2.5, 5.0])
    res = paired_bootstrap(a, b, n_resamples=1000, seed=4)
    keep = [0, 3, 4, 5]
    ref = paired_bootstrap(a[keep], b[keep], n_resamples=1000, seed=4)
    assert res == ref and res.n == 4
    assert paired_bootstrap(a, b, n_resamples=1000, seed=5).ci != res.ci


def test_tie_rule():
    assert is_tie((-0.1, 0.2)) and is_tie((0.0, 1.0)) and not is_tie((0.01, 0.2)) and not is_tie((-2, -1))


@pytest.mark.parametrize("a,b,msg", [([1.0, 2.0], [1.0], "aligned"), ([np.nan, 1.0], [1.0, 2.0], "at least 2")])
def test_paired_bootstrap_rejects_bad_input(a, b, msg):
    with pytest.raises(ValueError, match=msg):
        paired_bootstrap(a, b, n_resamples=10)
