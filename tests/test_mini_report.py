"""``longbench train mini-report``: the verdict logic and the statistics on hand-made numbers, zoo checks, and the
report written end to end on the smoke zoo (``mini_smoke_repro``, tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from longalign import mini_claims as C
from longalign import mini_report as R
from longalign.mini_claims import FAILS, HOLDS, MISSING, UNCLEAR
from longbench.errors import LongbenchError
from tests.helpers_longalign import one_thread


@pytest.fixture(autouse=True)
def _threads():
    yield from one_thread()


# ------------------------------------------------------------------------------------------ verdicts
@pytest.mark.parametrize("ci,expect,verdict", [
    ((0.01, 0.2), 1, HOLDS), ((-0.2, -0.01), 1, FAILS), ((-0.1, 0.1), 1, UNCLEAR), ((0.0, 0.2), 1, UNCLEAR),
    ((-0.2, -0.01), -1, HOLDS), ((0.01, 0.2), -1, FAILS), ((-0.2, 0.0), -1, UNCLEAR), (None, 1, UNCLEAR),
    ((0.0, 0.0), 1, UNCLEAR),
])
def test_direction_verdict(ci, expect, verdict):
    assert C.direction_verdict(ci, expect) == verdict


def test_three_valued_logic_truth_tables():
    values = (HOLDS, FAILS, UNCLEAR, MISSING)
    expected_and = {  # (a, b) -> a AND b, written out by hand
        (HOLDS, HOLDS): HOLDS, (HOLDS, FAILS): FAILS, (HOLDS, UNCLEAR): UNCLEAR, (HOLDS, MISSING): MISSING,
        (FAILS, FAILS): FAILS, (FAILS, UNCLEAR): FAILS, (FAILS, MISSING): FAILS,
        (UNCLEAR, UNCLEAR): UNCLEAR, (UNCLEAR, MISSING): MISSING, (MISSING, MISSING): MISSING}
    expected_or = {
        (HOLDS, HOLDS): HOLDS, (HOLDS, FAILS): HOLDS, (HOLDS, UNCLEAR): HOLDS, (HOLDS, MISSING): HOLDS,
        (FAILS, FAILS): FAILS, (FAILS, UNCLEAR): UNCLEAR, (FAILS, MISSING): MISSING,
        (UNCLEAR, UNCLEAR): UNCLEAR, (UNCLEAR, MISSING): MISSING, (MISSING, MISSING): MISSING}
    for a in values:
        for b in values:
            key = (a, b) if (a, b) in expected_and else (b, a)
            assert C.all_of(a, b) == expected_and[key], (a, b)
            assert C.any_of(a, b) == expected_or[key], (a, b)
    assert C.all_of(HOLDS, HOLDS, HOLDS) == HOLDS and C.any_of(FAILS, FAILS, FAILS) == FAILS


def _comparisons(cis: dict[tuple[str, str, str], tuple[float, float] | None], missing: set[str] = frozenset()):
    """Comparisons of every claim's tests with the hand-made intervals ``cis`` (others: (-1, 1))."""
    out = {}
    for claim in R.CLAIMS:
        for t in claim.tests + claim.context:
            lacking = tuple(m for m in (t.a, t.b) if m in missing)
            ci = cis.get((t.a, t.b, t.column), (-1.0, 1.0))
            out[(t.a, t.b, t.column)] = (C.Comparison(t.a, t.b, t.column, t.expect, missing=lacking) if lacking else
                                         C.Comparison(t.a, t.b, t.column, t.expect, sum(ci) / 2, ci, 10))
    return out


def test_control_rows_and_claim_tests():
    control = C.Comparison("longsd", "sd", "fact_recall@<=77", 0, 0.01, (-0.02, 0.04), 9)
    assert control.verdict == "0 inside the CI"
    assert C.Comparison("a", "b", "c", 0, 0.1, (0.05, 0.2), 9).verdict == "0 outside the CI"
    assert C.Comparison("a", "b", "c", 1, missing=("a",)).verdict == MISSING
    for claim in R.CLAIMS:  # a claim's own tests state a direction; controls are context only
        assert all(t.expect in (1, -1) for t in claim.tests)
    with pytest.raises(ValueError):
        C.direction_verdict((0.1, 0.2), 0)


