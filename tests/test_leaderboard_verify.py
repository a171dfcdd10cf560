"""The leaderboard recomputes every headline value from samples.jsonl: a forged results.json is refused by
`leaderboard add` and `leaderboard build` (exit 2, one line naming the run, column, claimed and recomputed
value), and a run written by the real runner passes exactly."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from leaderboard.commands import leaderboard
from leaderboard.runs import verify_run
from leaderboard.store import add_run
from longbench.errors import LongbenchError
from tests.helpers_leaderboard import make_run


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of the real runner: synth:clip77 on the first 24 synth-v0 items (values, CIs and buckets)."""
    from longbench.runner import EvalConfig, run_eval

    out = tmp_path_factory.mktemp("verify")
    (run,) = run_eval(EvalConfig(models=["synth:clip77"], output=str(out / "runs"), limit=24, n_bootstrap=200))
    return run.run_dir


def _copy(run: Path, tmp_path: Path, name: str = "run") -> Path:
    return Path(shutil.copytree(run, tmp_path / name))


def _edit(run: Path, edit) -> None:
    r = json.loads((run / "results.json").read_text())
    edit(r)
    (run / "results.json").write_text(json.dumps(r))


def _add(store: Path, run: Path):
    return CliRunner().invoke(leaderboard, ["add", str(store), str(run)])


def _one_error_line(r) -> str:
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    return lines[0]


def test_a_real_run_verifies_exactly(real_run: Path, tmp_path: Path) -> None:
    results = json.loads((real_run / "results.json").read_text())
    samples = [json.loads(ln) for ln in (real_run / "samples.jsonl").read_text().splitlines()]
    verify_run(results, samples, "r")
    # JSON floats round-trip float64 exactly, so the recomputed mean is the recorded one to the bit
    scores = np.array([math.nan if s["scores"]["fact_recall"] is None else s["scores"]["fact_recall"] for s in samples])
    assert results["metrics"]["fact_recall"]["value"] == float(scores[np.isfinite(scores)].mean())
    assert _add(tmp_path / "store", real_run).exit_code == 0


@pytest.mark.parametrize("path, delta", [
    (("fact_recall", "value"), 0.01),
    (("fact_recall@>77", "value"), 1e-6),  # far below display precision, far above float64 rounding
    (("position_acc", "n"), 1),
    (("count_acc", "ci", 0), -0.02),
    (("fact_recall", "by_bucket", "78-154", "value"), 0.05),
])
def test_edited_value_is_refused_by_add_and_build(real_run: Path, tmp_path: Path, path, delta) -> None:
    run = _copy(real_run, tmp_path)
    claimed: dict = {}

    def forge(r):
        entry = r["metrics"]
        for key in path[:-1]:
            entry = entry[key]
        entry[path[-1]] += delta
        claimed["v"] = entry[path[-1]]
        claimed["run_id"] = r["run_id"]

    _edit(run, forge)
    line = _one_error_line(_add(tmp_path / "store", run))
    assert claimed["run_id"] in line and path[0] in line and repr(claimed["v"]) in line, line
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())
    r = CliRunner().invoke(leaderboard, ["build", str(run), "--out", str(tmp_path / "lb"), "--no-plots"])
    assert path[0] in _one_error_line(r)


def test_message_names_run_column_claimed_and_recomputed(real_run: Path, tmp_path: Path) -> None:
    run = _copy(real_run, tmp_path)
    truth = json.loads((run / "results.json").read_text())["metrics"]["fact_recall"]["value"]
    _edit(run, lambda r: r["metrics"]["fact_recall"].update(value=0.99))
    with pytest.raises(LongbenchError) as err:
        add_run(tmp_path / "store", run)
    msg = str(err.value)
    assert "fact_recall is 0.99 in results.json but the mean of samples.jsonl is " + repr(truth) in msg
    assert "run 'synth-v0@" in msg


def test_missing_samples_is_an_error(real_run: Path, tmp_path: Path) -> None:
    run = _copy(real_run, tmp_path)
    (run / "samples.jsonl").unlink()
    assert "samples.jsonl: missing" in _one_error_line(_add(tmp_path / "store", run))
    r = CliRunner().invoke(leaderboard, ["build", str(run), "--out", str(tmp_path / "lb"), "--no-plots"])
    assert "samples.jsonl: missing" in _one_error_line(r)


def test_stripped_score_and_forged_settings(real_run: Path, tmp_path: Path) -> None:
    run = _copy(real_run, tmp_path)
    lines = (run / "samples.jsonl").read_text().splitlines()
    first = json.loads(lines[3])
    del first["scores"]["count_acc"]
    lines[3] = json.dumps(first)
    (run / "samples.jsonl").write_text("\n".join(lines) + "\n")
    assert "line 4 of samples.jsonl has no score" in _one_error_line(_add(tmp_path / "store", run))
    run2 = _copy(real_run, tmp_path, "run2")
    _edit(run2, lambda r: r["bootstrap"].update(n_resamples=10**9))
    assert "bootstrap.n_resamples must be an integer in 1..100000" in _one_error_line(_add(tmp_path / "s2", run2))
    run3 = _copy(real_run, tmp_path, "run3")
    _edit(run3, lambda r: r.pop("bootstrap"))
    assert "without the bootstrap settings" in _one_error_line(_add(tmp_path / "s3", run3))


