"""DPG-Bench: the CSV importer, and the vqa metric's DPG columns against a transcription of the reference
scorer (tests/helpers_vqa.reference_dpg) on a hand-made CSV with a scripted judge."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from longbench.errors import LongbenchError
from longbench.metrics.functional import vqa as F
from tests.helpers_vqa import (
    ANSWERS,
    DPG_ROWS,
    TILE,
    grid_image,
    reference_dpg,
    scripted_answer,
    write_dpg_csv,
)

ITEMS = ("a", "b", "c")


@pytest.fixture
def dpg_suite(tmp_path: Path):
    from longbench.suites.importers import import_to_file

    csv_path = write_dpg_csv(tmp_path / "dpg_bench.csv")
    return csv_path, import_to_file("dpg-bench-csv", csv_path, tmp_path / "dpg.jsonl")


class ScriptedJudge:
    """The scripted answers as a Judge object (no soft scores)."""

    kind = "scripted"

    def answer(self, requests):
        from longbench.judges.base import Answer

        return [[Answer(scripted_answer(r.image, q.text)) for q in r.questions] for r in requests]

    def protocol(self):
        return {"kind": self.kind}


def _metric(suite, **kw):
    from longbench.metrics.base import MetricContext
    from longbench.metrics.vqa import VQAMetric

    categories = list(dict.fromkeys(q.category for it in suite.items for q in it.questions))
    return VQAMetric(ScriptedJudge(), categories=categories, dpg=True, dpg_categories=categories, **kw), MetricContext(suite)


def _run(suite, **kw):
    m, _ = _metric(suite, **kw)
    m.update([grid_image(it.id) for it in suite.items], list(suite.items))
    return m


# ---------------------------------------------------------------------------- importer
def test_import_builds_items_with_questions(dpg_suite):
    _, suite = dpg_suite
    assert [it.id for it in suite.items] == ["a", "b", "c"]
    a = suite.items[0]
    assert a.prompt == "A black cat left of a dog, watercolor."
    assert [(q.id, q.depends_on, q.category) for q in a.questions] == [
        ("1", (), "entity - whole"), ("2", (), "entity - whole"), ("3", ("1",), "attribute - color"),
        ("4", ("1", "2"), "relation - spatial"), ("5", (), "global -")]
    assert a.questions[3].text == "Is the cat left of the dog?"
    assert a.meta["dpg_bench"]["first_row_question"] == "1"
    assert "first_row_question" not in suite.items[1].meta["dpg_bench"]
    assert a.meta["dpg_bench"]["tuples"]["4"] == "relation - spatial (cat, dog, left of)"
    assert "dpg-bench" in a.tags


def test_import_cli_and_validate(tmp_path: Path):
    from click.testing import CliRunner

    from cli import main

    csv_path = write_dpg_csv(tmp_path / "dpg_bench.csv")
    out = tmp_path / "s.jsonl"
    r = CliRunner().invoke(main, ["suites", "import", "dpg-bench-csv", str(csv_path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "3 items" in r.output
    r = CliRunner().invoke(main, ["suites", "validate", str(out)])
    assert r.exit_code == 0, r.output
    lines = out.read_text().splitlines()
    assert json.loads(lines[1])["questions"][2] == {"id": "3", "text": "Is the cat black?", "depends_on": ["1"],
                                                   "category": "attribute - color"}


@pytest.mark.parametrize("mutate, message", [
    (lambda rows: rows[:2] + [rows[5]] + rows[2:5] + rows[6:], "rows of item 'a' are not consecutive"),
    (lambda rows: [rows[0][:4] + ("7",) + rows[0][5:]] + rows[1:], "depends on question 7, which the item does not"),
    (lambda rows: [rows[0][:8] + ("  ",)] + rows[1:], "empty question_natural_language"),
    (lambda rows: rows[:1] + [rows[1][:3] + (1,) + rows[1][4:]] + rows[2:], "proposition_id 1 twice"),
    (lambda rows: [rows[0][:4] + ("2",) + rows[0][5:], rows[1][:4] + ("1",) + rows[1][5:]] + rows[2:],
     "dependency cycle"),
    (lambda rows: [rows[0][:3] + ("x",) + rows[0][4:]] + rows[1:], "proposition_id must be an integer"),
    (lambda rows: [rows[0][:4] + ("one",) + rows[0][5:]] + rows[1:], "dependency must be proposition ids"),
])
def test_import_rejects_bad_csv(tmp_path: Path, mutate, message):
    from longbench.suites.importers import import_suite

    csv_path = write_dpg_csv(tmp_path / "bad.csv", mutate(list(DPG_ROWS)))
    with pytest.raises(LongbenchError, match=message) as e:
        import_suite("dpg-bench-csv", csv_path)
    assert str(e.value).startswith(str(csv_path) + ":")
    assert "\n" not in str(e.value)


def test_import_missing_column(tmp_path: Path):
    from longbench.suites.importers import import_suite

    p = tmp_path / "x.csv"
    p.write_text("item_id,text,proposition_id\na,b,1\n")
    with pytest.raises(LongbenchError, match=r"x.csv:1: no column 'dependency'"):
        import_suite("dpg-bench-csv", p)


# ---------------------------------------------------------------------------- formula
def test_dpg_zeroed_is_sequential_like_the_reference():
    # Parent "2" is zeroed by "1" before "3" is visited: the zero propagates to the grand-child.
    assert F.dpg_zeroed({"1": 0.0, "2": 1.0, "3": 1.0}, {"1": [], "2": ["1"], "3": ["2"]}) == \
        {"1": 0.0, "2": 0.0, "3": 0.0}
    # A child listed before its parent sees the parent's score before zeroing (the reference's walk).
    assert F.dpg_zeroed({"3": 1.0, "1": 0.0, "2": 1.0}, {"3": ["2"], "1": [], "2": ["1"]}) == \
        {"3": 1.0, "1": 0.0, "2": 0.0}
    with pytest.raises(F.DPGMissingParent):
        F.dpg_zeroed({"2": 1.0}, {"2": ["1"]})


def test_dsg_hard_and_soft_by_hand():
    parents = [[], [0], [1], [0]]
    assert F.dsg_hard([0.0, 1.0, 1.0, 1.0], parents) == [0.0, 0.0, 0.0, 0.0]
    assert F.dsg_hard([1.0, 0.0, 1.0, 1.0], parents) == [1.0, 0.0, 0.0, 1.0]
    soft = F.dsg_soft([0.5, 0.8, 0.9, 0.4], parents)
    assert soft == pytest.approx([0.5, 0.4, 0.5 * 0.8 * 0.9, 0.2])
    with pytest.raises(LongbenchError, match="cycle"):
        F.ancestor_sets([[1], [0]])


@pytest.mark.parametrize("compat", [False, True])
@pytest.mark.parametrize("pic_num", [1, 2, 4])
def test_dpg_columns_equal_the_reference_transcription(dpg_suite, compat, pic_num):
    csv_path, suite = dpg_suite
    ref = reference_dpg(csv_path, {i: grid_image(i) for i in ITEMS}, scripted_answer, pic_num, TILE,
                        skip_first_row=compat)
    m = _run(suite, dpg_compat=compat, pic_num=pic_num, resolution=TILE, match="exact")
    per = dict(zip(ITEMS, m.per_sample()["dpg"]))
    assert {k: v for k, v in per.items() if not math.isnan(v)} == pytest.approx(ref["per_image"], abs=1e-12)
    values = m.compute()
    assert values["dpg"] == pytest.approx(ref["score"], abs=1e-12)
    from longbench.metrics.functional.vqa import category_slug

    for l1, v in ref["l1"].items():
        assert values[f"dpg-l1:{category_slug(l1)}"] == pytest.approx(v, abs=1e-12)
    for l2, v in ref["l2"].items():
        assert values[f"dpg-l2:{category_slug(l2)}"] == pytest.approx(v, abs=1e-12)
    report = m.report()
    if compat:
        # Skipping the first row (a/1) makes a/3 and a/4 depend on a missing question: the reference drops
        # image a silently; longbench reports it.
        assert ref["failed"] == ["a"]
        assert math.isnan(per["a"])
        assert [d["item_id"] for d in report["dpg_dropped"]] == ["a"]
        assert "first data row" in report["dpg_dropped"][0]["reason"]
    else:
        assert ref["failed"] == []
        assert "dpg_dropped" not in report


def test_dpg_by_hand_one_tile(dpg_suite):
    """Tile 0 answers, zeroing by hand: a = [1,1,1,1,0] → 4/5; b: tail "no" zeroes the long-tail question
    → [1,0,0,1] → 2/4; c: plate "no" zeroes the on-the-plate question → [1,0,1,0] → 2/4."""
    _, suite = dpg_suite
    m = _run(suite, pic_num=1, resolution=TILE, match="exact")
    assert m.per_sample()["dpg"] == pytest.approx([80.0, 50.0, 50.0])
    assert m.compute()["dpg"] == pytest.approx(60.0)
    # Category entity - whole pools the raw tile-0 answers of a/1, a/2, b/1, c/1, c/2: 4 yes of 5.
    assert m.compute()["dpg-l2:entity-whole"] == pytest.approx(80.0)


def test_exact_versus_normalized_match(dpg_suite):
    _, suite = dpg_suite
    exact = _run(suite, pic_num=2, resolution=TILE, match="exact")
    normalized = _run(suite, pic_num=2, resolution=TILE, match="normalized")
    # Tile 1 answers "Yes" to the watercolor question: only the normalized match counts it.
    assert ANSWERS["Is the image a watercolor?"][1] == "Yes"
    assert normalized.per_sample()["dpg"][0] - exact.per_sample()["dpg"][0] == pytest.approx(100 * (1 / 5) / 2)
    # "maybe" (tile 3) is neither yes nor no: counted as no and reported.
    four = _run(suite, pic_num=4, resolution=TILE)
    assert four.report()["answers"]["other"] == 1
    assert four.report()["neither_examples"] == [{"item_id": "a", "question": "5", "answer": "maybe"}]


def test_dpg_pooled_columns_by_bucket(dpg_suite):
    _, suite = dpg_suite
    m = _run(suite, pic_num=1, resolution=TILE, match="exact")
    groups = m.compute_groups(["x", "y", "x"])
    # Bucket "y" is image b alone: entity - part is its question 2, answered "no" on tile 0.
    assert groups["y"]["dpg-l2:entity-part"] == 0.0
    assert groups["x"]["dpg-l2:relation-spatial"] == pytest.approx(100.0)


def test_compat_needs_dpg_columns():
    from longbench.metrics.vqa import VQAMetric

    with pytest.raises(LongbenchError, match="dpg_compat"):
        VQAMetric(ScriptedJudge(), dpg=False, dpg_compat=True)


def test_eval_end_to_end_with_python_judge(tmp_path: Path, fake_modules: Path, monkeypatch: pytest.MonkeyPatch):
    """`longbench eval --metric vqa` on an imported DPG suite with a python: judge: DPG columns, pooled
    category columns without CI, answers in samples.jsonl, the compat report in results.json."""
    from click.testing import CliRunner

    from cli import main
    from longbench.suites.importers import import_to_file

    csv_path = write_dpg_csv(tmp_path / "dpg_bench.csv")
    suite_path = tmp_path / "dpg.jsonl"
    import_to_file("dpg-bench-csv", csv_path, suite_path)
    (fake_modules / "lb_vqa_judge.py").write_text(
        "from tests.helpers_vqa import scripted_judge as judge\n"
        "from tests.helpers_vqa import grid_image\n"
        "def gen(prompts, seeds, **kw):\n"
        "    ids = {'A black': 'a', 'A red k': 'b', 'Two app': 'c'}\n"
        "    return [grid_image(ids[p[:7]]) for p in prompts]\n")
    sys.modules.pop("lb_vqa_judge", None)
    out = tmp_path / "runs"
    r = CliRunner().invoke(main, [
        "eval", "--model", "python:lb_vqa_judge:gen", "--suite", str(suite_path), "--metric", "vqa",
        "--metric-arg", "vqa.judge=python:lb_vqa_judge:judge", "--metric-arg", "vqa.pic_num=4",
        "--metric-arg", f"vqa.resolution={TILE}", "--metric-arg", "vqa.dpg_compat=true",
        "--metric-arg", "vqa.match=exact", "--output", str(out), "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)[0]
    ref = reference_dpg(csv_path, {i: grid_image(i) for i in ITEMS}, scripted_answer, 4, TILE)
    assert res["metrics"]["dpg"]["value"] == pytest.approx(ref["score"])
    assert res["metrics"]["dpg"]["n"] == 2  # image a dropped (NaN), as the reference drops it
    assert res["metrics"]["dpg-l1:entity"]["ci"] is None
    assert res["reports"]["vqa"]["dpg_dropped"][0]["item_id"] == "a"
    assert res["protocols"]["vqa"]["dpg"]["compat"] is True
    assert res["protocols"]["vqa"]["judge"] == {"kind": "python", "callable": "lb_vqa_judge:judge"}
    assert "vqa-soft" in res["metrics"] and res["metrics"]["vqa-soft"]["value"] is None  # no probabilities
    samples = next(out.rglob("samples.jsonl"))
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    qs = rows[1]["details"]["vqa"]["questions"]
    assert [q["answer"] for q in qs[0:1]] == [ANSWERS["Is there a kite?"]]
    assert qs[1]["depends_on"] == ["1"]
