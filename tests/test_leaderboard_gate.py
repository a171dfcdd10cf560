"""CI regression gate: semantics per direction, missing metrics, Markdown, and the CLI's exit codes."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaderboard.commands import leaderboard
from leaderboard.gate import compare, parse_max_regression
from longbench.errors import LongbenchError
from tests.helpers_leaderboard import make_run


def _results(values: dict[str, float | None]) -> dict:
    hib = {"denscore": True, "count_acc": True, "fid": False}
    metric = {"denscore": "denscore", "count_acc": "counting", "fid": "fid"}
    return {
        "run_id": "longbench-v1@5200f8e0/abc/s0",
        "suite": {"name": "longbench-v1", "version": "1", "sha256": "5" * 64},
        "model": {"spec": "images:./out"},
        "n": 100,
        "metrics": {k: {"value": v, "ci": None, "n": 100, "higher_is_better": hib[k], "metric": metric[k]}
                    for k, v in values.items()},
        "protocols": {"denscore": {"weights": "x"}, "counting": {"detector": "y"}, "fid": {"features": "z"}},
    }


BASE = _results({"denscore": 21.5, "fid": 30.0, "count_acc": 0.80})
CUR = _results({"denscore": 21.0, "fid": 31.0, "count_acc": 0.85})


def _row(res, col):
    return next(r for r in res.rows if r.column == col)


def test_drop_within_allowance_passes_and_larger_drop_fails():
    ok = compare(CUR, BASE, {"denscore": 0.6})
    assert ok.ok and _row(ok, "denscore").status == "ok" and _row(ok, "denscore").delta == pytest.approx(-0.5)
    bad = compare(CUR, BASE, {"denscore": 0.4})
    assert not bad.ok and _row(bad, "denscore").status == "regression" and _row(bad, "denscore").failed


def test_lower_is_better_regresses_upwards():
    assert not compare(CUR, BASE, {"fid": 0.5}).ok  # FID rose by 1
    assert compare(CUR, BASE, {"fid": 1.0}).ok  # exactly the allowance passes
    better = _results({"denscore": 21.5, "fid": 20.0, "count_acc": 0.8})
    res = compare(better, BASE, {"fid": 0.0})
    assert res.ok and _row(res, "fid").status == "improved"


def test_improvement_and_ungated_columns():
    res = compare(CUR, BASE, {"count_acc": 0.0})
    assert res.ok
    assert _row(res, "count_acc").status == "improved"
    assert _row(res, "denscore").status == "not gated" and not _row(res, "denscore").failed


def test_float_representation_does_not_fail_an_exact_allowance():
    base, cur = _results({"denscore": 1.0}), _results({"denscore": 0.7})
    assert 1.0 - 0.7 > 0.3  # 0.30000000000000004
    assert compare(cur, base, {"denscore": 0.3}).ok
    assert not compare(_results({"denscore": 0.69}), base, {"denscore": 0.3}).ok


def test_unknown_metric_lists_the_available_ones():
    with pytest.raises(LongbenchError, match=r"unknown metric 'densecore'; available: denscore, fid, count_acc"):
        compare(CUR, BASE, {"densecore": 0.5})


def test_missing_metric_is_reported_and_fails_only_when_gated():
    cur = copy.deepcopy(CUR)
    del cur["metrics"]["count_acc"]
    base = copy.deepcopy(BASE)
    del base["metrics"]["fid"]
    res = compare(cur, base, {"denscore": 1.0})
    assert res.ok
    assert _row(res, "count_acc").status == "missing in current"
    assert _row(res, "fid").status == "missing in baseline"
    assert "missing in current" in res.markdown and "missing in baseline" in res.markdown
    gated = compare(cur, base, {"count_acc": 1.0, "fid": 1.0})
    assert not gated.ok and {r.column for r in gated.rows if r.failed} == {"count_acc", "fid"}
    nulls = compare(_results({"denscore": None}), BASE, {"denscore": 1.0})
    assert not nulls.ok and _row(nulls, "denscore").status == "no value"


def test_markdown_summary_of_a_regression():
    cur = copy.deepcopy(CUR)
    cur["model"]["spec"] = "images:./out|<b>x</b>"
    cur["protocols"]["denscore"] = {"weights": "other"}
    res = compare(cur, BASE, {"denscore": 0.4, "fid": 2.0})
    md = res.markdown
    assert md.startswith("### ❌ longbench: 1 gated metric(s) failed")
    assert "| denscore ↑ | 21.5 | 21 | -0.5 | 0.4 | ❌ regression (metric protocol differs from the baseline) |" in md
    assert "| fid ↓ | 30 | 31 | +1 | 2 | ✅ ok |" in md
    assert "| count\\_acc ↑ | 0.8 | 0.85 | +0.05 | — | not gated |" in md
    assert "images:./out\\|\\<b\\>x\\</b\\>" in md  # no table break, no raw HTML
    assert "denscore: metric protocol differs from the baseline" in res.warnings[0]
    assert compare(CUR, BASE, {"denscore": 1}).markdown.startswith("### ✅ longbench: no regression")


def test_suite_difference_is_a_warning():
    cur = copy.deepcopy(CUR)
    cur["suite"]["sha256"] = "6" * 64
    res = compare(cur, BASE, {"denscore": 1.0})
    assert res.ok and any("suite sha256 differs" in w for w in res.warnings)


@pytest.mark.parametrize("spec,msg", [
    (["denscore"], "expected METRIC=DELTA"), (["=1"], "expected METRIC=DELTA"), (["denscore=abc"], "not a number"),
    (["denscore=-1"], ">= 0"), (["denscore=nan"], ">= 0"), (["fid=1", "fid=2"], "given twice"),
])
def test_parse_max_regression_errors(spec, msg):
    with pytest.raises(LongbenchError, match=msg):
        parse_max_regression(spec)


def test_parse_max_regression():
    assert parse_max_regression(["denscore=0.5", " fid = 2"]) == {"denscore": 0.5, "fid": 2.0}


@pytest.fixture
def run_pair(tmp_path) -> tuple[Path, Path]:
    base = make_run(tmp_path / "base", "images:./out", {"denscore": [21.0, 22.0]})
    cur = make_run(tmp_path / "cur", "images:./out", {"denscore": [20.0, 21.0]})
    return cur, base


def test_cli_compare_exit_codes_and_markdown_file(run_pair, tmp_path):
    cur, base = run_pair
    runner = CliRunner()
    ok = runner.invoke(leaderboard, ["compare", str(cur), str(base), "--max-regression", "denscore=1.0"])
    assert ok.exit_code == 0, ok.output
    assert "no regression" in ok.output
    out = tmp_path / "summary.md"
    bad = runner.invoke(leaderboard, ["compare", str(cur / "results.json"), str(base), "--max-regression",
                                      "denscore=0.5", "--markdown", str(out)])
    assert bad.exit_code == 1
    assert out.read_text(encoding="utf-8") == bad.output
    assert "❌ regression" in out.read_text(encoding="utf-8")
    unknown = runner.invoke(leaderboard, ["compare", str(cur), str(base), "--max-regression", "fidd=1"])
    assert unknown.exit_code == 2 and "available: denscore" in unknown.output
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    res = runner.invoke(leaderboard, ["compare", str(cur), str(broken), "--max-regression", "denscore=1"])
    assert res.exit_code == 2 and "invalid JSON" in res.output


def test_compare_as_a_real_process(run_pair):
    """Exit status through a real interpreter, and importing the command group does not import numpy."""
    cur, base = run_pair
    code = ("import sys; from leaderboard.commands import leaderboard; "
            "assert 'numpy' not in sys.modules and 'matplotlib' not in sys.modules; "
            "leaderboard(sys.argv[1:], prog_name='longbench leaderboard')")
    args = [sys.executable, "-c", code, "compare", str(cur), str(base)]
    ok = subprocess.run([*args, "--max-regression", "denscore=1"], check=False, capture_output=True, text=True,
                        timeout=60)
    bad = subprocess.run([*args, "--max-regression", "denscore=0.1"], check=False, capture_output=True, text=True,
                         timeout=60)
    assert (ok.returncode, bad.returncode) == (0, 1), ok.stderr + bad.stderr
    assert json.loads((cur / "results.json").read_text())["metrics"]["denscore"]["value"] == 20.5
    assert "| denscore ↑ | 21.5 | 20.5 | -1 | 0.1 | ❌ regression |" in bad.stdout
