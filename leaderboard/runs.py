"""Finding and reading runs: ``results.json`` files, run directories, and stores of runs.

A run is the pair ``results.json`` + ``samples.jsonl`` written by ``longbench eval``; only these files
are read. Paths given to the leaderboard may be a results file, a run directory, or any directory
holding run directories (a store made by ``leaderboard.store.add_run``, or an output folder).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError
from longbench.results import load_results, load_samples, validate_sample

logger = logging.getLogger(__name__)

RESULTS_NAME = "results.json"
SAMPLES_NAME = "samples.jsonl"
# samples.jsonl holds one line per image (a few hundred bytes): 64 MB is ~150k images.
MAX_SAMPLES_BYTES = 64 * 1024 * 1024
# How deep below a given directory to look for results.json (store/run, out/suite/model/run).
MAX_SEARCH_DEPTH = 4


@dataclass
class Run:
    """One loaded run.

    Attributes:
        path: the results.json file.
        results: the validated results dict.
    """

    path: Path
    results: dict[str, Any]
    _samples: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return self.results["run_id"]

    @property
    def suite_key(self) -> tuple[str, str, str]:
        s = self.results["suite"]
        return (s["name"], s["version"], s["sha256"])

    def samples(self) -> list[dict[str, Any]]:
        """Per-image records of ``samples.jsonl`` next to results.json (empty list when absent)."""
        if self._samples is None:
            self._samples = read_samples(self.path.with_name(SAMPLES_NAME), self.results)
        return self._samples

    def per_sample_scores(self, column: str) -> dict[tuple[str, int], float]:
        """``(item_id, seed) -> score`` of one column, skipping null scores."""
        out: dict[tuple[str, int], float] = {}
        for s in self.samples():
            v = s["scores"].get(column)
            if v is not None and not math.isnan(v):
                out[(s["item_id"], s["seed"])] = float(v)
        return out


#: Tolerance between a recorded value and its recomputation from samples.jsonl: both are the float64 mean of
#: the same float64 numbers (JSON floats round-trip exactly: ``repr`` of a float64 is read back bit for
#: bit), so they agree to the last bit when summed alike; 1e-9 relative leaves room for another summation
#: order, none for an edit.
VERIFY_RTOL = 1e-9
VERIFY_ATOL = 1e-12
#: Bootstrap intervals are re-drawn with the recorded settings; over this many resamples a results file
#: could make verification arbitrarily slow, so it is refused.
MAX_VERIFY_RESAMPLES = 100_000
#: With another numpy than the one that wrote the run, the bootstrap stream may differ: the recomputed
#: interval then only has to agree to this fraction of its width (Monte Carlo noise of percentile bounds).
CI_WIDTH_TOLERANCE = 0.1


def _close(claimed: Any, recomputed: float, rtol: float = VERIFY_RTOL, atol: float = VERIFY_ATOL) -> bool:
    if claimed is None or (isinstance(claimed, float) and math.isnan(claimed)):
        return math.isnan(recomputed)  # NaN is written as null
    return not math.isnan(recomputed) and math.isclose(float(claimed), recomputed, rel_tol=rtol, abs_tol=atol)


def check_direction(col: str, entry: dict[str, Any], run: str) -> None:
    """A column's ``higher_is_better`` decides how it ranks and gates: it must be the one its metric declares
    (when the metric is registered here and declares that column)."""
    from longbench.registry import METRICS

    name = entry.get("metric")
    try:
        declared = METRICS.declaration(name) if isinstance(name, str) and name in METRICS else None
    except LongbenchError:
        declared = None
    if declared is not None and col in declared.columns and bool(entry.get("higher_is_better")) != declared.columns[col]:
        raise LongbenchError(f"{run}: {col}.higher_is_better is {entry.get('higher_is_better')!r} but metric {name!r} "
                             f"declares {declared.columns[col]}")


def verify_run(results: dict[str, Any], samples: list[dict[str, Any]], where: str) -> None:
    """Recompute every headline number that the per-sample scores determine and refuse a mismatch.

    For each column with per-sample scores in ``samples.jsonl``: ``value`` (the mean of the finite scores,
    as the runner computes it), ``n``, the bootstrap ``ci`` (re-drawn with the recorded ``bootstrap``
    settings) and every ``by_bucket`` entry (by the samples' ``bucket``). Columns without per-sample
    scores (FID: a statistic of the whole image set) cannot be recomputed: their ``n`` must be the number
    of samples and they may not claim a bootstrap interval; their values are taken as written.

    Raises:
        LongbenchError: one line naming the run, the column, the claimed and the recomputed value.
    """
    import numpy as np

    run = f"{where}: run {results.get('run_id')!r}"
    if results.get("n") != len(samples):  # the run's n is shown in every table: it is a headline value too
        raise LongbenchError(f"{run}: n is {results.get('n')!r} in results.json but samples.jsonl has "
                             f"{len(samples)} samples")
    boot = results.get("bootstrap")
    env_numpy = (results.get("environment") or {}).get("numpy")
    for col, m in results["metrics"].items():
        check_direction(col, m, run)
        has = [col in s["scores"] for s in samples]
        claims_ci = m.get("ci") is not None or any((b or {}).get("ci") is not None
                                                   for b in (m.get("by_bucket") or {}).values())
        if not any(has):
            if claims_ci:
                raise LongbenchError(f"{run}: {col} claims a confidence interval but samples.jsonl has no per-sample "
                                     f"scores for it")
            if m["n"] != len(samples):
                raise LongbenchError(f"{run}: {col}.n is {m['n']} but samples.jsonl has {len(samples)} samples")
            continue
        if not all(has):
            raise LongbenchError(f"{run}: {col}: line {has.index(False) + 1} of samples.jsonl has no score for it "
                                 "(every line must, null when there is none)")
        scores = np.array([math.nan if s["scores"][col] is None else float(s["scores"][col]) for s in samples])
        # without any claimed interval a single resample is enough (only value and n are compared)
        settings = _bootstrap_settings(boot, run) if claims_ci else {"n_resamples": 1, "confidence": 0.95, "seed": 0}
        check = {"run": run, "settings": settings, "wants_ci": claims_ci, "same_numpy": env_numpy == np.__version__}
        _check_entry(m, scores, col, **check)
        by_bucket = m.get("by_bucket") or {}
        if by_bucket or any("bucket" in s for s in samples):
            buckets = [s.get("bucket") for s in samples]
            if not all(isinstance(b, str) for b in buckets):
                raise LongbenchError(f"{run}: {col}.by_bucket cannot be checked: a line of samples.jsonl has no "
                                     "bucket")
            expected = sorted(b for b in set(buckets) if np.isfinite(scores[[x == b for x in buckets]]).any())
            if sorted(by_bucket) != expected:
                raise LongbenchError(f"{run}: {col}.by_bucket has buckets {sorted(by_bucket)} but samples.jsonl has "
                                     f"scores in {expected}")
            for b in expected:
                _check_entry(by_bucket[b], scores[[x == b for x in buckets]], f"{col}.by_bucket[{b}]", **check)


def _check_entry(entry: dict[str, Any], values: Any, label: str, *, run: str, settings: dict[str, Any],
                 wants_ci: bool, same_numpy: bool) -> None:
    """Compare one metrics entry (``value``, ``n``, ``ci``) with its recomputation from ``values``."""
    from longbench.stats import bootstrap_mean_ci

    mean, ci, n = bootstrap_mean_ci(values, **settings)
    if not _close(entry.get("value"), mean):
        raise LongbenchError(f"{run}: {label} is {entry.get('value')!r} in results.json but the mean of "
                             f"samples.jsonl is {mean!r}")
    if entry.get("n") != n:
        raise LongbenchError(f"{run}: {label} n is {entry.get('n')!r} in results.json but samples.jsonl has "
                             f"{n} finite scores")
    claimed = entry.get("ci")
    if (claimed is None) != (ci is None) and wants_ci:
        raise LongbenchError(f"{run}: {label} ci is {claimed!r} in results.json but samples.jsonl gives {ci!r}")
    if claimed is not None and ci is not None:
        tol = 0.0 if same_numpy else CI_WIDTH_TOLERANCE * (ci[1] - ci[0])
        if not all(c is not None and _close(c, r, atol=max(VERIFY_ATOL, tol)) for c, r in zip(claimed, ci)):
            raise LongbenchError(f"{run}: {label} ci is {claimed!r} in results.json but the bootstrap of "
                                 f"samples.jsonl with the recorded settings gives {ci!r}")


def _bootstrap_settings(boot: Any, run: str) -> dict[str, Any]:
    """``bootstrap_mean_ci`` keyword arguments from a results file's ``bootstrap`` entry."""
    if not isinstance(boot, dict):
        raise LongbenchError(f"{run}: confidence intervals without the bootstrap settings that made them")
    n, conf, seed = boot.get("n_resamples"), boot.get("confidence"), boot.get("seed")
    if not (isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_VERIFY_RESAMPLES):
        raise LongbenchError(f"{run}: bootstrap.n_resamples must be an integer in 1..{MAX_VERIFY_RESAMPLES}, got {n!r}")
    if not (isinstance(conf, (int, float)) and not isinstance(conf, bool) and 0 < conf < 1):
        raise LongbenchError(f"{run}: bootstrap.confidence must be in (0, 1), got {conf!r}")
    if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
        raise LongbenchError(f"{run}: bootstrap.seed must be an integer >= 0, got {seed!r}")
    if boot.get("method", "percentile") != "percentile":
        raise LongbenchError(f"{run}: bootstrap.method {boot.get('method')!r} is not the runner's (percentile)")
    return {"n_resamples": n, "confidence": float(conf), "seed": seed}


def read_samples(path: Path, results: dict[str, Any], max_bytes: int = MAX_SAMPLES_BYTES) -> list[dict[str, Any]]:
    """Read and check a samples.jsonl (missing file: empty list).

    Raises:
        LongbenchError: too large, not UTF-8, a line that is not JSON, or a record failing
            ``check_samples``.
    """
    if not path.is_file():
        return []
    size = path.stat().st_size
    if size > max_bytes:
        raise LongbenchError(f"{path}: {size:,} bytes is too large for a samples file (max {max_bytes:,})")
    samples = load_samples(path.parent)
    check_samples(samples, str(path), set(results["metrics"]))
    return samples


def check_samples(samples: list[Any], where: str, columns: set[str]) -> None:
    """Check samples.jsonl records: each against the schema (``longbench.results.SampleRecord``), its
    ``scores`` columns known to results.json, and each ``(item_id, seed)`` at most once.

    Raises:
        LongbenchError: naming the file and line of the first bad record.
    """
    seen: set[tuple[str, int]] = set()
    for i, s in enumerate(samples, 1):
        w = f"{where}:{i}"
        validate_sample(s, w)  # the record's shape: the schema of longbench.results
        key = sample_key(s, w)
        if key in seen:
            raise LongbenchError(f"{w}: duplicate sample {key[0]!r} seed {key[1]}")
        seen.add(key)
        scores = s.get("scores")
        if not isinstance(scores, dict):
            raise LongbenchError(f"{w}: scores must be an object")
        for col, v in scores.items():
            if col not in columns:
                raise LongbenchError(f"{w}: score column {col!r} is not a metric of results.json")
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise LongbenchError(f"{w}: score {col!r} must be a number or null")


def sample_key(s: Any, where: str) -> tuple[str, int]:
    """The pairing key of a samples.jsonl record: ``(item_id, seed)``."""
    if not isinstance(s, dict):
        raise LongbenchError(f"{where}: sample is not a JSON object")
    item_id, seed = s.get("item_id"), s.get("seed")
    if not isinstance(item_id, str) or not isinstance(seed, int) or isinstance(seed, bool):
        raise LongbenchError(f"{where}: sample needs a string item_id and an integer seed")
    return item_id, seed


def _find_results(d: Path, depth: int) -> list[Path]:
    if (d / RESULTS_NAME).is_file():
        return [d / RESULTS_NAME]
    if depth == 0:
        return []
    found: list[Path] = []
    try:
        children = sorted(d.iterdir())
    except OSError as e:
        raise LongbenchError(f"{d}: cannot list directory ({e.strerror})") from e
    for child in children:
        # Hidden directories are the store's half-written imports and caches: never read them.
        if child.name.startswith(".") or child.is_symlink() or not child.is_dir():
            continue
        found.extend(_find_results(child, depth - 1))
    return found


def discover(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand results files, run directories and stores into a list of results.json paths.

    Raises:
        LongbenchError: when a path does not exist or a directory holds no run at all.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            found = _find_results(p, MAX_SEARCH_DEPTH)
            if not found:
                raise LongbenchError(f"{p}: no {RESULTS_NAME} found in this directory or below it")
            out.extend(found)
        else:
            raise LongbenchError(f"{p}: no such file or directory")
    return out


def load_runs(paths: Iterable[str | os.PathLike]) -> list[Run]:
    """Load and validate every run under ``paths``; each needs its samples.jsonl, from which every value
    of its results.json that per-sample scores determine is recomputed (``verify_run``).

    The same file reached twice (e.g. a run directory and the store holding it) is read once; two
    different files claiming the same ``run_id`` are an error, since rows are keyed by run id.
    """
    runs: dict[str, Run] = {}
    for p in discover(paths):
        run = Run(path=p, results=load_results(p))
        samples_path = p.with_name(SAMPLES_NAME)
        if not samples_path.is_file():
            raise LongbenchError(f"{samples_path}: missing; the leaderboard recomputes every value of {p.name} "
                                 f"from its per-sample scores")
        verify_run(run.results, run.samples(), str(p))
        prev = runs.get(run.run_id)
        if prev is not None:
            if _same_content(prev.results, run.results):
                logger.info("%s: same run as %s, read once", p, prev.path)
                continue
            raise LongbenchError(f"{p}: run id {run.run_id!r} also used by a different run at {prev.path}")
        runs[run.run_id] = run
    return list(runs.values())


def _same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
