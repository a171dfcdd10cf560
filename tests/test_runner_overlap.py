"""The runner's overlap of image making and scoring (``EvalConfig.prefetch``, ``generation.ImageBatches``):
each batch converted once and handed as one ImageBatch to every metric, in order; the same numbers with and
without prefetching, from the model and from the cache; a failing model gives the same one-line error; the
model is called from one thread, one call at a time; ``timings.wait_s`` is recorded."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from longbench.errors import LongbenchError
from longbench.images import ImageBatch
from longbench.runner import EvalConfig, Runner, run_eval
from tests.conftest import TINY_ITEMS, write_suite
from tests.helpers_clip import save_tiny_clip
from tests.helpers_count import save_tiny_owlv2

#: a python: model that records which thread calls it and whether two calls ever overlap; ``fail_on``
#: makes its N-th call raise (0: never)
GEN = '''
import threading
import time

import numpy as np

calls = []            # (thread id, prompts) per call
overlapping = [0]     # calls that started while another was running
_active = [0]
fail_on = [0]


def gen(prompts, seeds):
    if _active[0]:
        overlapping[0] += 1
    _active[0] += 1
    try:
        calls.append((threading.get_ident(), list(prompts)))
        if len(calls) == fail_on[0]:
            raise RuntimeError("boom on call %d" % len(calls))
        time.sleep(0.01)  # room for a second call to overlap, were the runner to allow it
        out = []
        for s in seeds:
            rng = np.random.default_rng(s)
            out.append(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
        return out
    finally:
        _active[0] -= 1
'''
SPEC = "python:lb_overlap_gen:gen"


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("overlap")
    return {"clip": save_tiny_clip(root / "clip", seed=3), "owl": save_tiny_owlv2(root / "owl", seed=3)}


@pytest.fixture
def gen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    d = tmp_path / "mods"
    d.mkdir()
    (d / "lb_overlap_gen.py").write_text(GEN)
    monkeypatch.syspath_prepend(str(d))
    monkeypatch.delitem(sys.modules, "lb_overlap_gen", raising=False)
    import lb_overlap_gen

    yield lb_overlap_gen
    sys.modules.pop("lb_overlap_gen", None)


def _config(weights: dict[str, Path], suite: Path, out: Path, prefetch: int) -> EvalConfig:
    clip = str(weights["clip"])
    return EvalConfig(models=[SPEC], suite=str(suite), output=str(out), batch_size=2, n_bootstrap=20,
                      prefetch=prefetch, metrics=["clipscore", "denscore", "segment-align", "count"],
                      metric_args={"clipscore": {"model": clip}, "denscore": {"model": clip},
                                   "segment-align": {"model": clip}, "count": {"model": str(weights["owl"])}})


def _spy_updates(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, list[str]]]:
    """Record (metric, id of the images object, item ids) for every metric update the runner makes."""
    seen: list[tuple[str, int, list[str]]] = []
    real = Runner.build_metrics

    def build(self, names, suite, lengths):
        metrics = real(self, names, suite, lengths)
        for name, m in metrics.items():
            def update(images, items, _name=name, _real=m.update):
                assert isinstance(images, ImageBatch) and images.device.type == "cpu"
                seen.append((_name, id(images), [it.id for it in items]))
                return _real(images, items)
            object.__setattr__(m, "update", update)
        return metrics

    monkeypatch.setattr(Runner, "build_metrics", build)
    return seen


def _samples(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_prefetch_changes_no_number_and_every_metric_gets_the_same_batch(weights, gen, tmp_path, monkeypatch):
    seen = _spy_updates(monkeypatch)
    suite = write_suite(tmp_path / "tiny.jsonl", TINY_ITEMS)
    runs = {}
    for prefetch in (0, 1, 2):
        seen.clear()
        (runs[prefetch],) = run_eval(_config(weights, suite, tmp_path / f"runs{prefetch}", prefetch))
        assert runs[prefetch].images_generated == 5
        # batches of 2 in suite order; within a batch all four metrics get the one same ImageBatch object
        order = [ids for _, _, ids in seen[::4]]
        assert order == [["a", "b"], ["c", "d"], ["e"]]
        for k in range(0, len(seen), 4):
            assert [n for n, _, _ in seen[k:k + 4]] == ["clipscore", "denscore", "segment-align", "count"]
            assert len({i for _, i, _ in seen[k:k + 4]}) == 1
    # read back from the cache (PNGs decoded on the worker thread): the same numbers again
    (cached,) = run_eval(_config(weights, suite, tmp_path / "runs1", 1))
    assert cached.images_cached == 5 and cached.images_generated == 0
    base = runs[0].results
    for other in (runs[1], runs[2], cached):
        # same images, same batches, same thread count: the same float32 computations; the tolerance only
        # absorbs float64 summation order in the aggregates
        for col, entry in base["metrics"].items():
            assert other.results["metrics"][col]["value"] == pytest.approx(entry["value"], rel=1e-9, abs=1e-12), col
        for a, b in zip(_samples(runs[0].run_dir), _samples(other.run_dir)):
            assert a["item_id"] == b["item_id"]
            assert set(a["scores"]) == set(b["scores"])
            for col, v in a["scores"].items():
                expected = None if v is None else pytest.approx(v, rel=1e-9, abs=1e-12)
                assert b["scores"][col] == expected, (a["item_id"], col)
    # the model ran on the caller's thread, never two calls at once
    assert gen.overlapping[0] == 0 and {tid for tid, _ in gen.calls} == {threading.get_ident()}
    assert len(gen.calls) == 3 * 3


def test_scoring_thread_overlaps_the_next_batch_and_the_model_stays_on_the_callers_thread(gen, tmp_path):
    """While batch 0 is being scored, batch 1 is made (overlap) but batch 2 is not (the prefetch bound); the
    model is called from the caller's thread, the scorer runs on one other thread, in batch order."""
    from longbench.cache import BackgroundWriter
    from longbench.generation import CachedModel, ImageBatches
    from longbench.models.base import Request, build_model, request_seed
    from longbench.suites.loaders import load_suite

    suite = load_suite(str(write_suite(tmp_path / "tiny.jsonl", TINY_ITEMS)))
    model = build_model(SPEC, {})
    requests = [Request(it, request_seed(0, suite.name, it.id)) for it in suite.items]
    scored: list[tuple[int, list[str], int]] = []
    calls_while_first_scored: list[int] = []

    def score(batch, images):
        if not scored:
            for _ in range(500):  # batch 1 is made while batch 0 is being scored
                if len(gen.calls) == 2:
                    break
                threading.Event().wait(0.01)
            threading.Event().wait(0.1)
            calls_while_first_scored.append(len(gen.calls))
        scored.append((threading.get_ident(), [r.item_id for r in batch], len(images)))

    with BackgroundWriter() as writer, ImageBatches(CachedModel(model, None, writer), requests, 2, "cpu", 1) as s:
        s.run(score)
    assert calls_while_first_scored == [2], "the model must run one batch ahead of the scorer, no further"
    assert [(ids, n) for _, ids, n in scored] == [(["a", "b"], 2), (["c", "d"], 2), (["e"], 1)]
    assert {tid for tid, _ in gen.calls} == {threading.get_ident()}
    assert len({tid for tid, _, _ in scored}) == 1 and scored[0][0] != threading.get_ident()
    assert 0 <= s.wait_s


