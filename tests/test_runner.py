"""Runner: seeds, cache/resume, --limit reproducibility, results schema, CIs, thresholds."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from longbench.errors import LongbenchError
from longbench.gates import check_thresholds
from longbench.models.base import request_seed
from longbench.results import load_results, load_samples, validate_results
from longbench.runner import EvalConfig, run_eval
from longbench.stats import bootstrap_mean_ci


def _config(suite, out, **kw):
    base = {"models": ["python:lb_fake_gen:gen"], "suite": str(suite), "metrics": ["brightness"], "output": str(out),
            "batch_size": 2, "n_bootstrap": 200}
    base.update(kw)
    return EvalConfig(**base)


def test_request_seed_is_order_and_limit_independent():
    a = request_seed(0, "suite", "item-1")
    assert a == request_seed(0, "suite", "item-1")
    assert a != request_seed(1, "suite", "item-1")
    assert a != request_seed(0, "other", "item-1")
    assert 0 <= a < 2**31


def test_eval_writes_valid_results_and_exact_values(fake_modules, tiny_suite, tmp_path):
    (out,) = run_eval(_config(tiny_suite, tmp_path / "runs"))
    r = load_results(out.run_dir)
    assert r["n"] == 5 and r["suite"]["name"] == "tiny"
    samples = load_samples(out.run_dir)
    assert [s["item_id"] for s in samples] == ["a", "b", "c", "d", "e"]
    # Independent recomputation of every per-sample score from the cached PNGs.
    expected = [np.asarray(Image.open(s["image"]).convert("RGB"), dtype=np.float64).mean() / 255 for s in samples]
    assert [s["scores"]["brightness"] for s in samples] == pytest.approx(expected, abs=1e-12)
    assert r["metrics"]["brightness"]["value"] == pytest.approx(np.mean(expected), abs=1e-12)
    assert r["metrics"]["darkness"]["higher_is_better"] is False
    lo, hi = r["metrics"]["brightness"]["ci"]
    assert lo <= r["metrics"]["brightness"]["value"] <= hi
    # Buckets partition the samples.
    assert sum(b["n"] for b in r["metrics"]["brightness"]["by_bucket"].values()) == 5
    assert r["timings"]["images_generated"] == 5 and r["timings"]["images_cached"] == 0


def test_second_run_generates_nothing_and_is_identical(fake_modules, tiny_suite, tmp_path):
    import lb_fake_gen

    (first,) = run_eval(_config(tiny_suite, tmp_path / "runs"))
    n_calls = len(lb_fake_gen.CALLS)
    (second,) = run_eval(_config(tiny_suite, tmp_path / "runs"))
    assert len(lb_fake_gen.CALLS) == n_calls
    assert second.images_generated == 0 and second.images_cached == 5
    assert first.results["metrics"] == second.results["metrics"]


def test_limit_reproduces_the_first_images_of_a_full_run(fake_modules, tiny_suite, tmp_path):
    (full,) = run_eval(_config(tiny_suite, tmp_path / "full"))
    (part,) = run_eval(_config(tiny_suite, tmp_path / "part", limit=2, batch_size=1))
    full_s, part_s = load_samples(full.run_dir), load_samples(part.run_dir)
    for a, b in zip(full_s[:2], part_s):
        assert a["seed"] == b["seed"]
        assert np.array_equal(np.asarray(Image.open(a["image"])), np.asarray(Image.open(b["image"])))
    assert part.results["limit"] == 2 and part.results["n"] == 2


def test_resume_after_partial_cache_and_stray_temp_files(fake_modules, tiny_suite, tmp_path):
    (first,) = run_eval(_config(tiny_suite, tmp_path / "runs"))
    samples = load_samples(first.run_dir)
    # Simulate a run killed mid-way: two images missing, a leftover temp file and no results.
    img_paths = [Path(s["image"]) for s in samples]
    img_paths[0].unlink()
    img_paths[3].unlink()
    # The killed run's temporary file: its writer (a process of this host) is gone, so it is swept.
    # (A live writer's file is kept: tests/test_concurrency.py.)
    import subprocess
    import sys

    from longbench.fileio import temp_path

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stray = temp_path(img_paths[1].parent / "x.png")
    stray.with_name(stray.name.replace(f"-{os.getpid()}-", f"-{dead.pid}-")).write_bytes(b"partial")
    (first.run_dir / "results.json").unlink()
    (again,) = run_eval(_config(tiny_suite, tmp_path / "runs"))
    assert again.images_generated == 2 and again.images_cached == 3
    assert again.results["metrics"] == first.results["metrics"]
    assert not list(img_paths[1].parent.glob(".*.tmp"))


def test_bootstrap_matches_independent_numpy_resampling():
    vals = [0.1, 0.4, 0.35, 0.8, float("nan"), 0.2]
    mean, ci, n = bootstrap_mean_ci(vals, n_resamples=500, seed=3)
    x = np.array([v for v in vals if not math.isnan(v)])
    rng = np.random.default_rng(3)
    means = x[rng.integers(0, len(x), size=(500, len(x)))].mean(axis=1)
    assert n == 5 and mean == pytest.approx(x.mean())
    assert ci == pytest.approx(list(np.quantile(means, [0.025, 0.975])))
    assert bootstrap_mean_ci([1.0]) == (1.0, None, 1)
    m, c, k = bootstrap_mean_ci([float("nan")])
    assert math.isnan(m) and c is None and k == 0


def test_thresholds_respect_direction_and_unknown_columns():
    r = {"model": {"spec": "m"}, "metrics": {
        "up": {"value": 0.5, "higher_is_better": True}, "down": {"value": 10.0, "higher_is_better": False}}}
    assert check_thresholds(r, {"up": 0.4, "down": 12}) == []
    fails = check_thresholds(r, {"up": 0.6, "down": 9})
    assert len(fails) == 2 and "up = 0.5 < 0.6" in fails[0] and "down = 10.0 > 9" in fails[1]
    with pytest.raises(LongbenchError, match="--fail-under nope: no such metric column"):
        check_thresholds(r, {"nope": 1})


@pytest.mark.parametrize("kw,msg", [
    ({"limit": 0}, "--limit must be >= 1"),
    ({"batch_size": 0}, "--batch-size must be >= 1"),
    ({"metrics": ["brightnes"]}, "did you mean 'brightness'"),
    ({"models": ["nosuch:x"]}, "unknown model kind 'nosuch'"),
    ({"metric_args": {"other": {"a": "1"}}}, "--metric-arg for 'other'"),
])
def test_bad_config_errors(fake_modules, tiny_suite, tmp_path, kw, msg):
    with pytest.raises(LongbenchError, match=msg):
        run_eval(_config(tiny_suite, tmp_path / "runs", **kw))
    assert not (tmp_path / "runs" / "tiny").exists()


def test_results_validation_rejects_bad_files(fake_modules, tiny_suite, tmp_path):
    (out,) = run_eval(_config(tiny_suite, tmp_path / "runs"))
    good = json.loads((out.run_dir / "results.json").read_text())
    validate_results(good)
    for mutate, msg in [
        (lambda r: r.update(schema_version=99), "schema_version 99"),
        (lambda r: r.pop("suite"), "missing suite"),
        (lambda r: r["suite"].update(sha256="xyz"), "sha256"),
        (lambda r: r["metrics"]["brightness"].update(ci=[1]), "ci must be"),
        (lambda r: r["metrics"]["brightness"].update(value="high"), "value must be"),
    ]:
        bad = json.loads(json.dumps(good))
        mutate(bad)
        with pytest.raises(LongbenchError, match=msg):
            validate_results(bad)


def test_other_metrics_of_the_same_model_get_their_own_run_directory(fake_modules, tiny_suite, tmp_path):
    from longbench.registry import METRICS

    METRICS.register("brightness2", "lb_fake_metric:Brightness")
    try:
        (a,) = run_eval(_config(tiny_suite, tmp_path / "runs"))
        (b,) = run_eval(_config(tiny_suite, tmp_path / "runs", metrics=["brightness2"]))
        (a2,) = run_eval(_config(tiny_suite, tmp_path / "runs"))
    finally:
        METRICS._entries.pop("brightness2", None)
    assert a.run_dir != b.run_dir and a.run_dir == a2.run_dir
    assert a.run_dir.name.startswith(b.run_dir.name.rsplit("__m", 1)[0])  # same model, seed; other metrics
    assert set(load_results(a.run_dir)["protocols"]) == {"brightness"}
    assert set(load_results(b.run_dir)["protocols"]) == {"brightness2"}
    assert b.images_generated == 0  # the image cache is shared between the two
