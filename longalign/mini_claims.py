"""The claims of the miniature reproduction report and the statistics behind their verdicts
(``longbench train mini-report``, :mod:`longalign.mini_report`).

Uncertainty:

* every per-sample column: the run's own 95% percentile-bootstrap interval over items (``results.json``);
* a comparison of two models on such a column: the mean over items of the per-item difference ``a - b``
  (items where both have a value), with a paired percentile bootstrap over items of that mean;
* FID has no per-sample score: its interval, and that of a difference of two FIDs, come from a bootstrap that
  resamples the scored items (the same draw for every model, so differences are paired) and the reference
  set, recomputing FID from per-image features of the metric's own feature network; they are normal
  intervals from the bootstrap standard error (:class:`FIDBootstrap` says why not percentile intervals).

A verdict compares a difference's interval with 0 in the direction the claim expects: ``holds`` (the interval
lies on the expected side), ``does not hold`` (on the other side), ``not distinguishable`` (it contains 0),
``not evaluated`` (a model is missing). Claims made of several tests combine them with three-valued logic
(:func:`all_of`, :func:`any_of`); there is no correction for multiple comparisons.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from longbench.errors import LongbenchError

logger = logging.getLogger(__name__)

FID = "fid-clip"
#: bootstrap resamples of every interval the report computes itself (as the runner's, longbench.stats)
N_RESAMPLES = 1000

HOLDS, FAILS, UNCLEAR, MISSING = "holds", "does not hold", "not distinguishable", "not evaluated"

# ---------------------------------------------------------------------------------------------- verdicts
def direction_verdict(ci: Sequence[float] | None, expect: int) -> str:
    """The verdict of a difference ``a - b`` whose 95% interval is ``ci`` when the claim expects its sign to be
    ``expect`` (+1: a > b, -1: a < b): holds when the interval lies strictly on that side of 0, does not hold
    when strictly on the other, not distinguishable when it contains 0 or there is none."""
    if expect not in (1, -1):
        raise ValueError(f"expect must be +1 or -1, got {expect}")
    if ci is None or ci[0] is None or ci[1] is None:
        return UNCLEAR
    lo, hi = expect * ci[0], expect * ci[1]
    lo, hi = min(lo, hi), max(lo, hi)
    if lo > 0:
        return HOLDS
    if hi < 0:
        return FAILS
    return UNCLEAR


def all_of(*verdicts: str) -> str:
    """Three-valued AND: one failed part fails the whole; else a missing part leaves it not evaluated; else it
    holds when every part holds, and is not distinguishable otherwise."""
    if FAILS in verdicts:
        return FAILS
    if MISSING in verdicts:
        return MISSING
    return HOLDS if all(v == HOLDS for v in verdicts) else UNCLEAR


def any_of(*verdicts: str) -> str:
    """Three-valued OR: one part that holds makes the whole hold; else a missing part leaves it not evaluated;
    else it fails when every part fails, and is not distinguishable otherwise."""
    if HOLDS in verdicts:
        return HOLDS
    if MISSING in verdicts:
        return MISSING
    return FAILS if verdicts and all(v == FAILS for v in verdicts) else UNCLEAR


# ---------------------------------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class Estimate:
    """A column of one model: value, 95% interval (None: no interval), images with a value."""

    value: float | None
    ci: tuple[float, float] | None
    n: int


@dataclass(frozen=True)
class Comparison:
    """A difference ``a - b`` of two models on one column, the sign the claim expects, and its verdict.

    ``diff``/``ci``/``n`` are None/None/0 when a model is missing (``missing`` names it)."""

    a: str
    b: str
    column: str
    expect: int
    diff: float | None = None
    ci: tuple[float, float] | None = None
    n: int = 0
    missing: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        """The test's verdict; for a control (``expect`` 0, context rows only) whether 0 is inside the CI."""
        if self.missing:
            return MISSING
        if self.expect == 0:
            return "0 outside the CI" if self.excludes_zero else "0 inside the CI"
        return direction_verdict(self.ci, self.expect)

    @property
    def excludes_zero(self) -> bool | None:
        if self.ci is None:
            return None
        return self.ci[0] > 0 or self.ci[1] < 0


def paired_difference(a: Mapping[str, float | None], b: Mapping[str, float | None], *, seed: int = 0,
                      n_resamples: int = N_RESAMPLES) -> tuple[float | None, tuple[float, float] | None, int]:
    """Mean over items of ``a[i] - b[i]`` and its paired percentile-bootstrap 95% interval.

    Args:
        a, b: per-item scores by item id (None or NaN: no value); items where either has no value are left out.
        seed, n_resamples: of the bootstrap (:func:`longbench.stats.bootstrap_mean_ci`).

    Returns:
        ``(difference, [lo, hi] | None, n)``; ``(None, None, 0)`` without a common item.
    """
    from longbench.stats import bootstrap_mean_ci

    diffs = [float(a[k]) - float(b[k]) for k in a if k in b and _finite(a[k]) and _finite(b[k])]
    if not diffs:
        return None, None, 0
    mean, ci, n = bootstrap_mean_ci(diffs, n_resamples=n_resamples, seed=seed)
    return mean, (tuple(ci) if ci is not None else None), n