@pytest.mark.parametrize("prefetch", ["0", "1", "2"])
def test_model_failing_on_the_second_batch_is_the_same_one_line_error(weights, gen, tmp_path, prefetch):
    gen.fail_on[0] = 2
    suite = write_suite(tmp_path / "tiny.jsonl", TINY_ITEMS)
    out = tmp_path / "runs"
    r = CliRunner().invoke(main, ["eval", "--model", SPEC, "--suite", str(suite), "--output", str(out),
                                  "--no-progress", "--batch-size", "2", "--prefetch", prefetch,
                                  "--metric", "clipscore", "--metric-arg", f"clipscore.model={weights['clip']}"])
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert r.exit_code == 2, r.output
    assert errors == [f"error: {SPEC} raised RuntimeError: boom on call 2"], r.output
    assert "Traceback" not in r.output
    assert len(gen.calls) == 2  # nothing generated after the failure
    assert not list(out.rglob("results.json")) and not list(out.rglob("samples.jsonl"))
    # the images of the first batch were cached (a rerun resumes from them), nothing half-written
    assert len(list((out / "cache" / "images").rglob("*.png"))) == 2
    assert not [p for p in out.rglob("*") if p.is_file() and p.suffix != ".png"]


def test_timings_record_the_wait_and_validate(weights, gen, tmp_path):
    from longbench.results import load_results, validate_results

    suite = write_suite(tmp_path / "tiny.jsonl", TINY_ITEMS)
    (o,) = run_eval(_config(weights, suite, tmp_path / "runs", 1))
    t = o.results["timings"]
    assert set(t) == {"generate_s", "score_s", "wait_s", "total_s", "images_generated", "images_cached"}
    assert 0 <= t["wait_s"] <= t["total_s"] and t["generate_s"] > 0 and t["score_s"] > 0
    assert load_results(o.run_dir)["timings"]["wait_s"] == t["wait_s"]
    old = json.loads(json.dumps(o.results))
    del old["timings"]["wait_s"]  # results written before wait_s existed stay valid (schema_version 1)
    validate_results(old)
    old["timings"]["wait_s"] = "1"
    with pytest.raises(LongbenchError, match="timings.wait_s must be a number"):
        validate_results(old)


