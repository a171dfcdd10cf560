"""``longbench meta-eval``: Kendall tau and its bootstrap intervals against scipy / hand values, the corruption
ladders (nesting, exact recall from the reader equal to the count of broken facts), a metric that sees
everything (tau 1 on both sides) and one blind beyond 77 (undefined taus on ``beyond``), the CLI and its
errors."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import kendalltau

from cli import main
from longbench.errors import LongbenchError
from longbench.mini import meta_eval as ME
from longbench.mini.world import MINI
from longbench.stats import bootstrap_ci, bootstrap_mean_ci

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def suite():
    from longbench.mini.suite import mini_v0

    return mini_v0()


# -- statistics ---------------------------------------------------------------------------------------
def test_kendall_tau_hand_values_and_scipy():
    assert ME.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert ME.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # pairs (0,1) and (0,2) concordant, (1,2) discordant: (2 - 1) / 3
    assert ME.kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3, abs=1e-12)
    # a tie in x: (C - D) / sqrt((n0 - n1)(n0 - n2)) = 2 / sqrt(2 * 3)
    assert ME.kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6), abs=1e-12)
    assert math.isnan(ME.kendall_tau([1, 1, 1], [1, 2, 3]))  # constant metric: undefined
    assert math.isnan(ME.kendall_tau([1, float("nan"), 2], [1, 2, 3]))
    rng = np.random.default_rng(3)
    for _ in range(20):
        x, y = rng.integers(0, 4, 6).astype(float), rng.normal(size=6)
        want = kendalltau(x, y, variant="b").statistic
        got = ME.kendall_tau(x, y)
        assert (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want, abs=1e-12)


def test_system_and_per_prompt_taus_by_hand():
    recall = np.array([[1.0, 0.8, 0.5], [1.0, 0.75, 0.5], [1.0, 0.9, 0.6]])
    metric = np.array([[3.0, 2.0, 1.0],     # agrees: tau 1
                       [1.0, 2.0, 3.0],     # reversed: tau -1
                       [5.0, 5.0, 5.0]])    # constant: undefined, counted as 0
    taus = ME.per_prompt_taus(metric, recall)
    assert taus[0] == 1.0 and taus[1] == -1.0 and math.isnan(taus[2])
    # level means: metric (3, 3, 3) is constant -> undefined
    assert math.isnan(ME.system_tau(metric, recall))
    metric2 = metric.copy()
    metric2[2] = [9.0, 4.0, 2.0]            # level means (13/3, 8/3, 2): decreasing as recall -> 1
    assert ME.system_tau(metric2, recall) == 1.0
    out = ME.summarize(metric, recall, n_bootstrap=200, seed=5)
    assert out["per_prompt"] == {"tau": 0.0, "ci": out["per_prompt"]["ci"], "n": 3, "undefined": 1}
    mean, ci, _ = bootstrap_mean_ci([1.0, -1.0, 0.0], n_resamples=200, seed=5)
    assert out["per_prompt"]["ci"] == pytest.approx(ci) and mean == 0.0
    assert out["system"]["undefined"] is True and out["system"]["tau"] == 0.0

    # the system CI by hand: resample items with the same generator, recompute level means and scipy's tau
    rng = np.random.default_rng(5)
    stats = []
    for _ in range(200):
        idx = rng.integers(0, 3, size=3)
        t = kendalltau(np.nanmean(metric2[idx], axis=0), recall[idx].mean(axis=0), variant="b").statistic
        stats.append(0.0 if math.isnan(t) else t)
    want = np.quantile(stats, [0.025, 0.975])
    got = ME.summarize(metric2, recall, n_bootstrap=200, seed=5)["system"]
    assert got["tau"] == 1.0 and got["ci"] == pytest.approx(list(want), abs=1e-9)
    assert got["by_level"] == pytest.approx([13 / 3, 8 / 3, 2.0])


def test_bootstrap_ci_against_a_hand_loop():
    x = np.array([0.3, 1.2, -0.4, 2.0, 0.9])
    got = bootstrap_ci(len(x), lambda idx: float(np.median(x[idx])), n_resamples=300, seed=11)
    rng = np.random.default_rng(11)
    meds = [np.median(x[rng.integers(0, 5, size=5)]) for _ in range(300)]
    assert got == pytest.approx(list(np.quantile(meds, [0.025, 0.975])), abs=1e-12)
    assert bootstrap_ci(1, lambda idx: 0.0) is None


# -- ladders ------------------------------------------------------------------------------------------
def _failed(item, image) -> set[int]:
    from longbench.mini.read import Reader, fact_holds

    reading = Reader().read(image)
    return {i for i, f in enumerate(item.facts) if not fact_holds(f, reading)}


def test_ladders_are_nested_and_exact_recall_counts_the_broken_facts(suite):
    """The reader's failed facts at rung k are exactly the first k facts of the side's seeded order plus the
    other facts of the groups whose presence is among them; the `mini` metric's fact_recall agrees."""
    from longbench.mini.metric import MiniFactsMetric
    from longbench.mini.render import Renderer

    renderer, metric = Renderer(), MiniFactsMetric()
    ladders, skipped = ME.build_ladders(suite.items[:12], suite.name, seed=0, levels=3)
    assert sum(len(v) for v in ladders.values()) + sum(skipped.values()) == 2 * 12
    checked = 0
    for side, rows in ladders.items():
        for lad in rows:
            item = lad.item
            sides = ME.side_facts(item)
            assert list(lad.facts) == sides[side] and len(lad.facts) >= 3
            order = sorted(lad.facts)
            random.Random(f"mini-corrupt:{lad.seed}").shuffle(order)  # the documented corrupt-K order
            assert MINI.corruption_order(item, lad.seed, lad.facts) == order
            assert ME.step_kinds(lad, 3) == [item.facts[i].type for i in order[:3]]
            prev: set[int] = set()
            for k in range(len(order) + 1):
                image = renderer.render(ME.ladder_scene(item, lad.facts, k, lad.seed), lad.seed)
                failed = _failed(item, image)
                broken = set(order[:k])
                dropped = {item.facts[i].entity for i in broken if item.facts[i].type == "presence"}
                want = broken | {i for i, f in enumerate(item.facts) if f.entity in dropped}
                assert failed == want, (item.id, side, k)
                assert prev <= failed  # nested
                if side == "beyond":  # a group first named beyond 77 has all its facts beyond
                    assert failed <= set(sides["beyond"])
                prev = failed
                metric.reset()
                metric.update([image], [item])
                recall = metric.per_sample()["fact_recall"][0]
                assert recall == pytest.approx(1 - len(want) / len(item.facts), abs=1e-12)
                checked += 1
    assert checked > 60
    # the filter leaves corrupt-K itself unchanged
    it = suite.items[0]
    for k in range(4):
        assert MINI.corrupt_scene(it, k, 9) == MINI.corrupt_scene(it, k, 9, facts=range(len(it.facts)))
    with pytest.raises(LongbenchError, match="outside"):
        MINI.corrupt_scene(it, 1, 9, facts=[len(it.facts)])


