"""Fixtures for the leaderboard tests: results files written by hand, following the results schema.

``make_run`` writes a ``results.json`` + ``samples.jsonl`` pair through ``longbench.results.write_results``
(which validates), with values computed here from the per-sample scores given by the test.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np

SUITE_SHA = hashlib.sha256(b"suite-a").hexdigest()
OTHER_SHA = hashlib.sha256(b"suite-a-edited").hexdigest()
BUCKET_OF = ("<=77", "78-154", "155-240", ">240")

DENSCORE_PROTOCOL = {"name": "denscore", "version": "1", "weights": "org/denscore",
                     "weights_sha256": "a" * 64, "resize": 224, "crop": "center", "dtype": "float32"}
COUNT_PROTOCOL = {"name": "counting", "version": "1", "detector": "synth-exact"}
FID_PROTOCOL = {"name": "fid", "version": "1", "features": "inception-2048", "resize": "bicubic-299"}


#: the bootstrap settings written into every run (the leaderboard re-draws the intervals with them)
BOOTSTRAP = {"n_resamples": 1000, "confidence": 0.95, "seed": 0, "method": "percentile"}


def _stats(xs: list[float | None]) -> dict[str, Any]:
    """value, ci and n as the runner computes them (the leaderboard recomputes and compares them)."""
    from longbench.stats import bootstrap_mean_ci

    mean, ci, n = bootstrap_mean_ci([math.nan if x is None else x for x in xs], n_resamples=BOOTSTRAP["n_resamples"],
                                    confidence=BOOTSTRAP["confidence"], seed=BOOTSTRAP["seed"])
    return {"value": None if math.isnan(mean) else mean, "ci": ci, "n": n}


def make_run(
    out_dir: Path,
    model: str,
    scores: dict[str, list[float | None]],
    *,
    suite: tuple[str, str, str] = ("longbench-v1", "1", SUITE_SHA),
    seed: int = 0,
    date: str = "2025-01-01T00:00:00+00:00",
    higher_is_better: dict[str, bool] | None = None,
    metric_of: dict[str, str] | None = None,
    protocols: dict[str, Any] | None = None,
    extra_metrics: dict[str, dict[str, Any]] | None = None,
    item_ids: list[str] | None = None,
    run_id: str | None = None,
) -> Path:
    """Write one run into ``out_dir`` and return the directory.

    Args:
        scores: column -> per-item scores (same length for every column; None = no score).
        extra_metrics: columns without per-sample scores (e.g. fid), given as their full metrics entry (no
            ``ci``, ``n`` = the number of samples: the leaderboard checks both).
    """
    from longbench.results import write_results

    hib = {"denscore": True, "denscore-o": True, "count_acc": True, "fid": False, **(higher_is_better or {})}
    metric_of = {"denscore": "denscore", "denscore-o": "denscore", "count_acc": "counting", "fid": "fid",
                 **(metric_of or {})}
    n = len(next(iter(scores.values()))) if scores else 4
    item_ids = item_ids or [f"item{i:03d}" for i in range(n)]
    buckets = [BUCKET_OF[i % 4] for i in range(n)]
    metrics: dict[str, Any] = {}
    for col, vals in scores.items():
        by_bucket = {}
        for b in BUCKET_OF:
            bv = [v for v, bb in zip(vals, buckets) if bb == b]
            if any(v is not None for v in bv):
                by_bucket[b] = _stats(bv)
        metrics[col] = {**_stats(vals), "higher_is_better": hib[col], "metric": metric_of[col], "by_bucket": by_bucket}
    metrics.update(extra_metrics or {})
    if protocols is None:
        protocols = {"denscore": DENSCORE_PROTOCOL, "counting": COUNT_PROTOCOL, "fid": FID_PROTOCOL}
    model_hash = hashlib.sha256(model.encode()).hexdigest()[:12]
    results = {
        "schema_version": 1,
        "longbench_version": "0.1.0",
        "run_id": run_id or f"{suite[0]}@{suite[2][:8]}/{model_hash}/s{seed}",
        "date": date,
        "suite": {"name": suite[0], "version": suite[1], "sha256": suite[2], "n_items": n},
        "model": {"spec": model, "args": {}, "identity_hash": model_hash},
        "seed": seed,
        "limit": None,
        "n": n,
        "metrics": metrics,
        "protocols": protocols,
        "bootstrap": dict(BOOTSTRAP),
        "environment": {"python": "3.11", "numpy": np.__version__},
        "timings": {"generate_s": 0.0, "score_s": 0.0, "total_s": 0.0, "images_generated": n, "images_cached": 0},
    }
    samples = [
        {"item_id": item_ids[i], "seed": seed, "image": f"images/{item_ids[i]}.png", "prompt_tokens": 50 + 60 * (i % 4),
         "bucket": buckets[i], "scores": {col: vals[i] for col, vals in scores.items()}, "segments": {}}
        for i in range(n)
    ]
    out_dir = Path(out_dir)
    write_results(out_dir, results, samples)
    return out_dir
