"""The runner's seams: metrics built once per run and reset between models, prompt lengths computed once and
handed to the metrics, suites declaring their default metrics, the results schema as one definition, and the
evaluation API returning what the CLI prints and gates on."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from longbench.errors import LongbenchError
from longbench.runner import EvalConfig, run_eval
from tests.conftest import TINY_ITEMS, write_suite
from tests.helpers_clip import save_tiny_clip
from tests.helpers_count import save_tiny_owlv2
from tests.helpers_fid import make_tiny_open_clip

ROOT = Path(__file__).resolve().parents[1]
#: three different python: models (the fake generator with three brightness offsets)
GEN = '''
import numpy as np

def gen(prompts, seeds, offset="0"):
    out = []
    for p, s in zip(prompts, seeds):
        rng = np.random.default_rng(s)
        out.append(rng.integers(0, 128, (24, 24, 3), dtype=np.uint8) + np.uint8(int(offset)))
    return out

def dark(prompts, seeds):
    return gen(prompts, seeds, "0")

def mid(prompts, seeds):
    return gen(prompts, seeds, "60")

def bright(prompts, seeds):
    return gen(prompts, seeds, "120")
'''
MODELS = ["python:lb_seam_gen:dark", "python:lb_seam_gen:mid", "python:lb_seam_gen:bright"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("seams")
    return {"clip": save_tiny_clip(root / "clip", seed=5), "owl": save_tiny_owlv2(root / "owl", seed=5),
            "open_clip": make_tiny_open_clip(root / "open_clip", seed=5)}


@pytest.fixture
def gen_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "mods"
    d.mkdir()
    (d / "lb_seam_gen.py").write_text(GEN)
    monkeypatch.syspath_prepend(str(d))


def _config(weights: dict[str, Path], suite: Path, out: Path, models: list[str]) -> EvalConfig:
    clip, ref = str(weights["clip"]), out.parent / "ref.npz"
    if not ref.exists():  # FID-CLIP reference statistics of 16-d features
        a = np.random.default_rng(0).normal(size=(16, 40))
        np.savez(ref, mu=np.zeros(16), sigma=a @ a.T / 40)
    return EvalConfig(
        models=models, suite=str(suite), output=str(out), batch_size=2, n_bootstrap=50,
        metrics=["clipscore", "denscore", "segment-align", "count", "fid-clip"],
        metric_args={"clipscore": {"model": clip}, "denscore": {"model": clip}, "segment-align": {"model": clip},
                     "count": {"model": str(weights["owl"])},
                     "fid-clip": {"model": str(weights["open_clip"]), "ref": str(ref)}})


def test_three_models_load_each_metric_once_and_score_as_alone(weights, gen_module, tmp_path, monkeypatch):
    """3 models, 5 metrics: each metric's weights are loaded once (counted at the loaders) and Denscore's V
    computed once; every model scores exactly as in a run of its own (the metrics are reset between models)."""
    import longbench.weights as weights_mod
    from longbench.metrics import clip_models, denscore

    loads: Counter[str] = Counter()
    real_hf, real_oc, real_v = weights_mod.from_pretrained_strict, clip_models.open_clip_strict, denscore.suite_direction

    def hf(cls, path, *, what, **kw):
        loads[what] += 1
        return real_hf(cls, path, what=what, **kw)

    def oc(name, checkpoint, *, what, **kw):
        loads[what] += 1
        return real_oc(name, checkpoint, what=what, **kw)

    def direction(*a, **kw):
        loads["denscore V"] += 1
        return real_v(*a, **kw)

    monkeypatch.setattr(weights_mod, "from_pretrained_strict", hf)
    monkeypatch.setattr(clip_models, "open_clip_strict", oc)
    monkeypatch.setattr(denscore, "suite_direction", direction)
    suite = write_suite(tmp_path / "tiny.jsonl", TINY_ITEMS)
    outputs = run_eval(_config(weights, suite, tmp_path / "runs", MODELS))
    assert len(outputs) == 3
    # one load per metric for the whole run (and one Denscore V), not one per model
    assert dict(loads) == {"clipscore model": 1, "denscore model": 1, "denscore V": 1, "segment-align model": 1,
                           "owlv2 detector": 1, "fid-clip model": 1}
    loads.clear()
    (alone,) = run_eval(_config(weights, suite, tmp_path / "alone", MODELS[2:]))
    last = outputs[2].results
    for col, entry in alone.results["metrics"].items():
        # same images, same batches, same process: identical computations, up to float64 summation order
        assert last["metrics"][col]["value"] == pytest.approx(entry["value"], rel=1e-9, abs=1e-12), col
        assert last["metrics"][col]["n"] == entry["n"]
        assert set(last["metrics"][col]["by_bucket"]) == set(entry["by_bucket"])
    # reset between models: the detector's image count is one model's, not three models' worth
    assert last["protocols"]["count"]["images_by_detector"] == alone.results["protocols"]["count"]["images_by_detector"]
    first_samples = [json.loads(line) for line in (outputs[0].run_dir / "samples.jsonl").read_text().splitlines()]
    assert [len(s["segments"]["denscore"]) for s in first_samples] == [2, 1, 4, 1, 2]  # one score per sentence


def test_runner_hands_its_prompt_lengths_to_the_metrics(monkeypatch, tmp_path):
    """FID's length buckets are the runner's (by item id): nothing is tokenized again inside the metric, and
    ``compute_groups`` gets the same buckets."""
    from longbench.metrics.fid import FrechetMetric
    from longbench.suites.base import Item
    from longbench.text.tokenizer import PromptLengths

    class Extractor(torch.nn.Module):
        feature_dim = 2

        def forward(self, images):
            return torch.stack([t.double().mean(dim=(1, 2))[:2] for t in images])

        def describe(self):
            return {"features": "mean of two channels"}

    class Frechet(FrechetMetric):
        name = "frechet-test"
        columns: ClassVar[dict[str, bool]] = {"frechet-test": False}

    items = [Item(id=f"i{k}", prompt="a cat") for k in range(6)]
    # buckets the tokenizer would never give these prompts: proof that the metric used the runner's
    lengths = PromptLengths({it.id: 100 for it in items}, {it.id: ("78-154" if k < 3 else ">240")
                                                           for k, it in enumerate(items)})
    metric = Frechet(Extractor(), lengths=lengths, batch_size=2)
    metric.set_reference(torch.zeros(2), torch.eye(2, dtype=torch.float64))

    def no_tokenizing(*a, **k):
        raise AssertionError("the metric tokenized prompts itself")

    monkeypatch.setattr("longbench.text.tokenizer.TokenCounter", no_tokenizing)
    rng = np.random.default_rng(1)
    metric.update([rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in items], items)
    labels = [lengths.bucket(it.id) for it in items]
    groups = metric.compute_groups(labels)
    assert set(groups) == {"78-154", ">240"}
    assert metric.feature_count.tolist() == [0, 3, 0, 3]
    with pytest.raises(LongbenchError, match="not among the prompts of this run"):
        metric.update([np.zeros((8, 8, 3), dtype=np.uint8)], [Item(id="other", prompt="a dog")])


def test_suites_declare_their_default_metrics(tmp_path, monkeypatch):
    from longbench.mini import zoo
    from longbench.runner import Runner
    from longbench.suites.loaders import load_jsonl_suite, load_suite
    from longbench.suites.schema import validate_file

    runner = Runner(EvalConfig(output=str(tmp_path)))
    assert runner.metric_names(load_suite("synth-v0")) == ["synth"]
    # the miniature splits: the exact metric, and on the split of the shipped zoo's layout the learned ones too
    monkeypatch.setattr(zoo, "SHIPPED", False)
    assert runner.metric_names(load_suite("mini-v0")) == runner.metric_names(load_suite("mini-v1")) == ["mini"]
    monkeypatch.setattr(zoo, "SHIPPED", True)
    zoo_split, other = ("mini-v0", "mini-v1") if zoo.layout() == "free" else ("mini-v1", "mini-v0")
    assert runner.metric_names(load_suite(zoo_split)) == ["mini", "denscore", "segment-align", "clipscore", "fid-clip"]
    assert runner.metric_names(load_suite(other)) == ["mini"]
    assert runner.metric_names(load_suite("longbench-v1")) == ["clipscore", "denscore", "segment-align", "count"]
    # a suite file declares them (and option defaults) in its header; --metric-arg overrides a default
    path = tmp_path / "s.jsonl"
    header = {"name": "s", "version": "1", "default_metrics": ["count"], "metric_args": {"count": {"detector": "synth"}}}
    path.write_text(json.dumps({"suite": header}) + "\n" + json.dumps(TINY_ITEMS[0]) + "\n")
    suite = load_jsonl_suite(path)
    assert suite.default_metrics == ("count",) and validate_file(path) == []
    assert runner.metric_names(suite) == ["count"] and runner.metric_options(suite, "count") == {"detector": "synth"}
    over = Runner(EvalConfig(output=str(tmp_path), metric_args={"count": {"detector": "owlv2"}}))
    assert over.metric_options(suite, "count") == {"detector": "owlv2"}
    # items of the synthetic world without the declaration: the general defaults, not a guess from meta
    synth_item = load_suite("synth-v0").items[0].to_dict()
    path.write_text(json.dumps({"suite": {"name": "s", "version": "1"}}) + "\n" + json.dumps(synth_item) + "\n")
    assert runner.metric_names(load_jsonl_suite(path))[0] == "clipscore"
    path.write_text(json.dumps({"suite": {"name": "s", "default_metrics": "synth"}}) + "\n" + json.dumps(synth_item) + "\n")
    with pytest.raises(LongbenchError, match=r"s.jsonl:1: suite header default_metrics must be a list"):
        load_jsonl_suite(path)
    # the declaration survives writing a suite file
    from longbench.suites.importers import suite_jsonl

    path.write_text(suite_jsonl(load_suite("synth-v0").head(2)))
    again = load_jsonl_suite(path)
    assert again.default_metrics == ("synth",) and again.metric_args["count"] == {"detector": "synth"}


def test_metrics_built_by_the_runner_never_sync(tmp_path):
    """The runner's main process holds every sample: its metrics are built with sync_on_compute=False (the
    public torchmetrics switch); a from_context that drops the context's kwargs is caught."""
    from longbench.metrics.base import LongbenchMetric, MetricContext, build_metric
    from longbench.registry import METRICS
    from longbench.suites.loaders import load_suite

    ctx = MetricContext(suite=load_suite("synth-v0"), metric_kwargs={"sync_on_compute": False})
    assert build_metric("synth", ctx).sync_on_compute is False
    assert build_metric("count", ctx, {"detector": "synth"}).sync_on_compute is False

    class Careless(LongbenchMetric):
        name = "careless"

        @classmethod
        def from_context(cls, ctx, options):
            return cls()  # drops ctx.metric_kwargs

        def update(self, images, items):
            pass

        def compute(self):
            return {}

    METRICS.register("careless", Careless)
    try:
        with pytest.raises(RuntimeError, match="did not pass ctx.metric_kwargs"):
            build_metric("careless", ctx)
    finally:
        METRICS._entries.pop("careless", None)