def test_step_stats_by_hand():
    """Steps where the exact recall stays (a fact of a dropped group) or the column is NaN are left out; a tie
    counts in `tied`, not in `right`; the mean drop is over the steps kept."""
    metric = np.array([[5.0, 4.0, 4.0, 6.0],
                       [3.0, np.nan, 1.0, 0.5],
                       [2.0, 2.0, 1.0, 1.5]])
    recall = np.array([[1.0, 0.75, 0.5, 0.25],
                       [1.0, 0.75, 0.5, 0.5],
                       [1.0, 0.5, 0.5, 0.25]])
    kinds = [["count", "attribute", "count"], ["count", "presence", "attribute"], ["presence", "count", "count"]]
    got = ME.step_stats(metric, recall, kinds)
    # count: drops 1 (row 0 step 1), -2 (row 0 step 3), -0.5 (row 2 step 3); row 1 step 1 is NaN, row 2
    # step 2 keeps the recall. attribute: 0 (row 0 step 2); row 1 step 3 keeps the recall. presence: 0 (row 2
    # step 1); row 1 step 2 starts from NaN.
    assert got == {"attribute": {"n": 1, "right": 0.0, "tied": 1.0, "mean_drop": 0.0},
                   "count": {"n": 3, "right": pytest.approx(1 / 3), "tied": 0.0, "mean_drop": pytest.approx(-0.5)},
                   "presence": {"n": 1, "right": 0.0, "tied": 1.0, "mean_drop": 0.0}}
    assert ME.step_stats(np.zeros((0, 3)), np.zeros((0, 3)), []) == {}