def test_negative_prefetch_is_a_usage_error(tmp_path):
    with pytest.raises(LongbenchError, match=r"^--prefetch must be >= 0, got -1$"):
        EvalConfig(prefetch=-1, output=str(tmp_path)).validate()
    r = CliRunner().invoke(main, ["eval", "--prefetch", "-1", "--output", str(tmp_path), "--no-progress"])
    assert r.exit_code == 2 and "--prefetch must be >= 0, got -1" in r.output, r.output


def test_images_batches_convert_with_the_model_and_item_in_errors(tmp_path):
    """Conversion happens once on the worker; a refused image names the model and item, raised in the caller."""
    from longbench.cache import BackgroundWriter
    from longbench.generation import CachedModel, ImageBatches

    class Bad:
        spec = "raw:bad"

        def generate(self, requests):
            return [np.full((4, 4, 3), 3.0) for _ in requests]

    class R:
        item_id, seed = "x", 0

    bad = r"^model raw:bad, item x: float image values must lie in \[0, 1\]"
    with (BackgroundWriter() as writer, ImageBatches(CachedModel(Bad(), None, writer), [R()], 1, "cpu", 1) as s,
          pytest.raises(LongbenchError, match=bad)):
        s.run(lambda batch, images: None)


def test_a_metric_error_is_raised_in_the_caller_and_stops_making_batches(gen, tmp_path):
    from longbench.cache import BackgroundWriter
    from longbench.generation import CachedModel, ImageBatches
    from longbench.models.base import Request, build_model, request_seed
    from longbench.suites.loaders import load_suite

    suite = load_suite(str(write_suite(tmp_path / "tiny.jsonl", TINY_ITEMS)))
    requests = [Request(it, request_seed(0, suite.name, it.id)) for it in suite.items]
    seen = []

    def score(batch, images):
        seen.append(batch[0].item_id)
        raise LongbenchError("metric failed")

    model = build_model(SPEC, {})
    with (BackgroundWriter() as writer, ImageBatches(CachedModel(model, None, writer), requests, 1, "cpu", 1) as s,
          pytest.raises(LongbenchError, match="^metric failed$")):
        s.run(score)
    assert seen == ["a"]  # nothing scored after the failure
    assert len(gen.calls) <= 3  # at most the prefetched batch and the one being made when the error surfaced