def test_per_segment_scores_are_declared():
    from longbench.metrics.base import PerSampleMetric, Scores

    class Segmented(PerSampleMetric):
        name = "segmented"
        columns: ClassVar[dict[str, bool]] = {"x": True}
        has_segments = True

        def score(self, images, items):
            return Scores({"x": [1.0] * len(images)}, [[0.5] * (i + 1) for i in range(len(images))])

    m = Segmented()
    m.update([None, None], ["a", "b"])
    m.update([None], ["c"])
    assert m.per_segment() == [[0.5], [0.5, 0.5], [0.5]]

    class Undeclared(Segmented):
        has_segments = False

    with pytest.raises(RuntimeError, match="declare has_segments"):
        Undeclared().update([None], ["a"])

    class Missing(Segmented):
        def score(self, images, items):
            return {"x": [1.0] * len(images)}

    with pytest.raises(RuntimeError, match="one list of segment scores per image"):
        Missing().update([None], ["a"])


def test_results_schema_is_one_definition(fake_modules, tiny_suite, tmp_path):
    """The runner's files pass the schema, every file a bad field fails it with the field named, and
    docs/results.md is the schema's own rendering."""
    from longbench.results import (
        load_results,
        load_samples,
        schema_text,
        validate_results,
        validate_sample,
    )

    (out,) = run_eval(EvalConfig(models=["python:lb_fake_gen:gen"], suite=str(tiny_suite), metrics=["brightness"],
                                 output=str(tmp_path / "runs"), n_bootstrap=20))
    r = load_results(out.run_dir)
    for s in load_samples(out.run_dir):
        validate_sample(s)
    assert set(r) >= {"bootstrap", "config", "environment", "timings"} and "reports" not in r
    for edit, message in [
        (lambda x: x["suite"].update(sha256="abc"), "suite.sha256 is not a sha256 hex digest"),
        (lambda x: x["model"].pop("spec"), "missing model.spec"),
        (lambda x: x["metrics"]["brightness"]["by_bucket"].update(huge={"value": 1}), "unknown key 'huge'"),
        (lambda x: x["timings"].update(images_cached="3"), "timings.images_cached must be an integer, got string"),
        (lambda x: x["bootstrap"].update(seed=1.5), "bootstrap.seed must be an integer, got number"),
    ]:
        bad = json.loads(json.dumps(r))
        edit(bad)
        with pytest.raises(LongbenchError, match=message):
            validate_results(bad)
    with pytest.raises(LongbenchError, match="scores.brightness must be a number or null, got string"):
        validate_sample({"item_id": "a", "seed": 1, "scores": {"brightness": "high"}})
    doc = (ROOT / "docs" / "results.md").read_text()
    assert schema_text() in doc, "docs/results.md is out of date: paste longbench.results.schema_text() into it"


