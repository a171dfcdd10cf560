"""The vqa metric with the exact synth judge: oracle 1.0, monotone in corruption, a hand computation with
dependencies, and the CLI end to end on synth-v0."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from longbench.errors import LongbenchError
from longbench.suites.base import Fact, Item, Question

SENTENCES = ("Two small red circles sit in the top left corner.", "One large blue square is in the center.",
             "Three small green triangles are in the bottom right corner.")
GROUPS = [("circle", "red", "small", "top-left", 2), ("square", "blue", "large", "center", 1),
          ("triangle", "green", "small", "bottom-right", 3)]


def hand_item(questions: tuple[Question, ...] = ()) -> Item:
    from longbench.synth.world import Group, Scene

    scene = Scene("white", tuple(Group(*g) for g in GROUPS))
    facts = []
    for k, g in enumerate(scene.groups):
        facts += [Fact("presence", k, g.name), Fact("count", k, g.name, g.count), Fact("attribute", k, g.name, g.size),
                  Fact("spatial", k, g.name, g.region)]
    return Item(id="hand", prompt=" ".join(SENTENCES), segments=SENTENCES, facts=tuple(facts),
                meta={"scene": scene.to_dict()}, questions=questions)


def corrupted_image():
    """The hand item's scene without the blue square and with large green triangles."""
    from longbench.synth.render import Renderer
    from longbench.synth.world import Group, Scene

    groups = [Group(*GROUPS[0]), Group("triangle", "green", "large", "bottom-right", 3)]
    return Renderer(256).render(Scene("white", tuple(groups)), 0)


def _metric(**kw):
    from longbench.metrics.vqa import VQAMetric

    return VQAMetric("synth", **kw)


def test_generated_questions_of_the_hand_item():
    from longbench.judges.questions import questions_from_facts

    qs = questions_from_facts(hand_item())
    assert [(q.id, q.text, q.depends_on) for q in qs] == [
        ("1", "Are there red circles?", ()),
        ("2", "Is there a blue square?", ()),
        ("3", "Are there green triangles?", ()),
        ("4", "Are there exactly two red circles?", ("1",)),
        ("5", "Are the red circles small?", ("1",)),
        ("6", "Are the red circles in the top left of the image?", ("1",)),
        ("7", "Is there exactly one blue square?", ("2",)),
        ("8", "Is the blue square large?", ("2",)),
        ("9", "Is the blue square in the center of the image?", ("2",)),
        ("10", "Are there exactly three green triangles?", ("3",)),
        ("11", "Are the green triangles small?", ("3",)),
        ("12", "Are the green triangles in the bottom right of the image?", ("3",)),
    ]


def test_hard_score_equals_hand_computation():
    """Answers read from the corrupted image: red circles all hold (q1, q4-q6); the blue square is gone
    (q2, q7-q9 no); the green triangles are there, three, bottom right, but large (q11 no). Hard = 7/12."""
    m = _metric()
    m.update([corrupted_image()], [hand_item()])
    out = m.compute()
    assert out["vqa-hard"] == pytest.approx(7 / 12)
    assert out["vqa-soft"] == pytest.approx(7 / 12)  # the exact judge is certain: p is 1 or 0
    assert out["vqa-hard:presence"] == pytest.approx(2 / 3)
    assert out["vqa-hard:attribute"] == pytest.approx(1 / 3)
    assert math.isnan(out["vqa-hard@>77"])  # a short prompt: every fact within 77 tokens
    assert m.per_segment() == [[1.0, 0.0, 0.75]]
    answers = [q["answer"] for q in m.per_sample_details()[0]["questions"]]
    assert answers == ["yes", "no", "yes", "yes", "yes", "yes", "no", "no", "no", "yes", "no", "yes"]


def test_dependencies_zero_a_child_that_holds():
    """Suite questions on facts: "three green triangles" (fact 9) holds but depends on "a blue square"
    (fact 4, absent) → 0; "two red circles" (fact 1) depends on "red circles" (fact 0) → 1; "green
    triangles small" (fact 10, fails) depends on "three green triangles" → 0. Hard = (1 + 0 + 1 + 0 + 0)/5."""
    qs = (Question("p-red", "Are there red circles?", fact=0),
          Question("p-blue", "Is there a blue square?", fact=4),
          Question("n-red", "Two red circles?", depends_on=("p-red",), fact=1, category="count"),
          Question("n-green", "Three green triangles?", depends_on=("p-blue",), fact=9, category="count"),
          Question("s-green", "Small green triangles?", depends_on=("n-green",), fact=10, category="attribute"))
    m = _metric(questions="suite", categories=["presence", "count", "attribute"])
    m.update([corrupted_image()], [hand_item(qs)])
    details = m.per_sample_details()[0]["questions"]
    assert [d["yes"] for d in details] == [True, False, True, True, False]
    assert [d["hard"] for d in details] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert m.compute()["vqa-hard"] == pytest.approx(2 / 5)
    assert m.compute()["vqa-hard:count"] == pytest.approx(1 / 2)