def _verdicts(comparisons):
    return {c.key: C.claim_verdict(c, comparisons)[0] for c in R.CLAIMS}


def test_claim_verdicts_from_hand_made_intervals():
    w1, w03, ls = "reward-w1", "reward-w03", "longsd"
    # omega=1 raises Denscore-O and loses facts; omega=0.3 keeps fidelity better than omega=1: claim 2 holds
    cis = {("longsd", "sd", "fact_recall@>77"): (0.05, 0.30),
           (w1, ls, "denscore-o"): (0.5, 2.0), (w1, ls, "fact_recall"): (-0.2, -0.05),
           (w03, w1, C.FID): (-3.0, -0.5), ("naive", ls, C.FID): (-4.0, -1.0)}
    assert _verdicts(_comparisons(cis)) == {"segment-encoding": HOLDS, "reweighting": HOLDS,
                                            "encoding-ablation": FAILS}
    # Denscore-O does not go up at omega=1 (interval below 0): no over-fitting, whatever else holds
    assert _verdicts(_comparisons({**cis, (w1, ls, "denscore-o"): (-2.0, -0.5)}))["reweighting"] == FAILS
    # over-fitting shown, but omega=0.3 not distinguishable from omega=1 on fidelity and facts
    assert _verdicts(_comparisons({**cis, (w03, w1, C.FID): (-1.0, 1.0)}))["reweighting"] == UNCLEAR
    # no degradation established at omega=1 (every degradation test contains 0)
    assert _verdicts(_comparisons({**cis, (w1, ls, "fact_recall"): (-0.1, 0.1)}))["reweighting"] == UNCLEAR
    # every degradation test reversed: omega=1 is better on fidelity and facts -> the over-fitting part fails
    better = {(w1, ls, C.FID): (-2.0, -1.0), (w1, ls, "fact_recall"): (0.1, 0.2), (w1, ls, "fact_recall@>77"): (0.1, 0.2)}
    assert _verdicts(_comparisons({**cis, **better}))["reweighting"] == FAILS
    # a missing generator: its tests are not evaluated, and so is the claim unless another part fails
    v = _verdicts(_comparisons(cis, missing={w03}))
    assert v["reweighting"] == MISSING and v["segment-encoding"] == HOLDS
    assert _verdicts(_comparisons({**cis, (w1, ls, "denscore-o"): (-2.0, -0.5)}, missing={w03}))["reweighting"] == FAILS
    assert _verdicts(_comparisons(cis, missing={"sd"}))["segment-encoding"] == MISSING
    assert _verdicts(_comparisons({**cis, ("longsd", "sd", "fact_recall@>77"): (-0.3, -0.1)}))["segment-encoding"] == FAILS