def test_evaluate_returns_what_the_cli_prints_and_gates_on(fake_modules, tiny_suite, tmp_path):
    from longbench.evaluate import evaluate
    from longbench.gates import Gates

    config = EvalConfig(models=["python:lb_fake_gen:gen"], suite=str(tiny_suite), metrics=["brightness"],
                        output=str(tmp_path / "runs"), n_bootstrap=20)
    ev = evaluate(config, Gates(fail_under={"brightness": 0.99, "darkness": 0.99}), leaderboard=str(tmp_path / "lb"))
    (run,) = ev.runs
    value = run.results["metrics"]["brightness"]["value"]
    assert ev.threshold_failures == [f"python:lb_fake_gen:gen: brightness = {value} < 0.99"] and not ev.ok
    assert ev.leaderboard == [(ev.leaderboard[0][0], True)] and (ev.leaderboard[0][0] / "results.json").is_file()
    baseline = run.run_dir / "results.json"
    again = evaluate(config, Gates(compare_to=str(baseline), max_regression={"brightness": 0.0}))
    assert again.ok and again.regressions[0].gate.ok and again.regressions[0].summary.is_file()
    with pytest.raises(LongbenchError, match="--fail-under nope: no such metric column"):
        evaluate(config, Gates(fail_under={"nope": 1.0}))
    with pytest.raises(LongbenchError, match="--max-regression needs --compare-to"):
        evaluate(config, Gates(max_regression={"brightness": 1.0}))
    with pytest.raises(LongbenchError, match="the threshold must be a finite number"):
        evaluate(config, Gates(fail_under={"brightness": float("nan")}))