def test_ci_tolerance_depends_on_the_numpy_that_wrote_the_run(real_run: Path, tmp_path: Path) -> None:
    """Same numpy: the re-drawn interval must match to 1e-9; another numpy may draw another bootstrap
    stream, so 10% of the width is allowed (a narrower forged interval is still refused)."""
    results = json.loads((real_run / "results.json").read_text())
    samples = [json.loads(ln) for ln in (real_run / "samples.jsonl").read_text().splitlines()]
    lo, hi = results["metrics"]["fact_recall"]["ci"]
    nudged = json.loads(json.dumps(results))
    nudged["metrics"]["fact_recall"]["ci"] = [lo + 0.05 * (hi - lo), hi]
    with pytest.raises(LongbenchError, match="fact_recall ci is"):
        verify_run(nudged, samples, "r")  # same numpy version recorded: exact
    nudged["environment"]["numpy"] = "1.0.0"
    verify_run(nudged, samples, "r")
    nudged["metrics"]["fact_recall"]["ci"] = [lo + 0.3 * (hi - lo), hi - 0.3 * (hi - lo)]
    with pytest.raises(LongbenchError, match="fact_recall ci is"):
        verify_run(nudged, samples, "r")


def test_set_statistics_cannot_be_verified_but_cannot_claim_intervals(tmp_path: Path) -> None:
    fid = {"fid": {"value": 12.5, "ci": None, "n": 4, "higher_is_better": False, "metric": "fid"}}
    ok = make_run(tmp_path / "ok", "diffusers:org/a", {"denscore": [1.0, 2.0, 3.0, 4.0]}, extra_metrics=fid)
    add_run(tmp_path / "store", ok)  # fid's value is taken as written (documented)
    with_ci = {"fid": {**fid["fid"], "ci": [10.0, 11.0]}}
    bad = make_run(tmp_path / "bad", "diffusers:org/b", {"denscore": [1.0, 2.0, 3.0, 4.0]}, extra_metrics=with_ci)
    with pytest.raises(LongbenchError, match="fid claims a confidence interval but samples.jsonl has no per-sample"):
        add_run(tmp_path / "store", bad)
    wrong_n = {"fid": {**fid["fid"], "n": 400}}
    bad2 = make_run(tmp_path / "bad2", "diffusers:org/c", {"denscore": [1.0, 2.0, 3.0, 4.0]}, extra_metrics=wrong_n)
    with pytest.raises(LongbenchError, match=r"fid.n is 400 but samples.jsonl has 4 samples"):
        add_run(tmp_path / "store", bad2)


def test_null_scores_and_nan_means(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", "diffusers:org/a", {"denscore": [None, None, 2.0, None]})
    results = json.loads((run / "results.json").read_text())
    assert results["metrics"]["denscore"]["value"] == 2.0 and results["metrics"]["denscore"]["n"] == 1
    add_run(tmp_path / "store", run)
    empty = make_run(tmp_path / "e", "diffusers:org/b", {"denscore": [None, None]})
    assert json.loads((empty / "results.json").read_text())["metrics"]["denscore"]["value"] is None
    add_run(tmp_path / "store", empty)
    _edit(empty, lambda r: r["metrics"]["denscore"].update(value=0.5))
    with pytest.raises(LongbenchError, match=r"denscore is 0\.5 in results.json but the mean of samples.jsonl is nan"):
        add_run(tmp_path / "store2", empty)


def test_edited_run_n_is_refused_by_build_too(real_run: Path, tmp_path: Path) -> None:
    # the run-level n is shown in every leaderboard row: build must check it as add does
    run = _copy(real_run, tmp_path)
    _edit(run, lambda r: r.update(n=2400))
    r = CliRunner().invoke(leaderboard, ["build", str(run), "--out", str(tmp_path / "lb"), "--no-plots"])
    assert "n is 2400 in results.json but samples.jsonl has 24 samples" in _one_error_line(r)
    assert not (tmp_path / "lb").exists()
    assert "2400" in _one_error_line(_add(tmp_path / "store", run))


def test_a_flipped_direction_is_refused(real_run: Path, tmp_path: Path) -> None:
    run = _copy(real_run, tmp_path)
    _edit(run, lambda r: r["metrics"]["fact_recall"].update(higher_is_better=False))
    line = _one_error_line(_add(tmp_path / "store", run))
    assert "fact_recall.higher_is_better is False but metric 'synth' declares True" in line