# -- the run --------------------------------------------------------------------------------------
def _rows(result, column):
    return {r["side"]: r for r in result["results"] if r["column"] == column}


def test_exact_metric_ranks_perfectly_and_a_blind_column_is_undefined_beyond_77():
    """`mini`'s fact_recall sees every fact: tau 1 on both sides, system and per prompt. Its
    fact_recall@<=77 reads only facts inside 77 positions: constant along every `beyond` ladder, so every
    per-prompt tau there is undefined (counted 0) and so is the system tau; on `in` it ranks perfectly."""
    cfg = ME.MetaEvalConfig(metrics=["mini"], levels=2, limit=12, n_bootstrap=50)
    result = ME.meta_evaluate(cfg)
    sides = result["sides"]
    assert sides["in"]["items"] + sides["in"]["skipped"] == 12
    n_in, n_beyond = sides["in"]["items"], sides["beyond"]["items"]
    assert n_in >= 5 and n_beyond >= 5
    assert result["images"] == (n_in + n_beyond) * 3
    full = _rows(result, "fact_recall")
    for side in ME.SIDES:
        assert full[side]["system"]["tau"] == 1.0 and full[side]["system"]["ci"] == [1.0, 1.0]
        assert full[side]["per_prompt"]["tau"] == 1.0 and full[side]["per_prompt"]["undefined"] == 0
    rec = sides["beyond"]["fact_recall_by_level"]
    assert rec[0] == 1.0 and rec[0] > rec[1] > rec[2]
    blind = _rows(result, "fact_recall@<=77")
    assert blind["beyond"]["per_prompt"] == {"tau": 0.0, "ci": [0.0, 0.0], "n": n_beyond, "undefined": n_beyond}
    assert blind["beyond"]["system"]["undefined"] is True and blind["beyond"]["system"]["tau"] == 0.0
    assert blind["in"]["per_prompt"]["tau"] == 1.0 and blind["in"]["system"]["tau"] == 1.0
    # by kind of fact: the exact column drops at every step that breaks something; the blind one never moves
    # beyond 77. Every kept step of a side is a step of one of its ladders that lowers the exact recall.
    for side in ME.SIDES:
        steps = full[side]["steps"]
        assert steps and set(steps) <= {"presence", "count", "attribute"}
        assert all(v["right"] == 1.0 and v["tied"] == 0.0 and v["mean_drop"] > 0 for v in steps.values())
        assert sum(v["n"] for v in steps.values()) <= 2 * sides[side]["items"]
    assert all(v["right"] == 0.0 and v["tied"] == 1.0 for v in blind["beyond"]["steps"].values())
    # on `in` the blind column is the recall of the in-side facts: it drops at the same steps (by less)
    assert {k: (v["n"], v["right"]) for k, v in blind["in"]["steps"].items()} == {
        k: (v["n"], v["right"]) for k, v in full["in"]["steps"].items()}


def test_api_metric_instance_lower_is_better_is_negated():
    """A metric passed as an instance (not registered); a lower-is-better column is negated before ranking,
    so the error rate 1 - fact_recall ranks with tau +1."""
    from longbench.metrics.base import PerSampleMetric
    from longbench.mini.metric import MiniFactsMetric

    class Errors(PerSampleMetric):
        name = "errors"
        columns: ClassVar[dict[str, bool]] = {"fact_error": False}

        def score(self, images, items):
            recall = MiniFactsMetric().score(images, items).columns["fact_recall"]
            return {"fact_error": [1.0 - r for r in recall]}

    result = ME.meta_evaluate(ME.MetaEvalConfig(levels=1, limit=6, n_bootstrap=20), metrics={"errors": Errors()})
    rows = _rows(result, "fact_error")
    for side in ME.SIDES:
        if result["sides"][side]["items"]:
            assert rows[side]["higher_is_better"] is False
            assert rows[side]["per_prompt"]["tau"] == 1.0 and rows[side]["system"]["tau"] == 1.0
            assert rows[side]["system"]["by_level"][0] == 0.0  # reported as measured, not negated