def _finite(x: Any) -> bool:
    return x is not None and math.isfinite(float(x))


class FIDBootstrap:
    """FID of each model's per-image features against a reference set's, with bootstrap intervals.

    ``features[name]`` are (n, d) arrays whose row ``i`` is the same item for every model; ``reference`` is the
    (N, d) reference set. Each resample draws n item indices (shared by every model, so differences are paired)
    and N reference indices (shared too), from ``numpy.random.default_rng(seed)``; its FIDs are computed once
    and shared by every interval. FID needs at least two items (a LongbenchError otherwise).

    The intervals are normal intervals from the bootstrap standard error, ``value -/+ 1.96 sd`` (a single FID's
    cut at 0), not percentile intervals: a resample repeats images, which lowers the rank of its covariance and
    raises FID, so the resampled FIDs sit above the value (far above it near FID 0, where the percentile
    interval of the exact renderer excludes its own value); their spread is still the sampling spread.
    """

    def __init__(self, features: Mapping[str, np.ndarray], reference: np.ndarray, *, seed: int = 0,
                 n_resamples: int = N_RESAMPLES):
        self.names = list(features)
        self.features = [np.asarray(features[k], dtype=np.float64) for k in self.names]
        self.reference = np.asarray(reference, dtype=np.float64)
        shapes = {f.shape for f in self.features}
        if len(shapes) > 1 or any(len(sh) != 2 or sh[1] != self.reference.shape[1] for sh in shapes):
            raise LongbenchError(f"FID features: shapes {sorted(shapes)}, reference {self.reference.shape}")
        self.n = self.features[0].shape[0] if self.features else 0
        self.seed, self.n_resamples = seed, n_resamples
        self.full = dict(zip(self.names, self._fids(None, None)))
        self._resampled: np.ndarray | None = None  # (n_resamples, models), computed on first use

    def _fids(self, idx: np.ndarray | None, ref_idx: np.ndarray | None) -> list[float]:
        import torch

        from longbench.metrics.functional import fid as F

        def gaussian(x: np.ndarray) -> tuple[Any, Any]:
            t = torch.from_numpy(np.ascontiguousarray(x))
            return F.gaussian_from_moments(t.sum(0), t.T @ t, t.shape[0])

        mu, sigma = gaussian(self.reference if ref_idx is None else self.reference[ref_idx])
        factor = F.psd_factor(sigma)
        out = []
        for f in self.features:
            m, s = gaussian(f if idx is None else f[idx])
            out.append(F.frechet_distance(m, s, mu, sigma, factor2=factor))
        return out

    def resampled(self) -> np.ndarray:
        """FIDs of every resample, (n_resamples, models).

        Computed on one torch thread: thousands of tiny (d, d) operations gain nothing from more, and on cores
        shared with other work the threads' synchronisation made them 200x slower (measured: 0.5 s instead of
        2.7 ms per resample of 8 models, d = 64, with 2 threads on 2 busy cores)."""
        import torch

        if self._resampled is None:
            rng = np.random.default_rng(self.seed)
            n_ref = self.reference.shape[0]
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                self._resampled = np.array([self._fids(rng.integers(0, self.n, self.n),
                                                       rng.integers(0, n_ref, n_ref))
                                            for _ in range(self.n_resamples)])
            finally:
                torch.set_num_threads(threads)
        return self._resampled

    @staticmethod
    def _interval(value: float, resampled: np.ndarray, floor: float | None = None) -> tuple[float, float]:
        """``value -/+ z * sd(resampled)`` (normal interval from the bootstrap standard error), cut at ``floor``."""
        from statistics import NormalDist

        from longbench.stats import CONFIDENCE

        half = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2.0) * float(np.std(resampled, ddof=1))
        lo = value - half if floor is None else max(floor, value - half)
        return float(lo), float(value + half)

    def estimate(self, name: str) -> Estimate:
        value = self.full[name]
        return Estimate(value, self._interval(value, self.resampled()[:, self.names.index(name)], floor=0.0), self.n)

    def difference(self, a: str, b: str) -> tuple[float, tuple[float, float], int]:
        r = self.resampled()
        diff = self.full[a] - self.full[b]
        return diff, self._interval(diff, r[:, self.names.index(a)] - r[:, self.names.index(b)]), self.n


# ---------------------------------------------------------------------------------------------- claims
@dataclass(frozen=True)
class Test:
    """One comparison of a claim: ``a - b`` on ``column`` is expected to have sign ``expect`` (+1 or -1; 0: a
    control expected to show no difference, only among a claim's context rows)."""

    a: str
    b: str
    column: str
    expect: int
    why: str