def test_synth_judge_needs_facts():
    m = _metric(questions="suite")
    item = hand_item((Question("1", "Is it nice?"),))
    with pytest.raises(LongbenchError, match="carries no fact"):
        m.update([corrupted_image()], [item])


@pytest.fixture(scope="module")
def synth_suite():
    from longbench.suites.loaders import load_suite

    return load_suite("synth-v0").head(8)


def _scores(suite, spec: str, metric=None):
    from longbench.metrics.base import MetricContext, build_metric
    from longbench.models.base import Request, build_model

    m = metric or build_metric("vqa", MetricContext(suite), suite.metric_args.get("vqa"))  # as the runner does
    model = build_model(spec, {})
    reqs = [Request(it, 1000 + k) for k, it in enumerate(suite.items)]
    m.update(model.generate(reqs), list(suite.items))
    return m


def test_the_judge_comes_from_the_suite_declaration_not_from_the_items(synth_suite, monkeypatch):
    """synth-v0 declares ``vqa.judge=synth``; the same items in a suite that declares nothing get the default
    judge (nothing is inferred from an item's ``meta``)."""
    from longbench.judges import base
    from longbench.metrics.base import MetricContext, build_metric
    from longbench.metrics.vqa import DEFAULT_JUDGE
    from longbench.suites.base import Suite

    assert synth_suite.metric_args["vqa"] == {"judge": "synth"}
    asked = []
    real = base.build_judge
    monkeypatch.setattr(base, "build_judge", lambda spec, opts: asked.append(spec) or real("synth", opts))
    build_metric("vqa", MetricContext(Suite("bare", "1", list(synth_suite.items))))
    build_metric("vqa", MetricContext(synth_suite), synth_suite.metric_args["vqa"])
    assert asked == [DEFAULT_JUDGE, "synth"]


def test_oracle_scores_one(synth_suite):
    m = _scores(synth_suite, "synth:oracle")
    out = m.compute()
    for col in ("vqa-hard", "vqa-soft", "vqa-hard:presence", "vqa-hard:count", "vqa-hard:attribute",
                "vqa-hard:spatial"):
        assert out[col] == 1.0, col
    assert out["vqa-neither"] == 0.0
    assert m.report()["answers"]["no"] == 0
    assert m.protocol()["judge"]["kind"] == "synth"


def test_corruption_is_monotone(synth_suite):
    per_k = {}
    for k in (0, 1, 2, 4, 8):
        per_k[k] = _scores(synth_suite, f"synth:corrupt-{k}").per_sample()["vqa-hard"]
    for a, b in ((0, 1), (1, 2), (2, 4), (4, 8)):
        assert all(y <= x for x, y in zip(per_k[a], per_k[b])), (a, b)  # per image, never better
    means = [sum(v) / len(v) for v in per_k.values()]
    assert means[0] == 1.0
    assert means == sorted(means, reverse=True) and len(set(means)) == len(means)  # strictly decreasing


def test_clip77_fails_beyond_77(synth_suite):
    out = _scores(synth_suite, "synth:clip77").compute()
    assert out["vqa-hard@<=77"] == 1.0
    assert out["vqa-hard@>77"] < 0.5


def test_cli_end_to_end(tmp_path: Path):
    from click.testing import CliRunner

    from cli import main

    r = CliRunner().invoke(main, ["eval", "--suite", "synth-v0", "--model", "synth:oracle", "--model", "synth:corrupt-4", "--metric", "vqa",
                                  "--limit", "4", "--output", str(tmp_path), "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    oracle, corrupt = json.loads(r.output)
    assert oracle["metrics"]["vqa-hard"]["value"] == 1.0
    assert corrupt["metrics"]["vqa-hard"]["value"] < 1.0
    assert corrupt["metrics"]["vqa-hard"]["ci"] is not None and corrupt["metrics"]["vqa-hard"]["by_bucket"]
    assert oracle["reports"]["vqa"]["answers"]["other"] == 0
    samples = [json.loads(x) for x in next(tmp_path.rglob("samples.jsonl")).read_text().splitlines()]
    assert len(samples) == 4
    q = samples[0]["details"]["vqa"]["questions"][0]
    assert set(q) >= {"id", "question", "answer", "p_yes", "hard", "soft"}
    assert samples[0]["segments"]["vqa"]


def test_cli_bad_judge_is_one_line(tmp_path: Path):
    from click.testing import CliRunner

    from cli import main

    for arg, msg in (("vqa.judge=nonsense", "unknown judge 'nonsense'"),
                     ("vqa.judge=" + str(tmp_path / "missing-dir"), "missing-dir' does not exist"),
                     ("vqa.judge=someorg/not-cached-vqa-model", "not found offline"),
                     ("vqa.questions=all", "questions must be one of"),
                     ("vqa.pic_num=5", "pic_num must be 1..4")):
        r = CliRunner().invoke(main, ["eval", "--suite", "synth-v0", "--model", "synth:oracle", "--metric", "vqa", "--limit", "1",
                                      "--metric-arg", arg, "--output", str(tmp_path), "--no-progress"])
        assert r.exit_code == 2, (arg, r.output)
        assert msg in r.output, (arg, r.output)
        assert r.output.count("\n") == 1 and "Traceback" not in r.output, r.output