def test_metric_options_layering_and_zoo_resolution(tmp_path):
    """meta-eval's defaults < the suite's option defaults < --metric-arg; mini:<name> resolves in the metric's
    own zoo option, else in --zoo."""
    from longbench.suites.base import Item, Suite

    for z in ("zooA", "zooB"):
        for name in ("clip", "denscore"):
            (tmp_path / z / name / "final").mkdir(parents=True)
            (tmp_path / z / name / "final" / "config.json").write_text("{}")
    suite = Suite(name="s", version="1", items=[Item(id="a", prompt="A red circle.")], metric_args={"segment-align": {"others": "4"},
                                                                "denscore": {"model": "mini:clip"}})
    cfg = ME.MetaEvalConfig(zoo=str(tmp_path / "zooA"),
                            metric_args={"segment-align": {"others": "8"}, "clipscore": {"zoo": str(tmp_path / "zooB")}})
    assert ME.metric_options(cfg, suite, "segment-align") == {"model": str(tmp_path / "zooA" / "clip" / "final"),
                                                               "others": "8"}
    assert ME.metric_options(cfg, suite, "denscore") == {"model": str(tmp_path / "zooA" / "clip" / "final")}
    assert ME.metric_options(cfg, suite, "clipscore")["model"] == str(tmp_path / "zooB" / "clip" / "final")
    assert ME.metric_options(cfg, suite, "mini") == {}


# -- CLI ----------------------------------------------------------------------------------------------
def run(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(r) -> str:
    assert r.exit_code == 2, (r.exit_code, r.output)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_cli_with_a_zoo_clip_writes_json_and_table(tmp_path, capsys):
    """clipscore with `mini:clip` resolved in --zoo (a tiny random CLIP): one row per side, the JSON written
    atomically and equal to what --json prints; the table shows every row."""
    from longbench.mini.commands import print_table
    from tests.helpers_clip import save_tiny_clip

    zoo = tmp_path / "zoo"
    save_tiny_clip(zoo / "clip" / "final")
    out = tmp_path / "me"
    r = run(["meta-eval", "--zoo", zoo, "--metric", "clipscore", "--levels", "1", "--limit", "5", "--bootstrap", "20",
             "--output", out, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads((out / "meta_eval.json").read_text())
    assert json.loads(r.stdout) == data
    assert not [p for p in out.iterdir() if p.name != "meta_eval.json"]  # no temporary file left
    assert data["metrics"]["clipscore"]["options"]["model"] == str(zoo / "clip" / "final")
    rows = _rows(data, "clipscore")
    assert set(rows) == {"in", "beyond"} and data["config"]["levels"] == 1 and data["images"] == 2 * (
        data["sides"]["in"]["items"] + data["sides"]["beyond"]["items"])
    for row in rows.values():
        if row["per_prompt"]["n"]:
            assert -1.0 <= row["per_prompt"]["tau"] <= 1.0
    print_table(data)
    text = capsys.readouterr().out
    assert text.count("clipscore") == 4 and "per-prompt tau" in text and "exact fact_recall by level" in text
    assert "one more fact broken" in text


@pytest.mark.parametrize("args, match", [
    (["--suite", "synth-v0"], "--suite synth-v0: meta-eval needs a suite of the miniature world"),
    (["--levels", "0"], "--levels must be >= 1, got 0"),
    (["--bootstrap", "0"], "--bootstrap must be >= 1"),
    (["--metric", "clipscor"], "clipscore"),
    (["--metric", "mini", "--metric-arg", "denscore.model=x"], "--metric-arg for 'denscore'"),
    (["--metric", "clipscore", "--zoo", "{empty}"], "mini model 'clip' is not in zoo"),
    (["--metric", "mini", "--levels", "40", "--limit", "3"], "--levels 40: no item"),
])
def test_cli_errors(tmp_path, args, match):
    (tmp_path / "empty").mkdir()
    args = [a.replace("{empty}", str(tmp_path / "empty")) for a in args]
    line = one_error_line(run(["meta-eval", "--output", tmp_path / "o", "--no-progress", *args]))
    assert match in line


def test_cli_error_as_a_real_process(tmp_path):
    r = subprocess.run([sys.executable, "-c", "import cli; cli.main()", "meta-eval", "--levels", "-1",
                        "--output", str(tmp_path / "o")], check=False, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and r.stderr.strip() == "error: --levels must be >= 1, got -1"