# ------------------------------------------------------------------------------------------ statistics
def test_paired_difference_hand_numbers():
    a = {"x": 1.0, "y": 0.0, "z": None, "w": 0.5, "u": float("nan")}
    b = {"x": 0.0, "y": 0.0, "z": 1.0, "w": 0.5, "u": 1.0, "v": 1.0}
    diff, ci, n = C.paired_difference(a, b)
    assert n == 3 and diff == pytest.approx(1 / 3)  # items x, y, w
    assert ci[0] == 0.0 and ci[1] == 1.0  # resampled means of {1, 0, 0} lie in {0, 1/3, 2/3, 1}
    # constant differences: the interval is the point
    diff, ci, n = C.paired_difference({"a": 0.75, "b": 0.5}, {"a": 0.5, "b": 0.25})
    assert (diff, ci, n) == (0.25, (0.25, 0.25), 2)
    # pairing: a shared per-item offset does not widen the interval of the difference
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 1, 50)
    diff, ci, n = C.paired_difference(dict(enumerate(base + 0.1)), dict(enumerate(base)))
    assert diff == pytest.approx(0.1) and ci[0] == pytest.approx(0.1) and ci[1] == pytest.approx(0.1)
    assert C.paired_difference({"a": 1.0}, {"b": 1.0}) == (None, None, 0)
    # n = 2 differences {0, 1}: resampled means 0, 1/2, 1 (p = 1/4, 1/2, 1/4) -> the 95% interval is [0, 1]
    assert C.paired_difference({"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 0.0})[1] == (0.0, 1.0)


def _fid_scipy(x: np.ndarray, y: np.ndarray) -> float:
    """FID by the textbook formula with scipy's sqrtm (an independent computation)."""
    from scipy import linalg

    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_bootstrap_values_and_pairing():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(40, 3))
    a = rng.normal(size=(20, 3)) + np.array([1.0, 0.0, 0.0])
    b = rng.normal(size=(20, 3)) * 1.5
    boot = C.FIDBootstrap({"a": a, "b": b, "a2": a.copy()}, ref, seed=0, n_resamples=200)
    assert boot.full["a"] == pytest.approx(_fid_scipy(a, ref), rel=1e-8)
    assert boot.full["b"] == pytest.approx(_fid_scipy(b, ref), rel=1e-8)
    est = boot.estimate("a")
    assert est.n == 20 and est.ci[0] < est.value < est.ci[1]
    # the same images under two names: every resample draws the same items for both, so the difference is 0
    diff, ci, n = boot.difference("a", "a2")
    assert (diff, ci, n) == (0.0, (0.0, 0.0), 20)
    diff, ci, _ = boot.difference("a", "b")
    assert diff == pytest.approx(boot.full["a"] - boot.full["b"]) and ci[0] <= diff <= ci[1]
    # resample 0 recomputed by hand from the same generator draws; the interval is value -/+ 1.96 sd
    draw = np.random.default_rng(0)
    idx, ref_idx = draw.integers(0, 20, 20), draw.integers(0, 40, 40)
    assert boot.resampled()[0, 0] == pytest.approx(_fid_scipy(a[idx], ref[ref_idx]), rel=1e-6)
    sd = np.std([_fid_scipy(a[i], ref[j]) for i, j in ((draw.integers(0, 20, 20), draw.integers(0, 40, 40))
                                                         for _ in range(199))] + [boot.resampled()[0, 0]], ddof=1)
    assert est.ci == pytest.approx((est.value - 1.959964 * sd, est.value + 1.959964 * sd), rel=1e-5)
    # a single FID's interval stops at 0
    near = C.FIDBootstrap({"r": ref[:20]}, ref, seed=0, n_resamples=50).estimate("r")
    assert near.ci[0] == max(0.0, near.value - (near.ci[1] - near.value))
    with pytest.raises(LongbenchError, match="at least 2 images"):
        C.FIDBootstrap({"a": a[:1]}, ref)
    with pytest.raises(LongbenchError, match="shapes"):
        C.FIDBootstrap({"a": a, "b": b[:, :2]}, ref)


def test_formatting():
    assert R.fmt(0.12345) == "0.123" and R.fmt(123.456) == "123.5" and R.fmt(None) == "n/a"
    assert R.fmt(float("nan")) == "n/a" and R.fmt(0.5, signed=True) == "+0.500" and R.fmt(-0.5, signed=True) == "-0.500"
    assert R.fmt_ci((0.1, 0.2)) == "[0.100, 0.200]" and R.fmt_ci(None) == "n/a"
    assert R.fmt(0.0) == "0.000" and R.fmt(0.00042) == "4.2e-04" and R.fmt(-3.14e-6, signed=True) == "-3.1e-06"


# ------------------------------------------------------------------------------------------ zoo checks
def _fake_zoo(root: Path, names: list[str]) -> Path:
    for n in names:
        (root / n / "final").mkdir(parents=True)
        (root / n / "final" / "config.json").write_text("{}")
    return root


def test_check_zoo_partial_and_bad(tmp_path):
    root, have, missing = R.check_zoo(_fake_zoo(tmp_path / "z", ["clip", "denscore", "base", "longsd", "reward-w1"]))
    assert root == tmp_path / "z" and have == ["longsd", "reward-w1"]
    assert missing == ["sd", "naive", "reward-w0", "reward-w03"]
    with pytest.raises(LongbenchError, match=r"--zoo .*nope: not a directory"):
        R.check_zoo(tmp_path / "nope")
    with pytest.raises(LongbenchError, match=r"not a usable miniature zoo: denscore, base missing"):
        R.check_zoo(_fake_zoo(tmp_path / "y", ["clip", "sd"]))


def test_zoo_inventory_hand_computed(tmp_path):
    import hashlib
    import json

    root = _fake_zoo(tmp_path / "z", ["clip", "denscore", "base"])
    (root / "clip" / "final" / "sub").mkdir()
    (root / "clip" / "final" / "sub" / "w.bin").write_bytes(b"abc")
    (root / "manifest.json").write_text(json.dumps({"models": {"clip": {"stage": "clip", "steps": 24, "wall_s": 4.5}}}))
    inv = {m["name"]: m for m in R.zoo_inventory(root)}
    assert list(inv) == ["clip", "denscore", "base"]
    sha = hashlib.sha256
    lines = f"config.json {sha(b'{}').hexdigest()}\nsub/w.bin {sha(b'abc').hexdigest()}\n"
    assert inv["clip"] == {"name": "clip", "stage": "clip", "steps": 24, "wall_s": 4.5, "bytes": 5,
                           "sha256": sha(lines.encode()).hexdigest()}
    assert inv["base"]["steps"] is None and inv["base"]["bytes"] == 2
    (root / "manifest.json").write_text("[1, 2]")  # not a manifest: the numbers are unknown, not an error
    assert R.zoo_inventory(root)[0]["steps"] is None


def test_cli_bad_zoo_and_limit(tmp_path):
    from click.testing import CliRunner

    from longalign.commands import train

    res = CliRunner().invoke(train, ["mini-report", "--zoo", str(tmp_path / "nope"), "--out", str(tmp_path / "r.md")])
    assert res.exit_code == 2 and res.output.strip().splitlines()[-1].startswith("error: --zoo ")
    assert len(res.output.strip().splitlines()) == 1
    zoo = _fake_zoo(tmp_path / "z", ["clip", "denscore", "base"])
    res = CliRunner().invoke(train, ["mini-report", "--zoo", str(zoo), "--limit", "1", "--out", str(tmp_path / "r.md")])
    assert res.exit_code == 2 and "--limit must be >= 2" in res.output
    res = CliRunner().invoke(train, ["mini-report", "--zoo", str(zoo), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--out" in res.output and "is a directory" in res.output
    assert not (tmp_path / "r.md").exists()


# ------------------------------------------------------------------------------------------ rendering
def _hand_data(missing: list[str]) -> R.ReportData:
    runs, estimates = {}, {}
    generators = ("sd", "longsd", "naive", "reward-w0", "reward-w03", "reward-w1")
    names = ["oracle", "clip77", "random"] + [g for g in generators if g not in missing]
    for k, name in enumerate(names):
        runs[name] = R.ModelRun(name, {"metrics": {}, "model": {}}, {}, {})
        estimates[name] = {c: C.Estimate(0.1 * k, (0.1 * k - 0.05, 0.1 * k + 0.05), 4)
                           for c in R.EXACT_COLUMNS + R.LEARNED_COLUMNS}
    comparisons = _comparisons({("longsd", "sd", "fact_recall@>77"): (0.05, 0.30)}, missing=set(missing))
    return R.ReportData(zoo=Path("/z"), seed=0, limit=4, suite={"name": "mini-v0", "version": "0", "sha256": "ab" * 32,
                                                                 "n": 4},
                        zoo_models=[{"name": "clip", "stage": "clip", "steps": 3, "wall_s": 1.2, "bytes": 2_000_000,
                                     "sha256": "cd" * 32}],
                        missing=missing, runs=runs, estimates=estimates, comparisons=comparisons,
                        fid_reference={"n": 200, "features": {"feature_dim": 64}},
                        sampling={"sd": {"steps": 2, "guidance": 3.0}})


def test_render_has_every_section_and_computed_verdicts():
    text = R.render(_hand_data(["naive", "reward-w1"]), "longbench train mini-report --seed 0")
    for heading in ("# LongAlign in miniature", "## Verdicts", "## Setup", "## All models", "## Claim 1: segment",
                    "## Claim 2: reward", "## Claim 3: encoding ablation"):
        assert heading in text, heading
    assert "| Claim 1: segment encoding | **holds** |" in text
    assert "| Claim 2: reward reweighting | **not evaluated** |" in text
    assert "| 1 | longsd - sd | `fact_recall@>77` | +0.175 | [0.050, 0.300] | 10 | > 0 |" in text
    assert "**Missing generators**: `mini:naive`, `mini:reward-w1`" in text
    for column in ("binding_acc@>77", "count_acc@>77", "position_acc@>77"):  # claim 1's context, fact by kind
        assert f"| longsd - sd | `{column}` |" in text, column
    assert "| mini:naive | missing from the zoo | - |" in text
    assert "| `clip` | clip | 3 | 1 s | 2.00 MB | `cdcdcdcdcdcd` |" in text
    assert "- `mini:sd` sampler: steps 2, guidance 3.0." in text
    assert "(reward-w1 missing)" in text and text.endswith("\n") and "\n\n\n" not in text
    assert "Every generator of the zoo contract is present." in R.render(_hand_data([]), "x")


def test_render_leaves_out_the_kinds_the_suite_never_states():
    """On mini-v1 (no places stated) the oracle has no quadrant facts: the quadrant columns and claim 1's quadrant
    context row are left out rather than shown as n/a."""
    data = _hand_data([])
    empty = {"value": None, "ci": None, "n": 0}
    data.runs["oracle"].results["metrics"].update({"position_acc": empty, "position_acc@>77": empty})
    text = R.render(data, "x")
    assert "position_acc" not in text
    assert "| model | `fact_recall` | `fact_recall@<=77` | `fact_recall@>77` | `count_acc` | `binding_acc` |\n" in text
    assert "| longsd - sd | `count_acc@>77` |" in text
    assert "`position_acc`" in R.render(_hand_data([]), "x")  # a suite that states places keeps them


def test_report_command_line():
    assert R.report_command(None, R.DEFAULT_OUT, None, 0) == "longbench train mini-report --seed 0"
    assert R.report_command("z", "r.md", 8, 3) == "longbench train mini-report --zoo z --out r.md --limit 8 --seed 3"


# ------------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_generator_is_deterministic_on_cpu(mini_smoke_repro):
    """The same requests through two freshly built generators give the same images. Tolerance: at most one grey
    level per pixel (same process, threads and batch: bit-identical is expected; one level allows a float
    rounding flip at uint8 quantisation)."""
    from longbench.mini.suite import mini_v0
    from longbench.models.base import Request, build_model

    items = mini_v0().items[:2]
    requests = [Request(it, 1234 + k) for k, it in enumerate(items)]
    first = build_model("mini:longsd", {"zoo": str(mini_smoke_repro)}).generate(requests)
    again = build_model("mini:longsd", {"zoo": str(mini_smoke_repro)}).generate(requests)
    for x, y in zip(first, again):
        diff = np.abs(np.asarray(x, dtype=np.int16) - np.asarray(y, dtype=np.int16))
        assert diff.max() <= 1


@pytest.mark.slow
def test_report_on_the_smoke_zoo(mini_smoke_repro, tmp_path):
    """The command on the smoke zoo with --limit: every section, the world models' exact numbers, the zoo's
    missing generators reported, the run's FID reproduced by the report's features, and the same report again
    (cached images, fresh bootstraps)."""
    from click.testing import CliRunner

    from longalign.commands import train

    out = tmp_path / "docs" / "miniature.md"
    path, data = R.write_report(mini_smoke_repro, out, limit=3, seed=0, runs=tmp_path / "runs")
    text = path.read_text(encoding="utf-8")
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()
    for heading in ("## Verdicts", "## Setup", "## All models", "## Claim 1", "## Claim 2", "## Claim 3"):
        assert heading in text
    present = [n for n in ("sd", "longsd", "naive", "reward-w0", "reward-w03", "reward-w1")
               if (mini_smoke_repro / n / "final").is_dir()]
    assert set(data.runs) == {"oracle", "clip77", "random", *present}
    for name in present:
        assert f"| mini:{name} | " in text and f"| `{name}` | " in text
    for name in {"naive", "reward-w0", "reward-w03", "reward-w1"} - set(present):
        assert f"| mini:{name} | missing from the zoo |" in text
    assert "| mini:oracle | 1.000 [1.000, 1.000] | 1.000 [1.000, 1.000] |" in text
    assert f"`{R.REFERENCE_MODEL}`" in text or R.REFERENCE_MODEL in text
    assert "3 items scored (`--limit 3`)" in text
    for claim in R.CLAIMS:  # the verdict lines are the verdicts of the comparisons in the tables
        assert f"| {claim.title} | **{C.claim_verdict(claim, data.comparisons)[0]}** |" in text
    for name, run in data.runs.items():  # the report's per-image features reproduce the run's FID
        assert data.fid.full[name] == pytest.approx(run.results["metrics"][C.FID]["value"], rel=1e-6, abs=1e-9)
        assert data.estimates[name]["fact_recall"].n == 3
    # the command line: the same report again (cached images, recomputed metrics and bootstraps)
    res = CliRunner().invoke(train, ["mini-report", "--zoo", str(mini_smoke_repro), "--out", str(out), "--limit", "3",
                                     "--runs", str(tmp_path / "runs"), "--no-progress"])
    assert res.exit_code == 0, res.output
    for claim in R.CLAIMS:
        assert f"{claim.title}: {C.claim_verdict(claim, data.comparisons)[0]}" in res.output
    assert out.read_text(encoding="utf-8") == text

    # a partial zoo (the same models, without naive and the reward generators): reported missing, their claims
    # not evaluated, claim 1 from the same (cached) images with the same numbers
    partial = tmp_path / "partial"
    for name in ("clip", "denscore", "base", "sd", "longsd"):
        (partial / name).mkdir(parents=True)
        (partial / name / "final").symlink_to(mini_smoke_repro / name / "final", target_is_directory=True)
    _, part = R.write_report(partial, tmp_path / "partial.md", limit=3, seed=0, runs=tmp_path / "runs")
    text = (tmp_path / "partial.md").read_text(encoding="utf-8")
    assert part.missing == ["naive", "reward-w0", "reward-w03", "reward-w1"]
    assert "**Missing generators**: `mini:naive`, `mini:reward-w0`, `mini:reward-w03`, `mini:reward-w1`" in text
    assert "| mini:reward-w1 | missing from the zoo |" in text
    verdicts = {c.key: C.claim_verdict(c, part.comparisons)[0] for c in R.CLAIMS}
    assert verdicts["reweighting"] == MISSING and verdicts["encoding-ablation"] == MISSING
    key = ("longsd", "sd", "fact_recall@>77")
    assert part.comparisons[key] == data.comparisons[key]


def _umask() -> int:
    from longbench.fileio import current_umask

    return current_umask()