@dataclass(frozen=True)
class Claim:
    """A claim: its tests, how their verdicts combine (``rule``, on the verdicts in test order), the models of
    its table and their columns, and the comparisons shown for context (not part of the verdict)."""

    key: str
    title: str
    question: str
    tests: tuple[Test, ...]
    rule: Callable[[Sequence[str]], str]
    rule_text: str
    models: tuple[str, ...]
    columns: tuple[str, ...]
    context: tuple[Test, ...] = ()


def _claim2_rule(v: Sequence[str]) -> str:
    # ω=1 over-fits (Denscore-O up, and fidelity or facts down) and ω=0.3 keeps fidelity or facts better
    return all_of(all_of(v[0], any_of(v[1], v[2], v[3])), any_of(v[4], v[5], v[6]))


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "segment-encoding", "Claim 1: segment encoding",
        "Does encoding the prompt by segments (240 positions) recall facts stated beyond token 77 that a "
        "77-position encoder cannot read?",
        (Test("longsd", "sd", "fact_recall@>77", 1, "longsd recalls more facts beyond token 77 than sd"),),
        lambda v: v[0], "test 1",
        ("oracle", "clip77", "random", "sd", "longsd"), ("fact_recall", "fact_recall@<=77", "fact_recall@>77"),
        context=(Test("longsd", "sd", "fact_recall@<=77", 0, "control: facts within 77, both encoders read them"),
                 Test("longsd", "sd", "fact_recall", 1, "all facts"),
                 Test("longsd", "sd", "binding_acc@>77", 1, "beyond 77, by kind: colours"),
                 Test("longsd", "sd", "count_acc@>77", 1, "beyond 77, by kind: counts"),
                 Test("longsd", "sd", "position_acc@>77", 1, "beyond 77, by kind: quadrants"),
                 Test("sd", "random", "fact_recall", 1, "sd above chance (a drawing that ignores the prompt)"),
                 Test("longsd", "random", "fact_recall", 1, "longsd above chance"),
                 Test("clip77", "oracle", "fact_recall@>77", -1, "what a 77-position window loses"))),
    Claim(
        "reweighting", "Claim 2: reward reweighting",
        "Does reward fine-tuning at omega = 1 over-fit the reward (Denscore-O up, fidelity or facts down) where "
        "omega = 0.3 does not?",
        (Test("reward-w1", "longsd", "denscore-o", 1, "omega=1 raises the reward's original score"),
         Test("reward-w1", "longsd", FID, 1, "omega=1 loses fidelity (FID up)"),
         Test("reward-w1", "longsd", "fact_recall", -1, "omega=1 loses facts"),
         Test("reward-w1", "longsd", "fact_recall@>77", -1, "omega=1 loses facts beyond 77"),
         Test("reward-w03", "reward-w1", FID, -1, "omega=0.3 keeps fidelity better than omega=1"),
         Test("reward-w03", "reward-w1", "fact_recall", 1, "omega=0.3 keeps facts better than omega=1"),
         Test("reward-w03", "reward-w1", "fact_recall@>77", 1, "omega=0.3 keeps facts beyond 77 better")),
        _claim2_rule,
        "(test 1 AND (test 2 OR test 3 OR test 4)) AND (test 5 OR test 6 OR test 7)",
        ("longsd", "reward-w0", "reward-w03", "reward-w1"),
        ("fact_recall", "fact_recall@>77", "denscore", "denscore-o", FID),
        context=(Test("reward-w03", "longsd", "denscore", 1, "omega=0.3 raises the text-relevant Denscore"),
                 Test("reward-w03", "longsd", "denscore-o", 1, "omega=0.3 and the original score"),
                 Test("reward-w03", "longsd", FID, -1, "omega=0.3 and fidelity (no loss expected)"),
                 Test("reward-w03", "longsd", "fact_recall", 1, "omega=0.3 and facts"),
                 Test("reward-w0", "longsd", "denscore", 1, "omega=0 (text-relevant part only)"),
                 Test("reward-w0", "longsd", FID, -1, "omega=0 and fidelity"))),
    Claim(
        "encoding-ablation", "Claim 3: encoding ablation (naive concatenation vs LongAlign's merge)",
        "Does naive concatenation of the segments' encodings (every end token kept, no padding embedding) "
        "lose image fidelity against LongAlign's merge?",
        (Test("naive", "longsd", FID, 1, "naive concatenation has a higher FID than the merge"),),
        lambda v: v[0], "test 1",
        ("oracle", "longsd", "naive"), ("fact_recall", "fact_recall@>77", FID),
        context=(Test("naive", "longsd", "fact_recall", -1, "naive concatenation and facts"),
                 Test("naive", "longsd", "fact_recall@>77", -1, "naive concatenation and facts beyond 77"))),
)


def claim_verdict(claim: Claim, comparisons: Mapping[tuple[str, str, str], Comparison]) -> tuple[str, list[str]]:
    """The claim's verdict and its tests' verdicts (in test order)."""
    verdicts = [comparisons[(t.a, t.b, t.column)].verdict for t in claim.tests]
    return claim.rule(verdicts), verdicts

