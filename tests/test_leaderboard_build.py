"""Leaderboard build: comparability, ranking, significance, outputs matching the results files, atomicity."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from leaderboard.build import build_leaderboard
from leaderboard.commands import leaderboard
from leaderboard.runs import load_runs
from leaderboard.table import BootstrapConfig, build_table
from longbench.errors import LongbenchError
from tests.helpers_leaderboard import DENSCORE_PROTOCOL, OTHER_SHA, SUITE_SHA, make_run

N = 40
BOOT = BootstrapConfig(n_resamples=2000, confidence=0.95, seed=123)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    """Five runs on suite A (one with another denscore protocol), one on an edited suite A, one on suite B.

    Constructed so that: alpha > gamma > beta on denscore; alpha vs gamma differ by +0.01 on average
    with per-item differences of +-0.1 (a tie), gamma vs beta by ~1.0 (significant).
    """
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    base = rng.normal(20.0, 2.0, size=N)
    alpha = base + 1.0
    gamma = alpha - 0.01 + np.where(np.arange(N) % 2 == 0, 0.1, -0.1)
    beta = base + rng.normal(0.0, 0.1, size=N)
    counts = {k: list(rng.uniform(0, 1, size=N)) for k in ("alpha", "beta", "gamma", "delta")}
    fid = lambda v: {"fid": {"value": v, "ci": None, "n": N, "higher_is_better": False, "metric": "fid"}}
    make_run(root / "alpha", "diffusers:org/alpha", {"denscore": list(alpha), "count_acc": counts["alpha"]},
             extra_metrics=fid(30.0), date="2025-01-03T00:00:00+00:00")
    make_run(root / "beta", "diffusers:org/beta", {"denscore": list(beta), "count_acc": counts["beta"]},
             extra_metrics=fid(25.0), date="2025-01-02T00:00:00+00:00")
    make_run(root / "gamma", "longsd:./ckpt-gamma", {"denscore": list(gamma), "count_acc": counts["gamma"]},
             date="2025-01-04T00:00:00+00:00")
    other_proto = {"denscore": {**DENSCORE_PROTOCOL, "weights_sha256": "b" * 64},
                   "counting": {"name": "counting", "version": "1", "detector": "synth-exact"}}
    make_run(root / "delta", "diffusers:org/delta", {"denscore": list(base + 5.0), "count_acc": counts["delta"]},
             protocols=other_proto, date="2025-01-05T00:00:00+00:00")
    make_run(root / "edited", "diffusers:org/alpha", {"denscore": list(base)}, suite=("longbench-v1", "1", OTHER_SHA))
    make_run(root / "suite-b", "diffusers:org/beta", {"denscore": list(base)},
             suite=("other-suite", "2", "c" * 64))
    return root


@pytest.fixture(scope="module")
def built(runs_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("lb")
    table = build_leaderboard([runs_dir], out, BOOT, plots=False)
    return table, out


def _section(table, name, sha_prefix):
    return next(s for s in table["sections"] if s["suite"]["name"] == name and s["suite"]["sha256"].startswith(sha_prefix))


def _col(section, column):
    return next(c for c in section["columns"] if c["column"] == column)


def test_sections_one_per_suite_identity(built):
    table, _ = built
    keys = sorted((s["suite"]["name"], s["suite"]["version"], s["suite"]["sha256"][:8]) for s in table["sections"])
    assert len(keys) == 3
    main = _section(table, "longbench-v1", SUITE_SHA)
    assert sorted(r["label"] for r in main["runs"]) == sorted(
        ["diffusers:org/alpha", "diffusers:org/beta", "longsd:./ckpt-gamma", "diffusers:org/delta"])
    other = main["other_suite_runs"]
    assert [o["model"] for o in other] == ["diffusers:org/alpha"]
    assert other[0]["reason"].startswith("suite sha256 differs: ")
    assert OTHER_SHA[:12] in other[0]["reason"]
    # a different suite name is its own section, not a "not comparable" entry
    assert all(o["suite_sha256"] != "c" * 64 for o in other)


def test_ranking_separation_and_protocol_reason(built):
    table, _ = built
    main = _section(table, "longbench-v1", SUITE_SHA)
    den = _col(main, "denscore")
    assert [r["label"] for r in den["rows"]] == ["diffusers:org/alpha", "longsd:./ckpt-gamma", "diffusers:org/beta"]
    assert [r["rank"] for r in den["rows"]] == [1, 2, 3]
    assert [e["label"] for e in den["excluded"]] == ["diffusers:org/delta"]
    reason = den["excluded"][0]["reason"]
    assert reason.startswith("protocol of denscore differs: weights_sha256 bbbb") and "vs aaaa" in reason
    assert den["protocol"] == DENSCORE_PROTOCOL
    # delta's counting protocol is the same as everyone's: ranked there
    cnt = _col(main, "count_acc")
    assert "diffusers:org/delta" in [r["label"] for r in cnt["rows"]] and not cnt["excluded"]
    expected = sorted(cnt["rows"], key=lambda r: -r["value"])
    assert [r["run_id"] for r in cnt["rows"]] == [r["run_id"] for r in expected]
    # lower is better: beta (25) before alpha (30); no per-sample FID, so no significance
    fid = _col(main, "fid")
    assert [(r["label"], r["rank"]) for r in fid["rows"]] == [("diffusers:org/beta", 1), ("diffusers:org/alpha", 2)]
    assert fid["rows"][1]["vs_prev"]["status"].startswith("no per-sample scores")


def test_numbers_match_results_files(built, runs_dir):
    table, out = built
    results = {json.loads((d / "results.json").read_text())["run_id"]: json.loads((d / "results.json").read_text())
               for d in runs_dir.iterdir()}
    n_checked = 0
    for sec in table["sections"]:
        for col in sec["columns"]:
            for r in col["rows"] + col["excluded"]:
                m = results[r["run_id"]]["metrics"][col["column"]]
                assert r["value"] == m["value"] and r["ci"] == m["ci"] and r["n"] == m["n"]
                n_checked += 1
    assert n_checked == 3 + 4 + 2 + 1 + 1 + 1  # denscore (3 ranked + 1 excluded), count 4, fid 2, two 1-run sections
    # the written JSON and CSV carry the same numbers at full precision
    assert json.loads((out / "leaderboard.json").read_text())["sections"] == table["sections"]
    rows = list(csv.DictReader((out / "leaderboard.csv").open(encoding="utf-8")))
    assert len(rows) == n_checked
    for row in rows:
        m = results[row["run_id"]]["metrics"][row["column"]]
        assert float(row["value"]) == m["value"]
        if m["ci"] is None:  # fid: a set statistic without per-sample scores has no bootstrap interval
            assert row["ci_lo"] == row["ci_hi"] == ""
        else:
            assert float(row["ci_lo"]) == m["ci"][0] and float(row["ci_hi"]) == m["ci"][1]
        assert row["comparable"] == ("False" if row["label"] == "diffusers:org/delta" and row["column"] == "denscore"
                                     else "True")


def test_adjacent_significance_on_constructed_case(built, runs_dir):
    table, _ = built
    den = _col(_section(table, "longbench-v1", SUITE_SHA), "denscore")
    alpha, gamma, beta = den["rows"]
    assert alpha["vs_prev"] is None

    def scores(name):
        return {(s["item_id"], s["seed"]): s["scores"]["denscore"]
                for s in map(json.loads, (runs_dir / name / "samples.jsonl").read_text().splitlines())}

    a, g, b = scores("alpha"), scores("gamma"), scores("beta")
    vg, vb = gamma["vs_prev"], beta["vs_prev"]
    assert vg["status"] == "ok" and vg["n_shared"] == N
    assert vg["diff"] == pytest.approx(np.mean([a[k] - g[k] for k in a]), abs=1e-12)
    assert vg["diff"] == pytest.approx(0.01, abs=1e-9)
    assert vg["tie"] is True and vg["ci"][0] < 0 < vg["ci"][1]
    assert vb["diff"] == pytest.approx(np.mean([g[k] - b[k] for k in g]), abs=1e-12)
    assert vb["tie"] is False and vb["ci"][0] > 0.5
    # the interval is the percentile interval of a seeded paired bootstrap: same settings, same numbers
    from leaderboard.stats import paired_bootstrap

    keys = sorted(g)
    ref = paired_bootstrap([g[k] for k in keys], [b[k] for k in keys], n_resamples=2000, seed=123)
    assert vb["ci"] == list(ref.ci)
    assert table["significance"]["n_resamples"] == 2000 and table["significance"]["seed"] == 123


def test_markdown_and_html_show_ranking_reasons_and_settings(built):
    _, out = built
    md = (out / "leaderboard.md").read_text(encoding="utf-8")
    assert "## longbench-v1 v1" in md and "## other-suite v2" in md
    assert "2000 resamples, 95% interval, seed 123" in md
    assert "protocol of denscore differs: weights\\_sha256" in md
    assert "suite sha256 differs" in md
    assert "| 2 | longsd:./ckpt-gamma |" in md and "| tie |" in md and "| significant |" in md
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "2000 resamples" in html and "seed 123" in html
    assert "protocol of denscore differs" in html and "<details><summary>Protocol details</summary>" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched at view time


def test_hostile_model_names_are_escaped_everywhere(tmp_path):
    evil = '<script>alert(1)</script>"onmouseover="alert(2)|*x*_$\\notacommand$'
    make_run(tmp_path / "r" / "evil", evil, {"denscore": [1.0, 2.0, 3.0, 4.0]})
    make_run(tmp_path / "r" / "_under", "_hidden-from-legends", {"denscore": [1.5, 2.5, 3.5, 4.5]})
    table = build_leaderboard([tmp_path / "r"], tmp_path / "out", BootstrapConfig(n_resamples=200), plots=True)
    html = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and '"onmouseover=' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the parsed page: tests/test_leaderboard_page.py
    assert html.count("<script") == 1
    md = (tmp_path / "out" / "leaderboard.md").read_text(encoding="utf-8")
    assert "<script>" not in md and "\\<script\\>" in md and "\\|" in md
    plots = table["sections"][0]["columns"][0]["plots"]
    for rel in plots.values():  # the labels did not break matplotlib's mathtext or legends
        assert (tmp_path / "out" / rel).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(plots) == {"bars", "by_bucket"}


def test_rebuild_is_atomic_and_failed_build_keeps_previous(runs_dir, tmp_path):
    out = tmp_path / "lb"
    build_leaderboard([runs_dir / "alpha", runs_dir / "beta"], out, BootstrapConfig(n_resamples=100), plots=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text('{"schema_version": 1, "run_id": ')
    with pytest.raises(LongbenchError, match="invalid JSON"):
        build_leaderboard([runs_dir / "alpha", bad], out, BootstrapConfig(n_resamples=100))
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # no temporary directory left behind


def test_same_run_twice_is_read_once_but_conflicting_ids_fail(runs_dir, tmp_path):
    table = build_leaderboard([runs_dir / "alpha", runs_dir / "alpha" / "results.json"], tmp_path / "a",
                              BootstrapConfig(n_resamples=100), plots=False)
    assert len(table["sections"][0]["runs"]) == 1
    rid = json.loads((runs_dir / "alpha" / "results.json").read_text())["run_id"]
    make_run(tmp_path / "clash", "someone-else", {"denscore": [1.0, 2.0]}, run_id=rid)
    with pytest.raises(LongbenchError, match="also used by a different run"):
        build_leaderboard([runs_dir / "alpha", tmp_path / "clash"], tmp_path / "b", plots=False)


def test_cli_build_and_bad_input(runs_dir, tmp_path):
    runner = CliRunner()
    res = runner.invoke(leaderboard, ["build", str(runs_dir / "alpha"), str(runs_dir / "gamma"), "--out",
                                      str(tmp_path / "lb"), "--bootstrap-resamples", "300", "--bootstrap-seed", "9",
                                      "--no-plots"])
    assert res.exit_code == 0, res.output
    assert "2 runs in 1 suite section(s)" in res.output
    meta = json.loads((tmp_path / "lb" / "leaderboard.json").read_text())["significance"]
    assert (meta["n_resamples"], meta["seed"], meta["confidence"]) == (300, 9, 0.95)
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(leaderboard, ["build", str(empty), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "no results.json found" in res.output
    (empty / "results.json").write_text("not json at all")
    res = runner.invoke(leaderboard, ["build", str(empty), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "invalid JSON" in res.output
    assert not os.path.exists(tmp_path / "x" / "index.html")


def test_missing_values_are_unranked_and_pairs_use_shared_items(tmp_path):
    rng = np.random.default_rng(3)
    full = list(rng.normal(10, 1, size=10))
    make_run(tmp_path / "r" / "full", "m-full", {"denscore": full})
    # a --limit 5 run of another model: the comparison uses the 5 items both scored
    make_run(tmp_path / "r" / "lim", "m-limit", {"denscore": [v - 3 for v in full[:5]]})
    make_run(tmp_path / "r" / "none", "m-none", {"denscore": [None, None, None]})
    table = build_table(load_runs([tmp_path / "r"]), BootstrapConfig(n_resamples=500))
    rows = table["sections"][0]["columns"][0]["rows"]
    assert [(r["label"], r["rank"]) for r in rows] == [("m-full", 1), ("m-limit", 2), ("m-none", None)]
    vp = rows[1]["vs_prev"]
    assert vp["n_shared"] == 5 and vp["diff"] == pytest.approx(3.0) and vp["ci"] == pytest.approx([3.0, 3.0])
    assert rows[2]["vs_prev"] is None and rows[2]["value"] is None
