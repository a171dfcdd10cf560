"""The example plugins of ``tests/plugins/`` (a metric, a model adapter, a suite importer, a count detector and a
VQA judge), each written from ``docs/architecture.md`` alone, outside the package, and registered only through
its entry point: installed as a ``*.dist-info`` on the path of one fresh interpreter (``tests/helpers_plugins``),
listed with their declared options, and run end to end through the CLI with exact expected values.

The training stage plugin has its own test (``tests/test_longalign_stage_plugin.py``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.helpers_plugins import install_plugin, run_with_plugins

ENTRY_POINTS = {
    "longbench.metrics": {"brightness": "lb_brightness_metric:BrightnessMetric"},
    "longbench.models": {"gray": "lb_gray_model:GrayModel"},
    "longbench.importers": {"mdlist": "lb_mdlist_importer:read_mdlist"},
    "longbench.detectors": {"colour-blobs": "lb_blob_detector:ColourBlobDetector"},
    "longbench.judges": {"constant": "lb_constant_judge:ConstantJudge"},
}

MARKDOWN = """\ufeff# Prompts for the plugin test

## Still life
- A red cube on a wooden table.
- Two green cats sleep on a striped mat beside a bowl of lemons and a teapot.
text that is not a list item

## Harbour scenes
* A quiet harbour at dawn.
- Fishing boats rest in a row while gulls circle above the pier.
"""

SCRIPT = r"""
import json, sys
from click.testing import CliRunner
from cli import main

tmp = sys.argv[1]
out = {}

def invoke(args):
    r = CliRunner().invoke(main, args, terminal_width=200)
    return [r.exit_code, r.output]

out["metrics_list"] = invoke(["metrics", "list"])
out["models_list"] = invoke(["models", "list"])
out["import_unknown"] = invoke(["suites", "import", "mdlst", "prompts.md", "--out", "x.jsonl"])
out["import"] = invoke(["suites", "import", "mdlist", "prompts.md", "--out", "prompts.jsonl", "--name", "md"])
out["eval"] = invoke(["eval", "--model", "gray:64", "--model", "gray:250", "--model-arg", "step=2",
                      "--model-arg", "size=4", "--suite", "prompts.jsonl", "--metric", "brightness", "--json",
                      "--no-progress", "--output", "runs"])
out["eval_r"] = invoke(["eval", "--model", "gray:64", "--model-arg", "step=2", "--suite", "prompts.jsonl",
                        "--metric", "brightness", "--metric-arg", "brightness.channel=r", "--json", "--no-progress",
                        "--output", "runs"])
out["bad_model_arg"] = invoke(["eval", "--model", "gray:64", "--model-arg", "stepp=2", "--suite", "prompts.jsonl",
                               "--metric", "brightness", "--output", "runs"])
out["bad_level"] = invoke(["eval", "--model", "gray:300", "--suite", "prompts.jsonl", "--metric", "brightness",
                           "--output", "runs"])
out["bad_metric_arg"] = invoke(["eval", "--model", "gray:64", "--suite", "prompts.jsonl", "--metric", "brightness",
                                "--metric-arg", "brightness.channel=alpha", "--output", "runs"])
synth = ["--model", "synth:oracle", "--suite", "synth-v0", "--limit", "4", "--json", "--no-progress"]
out["count"] = invoke(["eval", *synth, "--output", "runs-count", "--metric", "count",
                       "--metric-arg", "count.detector=colour-blobs"])
out["vqa_yes"] = invoke(["eval", *synth, "--output", "runs", "--metric", "vqa", "--metric-arg", "vqa.judge=constant:yes"])
out["vqa_maybe"] = invoke(["eval", *synth, "--output", "runs", "--metric", "vqa", "--metric-arg", "vqa.judge=constant:maybe"])

from longbench.suites.loaders import load_suite
out["synth_items"] = [it.to_dict() for it in load_suite("synth-v0").items[:4]]
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """Every check in one fresh interpreter (the imports cost more than the checks)."""
    tmp = tmp_path_factory.mktemp("plugins")
    site = install_plugin(tmp / "site", "longbench-example-plugins", ENTRY_POINTS)
    (tmp / "prompts.md").write_bytes(MARKDOWN.replace("\n", "\r\n").encode("utf-8"))
    return run_with_plugins(SCRIPT, [str(tmp)], site, cwd=tmp), tmp


def samples(output: Path, result: dict) -> list[dict]:
    """The samples of the run ``result`` written under ``output`` (``<suite>/<model>__<hash8>__s<seed>...``)."""
    (run_dir,) = output.glob(f"*/*__{result['model']['identity_hash'][:8]}__s0*")
    return [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]


def runs(result: list) -> list[dict]:
    code, output = result
    assert code == 0, output
    return json.loads(output[output.index("["):])


def test_listed_with_declared_options(plugin_run: tuple[dict, Path]) -> None:
    out, _ = plugin_run
    code, text = out["metrics_list"]
    assert code == 0, text
    assert "brightness     brightness↑\n" in text
    assert "Mean pixel value of each image, from 0 (black) to 100 (white)." in text
    assert "--metric-arg brightness.KEY=VALUE:" in text
    assert "channel (all|r|g|b, default 'all'): channel to average (all: R, G and B together)" in text
    assert "device (str | None): torch device (the run's --device when not set)" in text
    code, text = out["models_list"]
    assert code == 0, text
    assert "gray       gray:LEVEL - flat gray images, LEVEL (0..255) plus step per prompt word." in text
    assert "size (int, default 8): image side in pixels" in text
    assert "step (int, default 0): added to the gray level per word of the prompt (capped at 255)" in text
    code, text = out["import_unknown"]
    assert code == 2 and "unknown import format 'mdlst'; did you mean 'mdlist'?" in text, text


def test_importer_writes_the_suite(plugin_run: tuple[dict, Path]) -> None:
    out, tmp = plugin_run
    code, text = out["import"]
    assert code == 0, text
    assert "wrote prompts.jsonl: suite md 1, 4 items (1 with counted entities)" in text
    header, *items = (json.loads(x) for x in (tmp / "prompts.jsonl").read_text(encoding="utf-8").splitlines())
    assert header["suite"]["name"] == "md" and header["suite"]["version"] == "1"
    # ids from the line numbers of the bullets (the BOM dropped, CRLF line ends stripped); tags from the headings
    assert [(it["id"], it["prompt"], it.get("tags")) for it in items] == [
        ("prompts-4", "A red cube on a wooden table.", ["still-life"]),
        ("prompts-5", "Two green cats sleep on a striped mat beside a bowl of lemons and a teapot.", ["still-life"]),
        ("prompts-9", "A quiet harbour at dawn.", ["harbour-scenes"]),
        ("prompts-10", "Fishing boats rest in a row while gulls circle above the pier.", ["harbour-scenes"]),
    ]
    # the count parser ran on the raw prompts (the library's part of an import)
    assert items[1]["entities"] == [{"name": "cat", "count": 2, "attributes": ["green"]}]


def expected_brightness(level: int, step: int, prompts: list[str]) -> list[float]:
    """A flat gray image of value v = min(255, level + step · words) has brightness 100 v / 255."""
    return [100.0 * min(255, level + step * len(p.split())) / 255.0 for p in prompts]


def test_model_and_metric_end_to_end(plugin_run: tuple[dict, Path]) -> None:
    out, tmp = plugin_run
    prompts = [json.loads(x)["prompt"] for x in (tmp / "prompts.jsonl").read_text().splitlines()[1:]]
    assert [len(p.split()) for p in prompts] == [7, 16, 5, 12]
    got = runs(out["eval"])
    assert [r["model"]["spec"] for r in got] == ["gray:64", "gray:250"]
    for r, level in zip(got, (64, 250)):
        want = expected_brightness(level, 2, prompts)  # gray:250 saturates at 255 from 3 words on
        m = r["metrics"]["brightness"]
        assert m["n"] == 4 and m["higher_is_better"] is True and m["metric"] == "brightness"
        assert math.isclose(m["value"], sum(want) / 4, rel_tol=1e-12)  # float64 mean of 4 values
        assert r["model"]["args"] == {"step": 2, "size": 4}  # coerced to the declared types
        assert r["protocols"]["brightness"] == {"name": "brightness", "version": "1", "channel": "all",
                                                "scale": "mean uint8 value x 100/255"}
        rows = samples(tmp / "runs", r)
        assert [s["item_id"] for s in rows] == ["prompts-4", "prompts-5", "prompts-9", "prompts-10"]
        for s, w in zip(rows, want):
            assert math.isclose(s["scores"]["brightness"], w, rel_tol=1e-12)
    assert got[1]["metrics"]["brightness"]["value"] == 100.0
    # the red channel of a gray image is the image: same numbers, the option recorded in the protocol
    (r,) = runs(out["eval_r"])
    assert math.isclose(r["metrics"]["brightness"]["value"], got[0]["metrics"]["brightness"]["value"], rel_tol=1e-12)
    assert r["protocols"]["brightness"]["channel"] == "r"


def test_bad_plugin_options_are_one_line_errors(plugin_run: tuple[dict, Path]) -> None:
    out, _ = plugin_run
    code, text = out["bad_model_arg"]
    assert code == 2 and "error: model 'gray' has no option 'stepp'; did you mean 'step'?" in text, text
    code, text = out["bad_level"]
    assert code == 2 and "error: model gray:300: LEVEL must be an integer in 0..255" in text, text
    code, text = out["bad_metric_arg"]
    assert code == 2 and "metric 'brightness' option 'channel': expected one of all, r, g, b, got 'alpha'" in text, text
    for key in ("bad_model_arg", "bad_level", "bad_metric_arg"):
        assert "Traceback" not in out[key][1] and len(out[key][1].strip().splitlines()) == 1, out[key][1]


def expected_counts(entities: list[dict]) -> dict[str, float]:
    """What a colour-only blob counter reports on an oracle render: every entity's predicted count is the
    number of objects of its colour (its first word), the stated counts of all entities of that colour."""
    per_colour: dict[str, int] = {}
    for e in entities:
        per_colour[e["name"].split()[0]] = per_colour.get(e["name"].split()[0], 0) + e["count"]
    predicted = [per_colour[e["name"].split()[0]] for e in entities]
    stated = [e["count"] for e in entities]
    return {"count-acc": sum(p == s for p, s in zip(predicted, stated)) / len(stated),
            "count-mae": sum(abs(p - s) for p, s in zip(predicted, stated)) / len(stated),
            "presence-recall": sum(p >= 1 for p, s in zip(predicted, stated) if s >= 1)
            / sum(s >= 1 for s in stated)}


def test_detector_counts_synth_images(plugin_run: tuple[dict, Path]) -> None:
    out, tmp = plugin_run
    items = out["synth_items"]
    assert all(e["count"] >= 1 for it in items for e in it["entities"])  # synth states every count
    want = [expected_counts(it["entities"]) for it in items]
    assert any(w["count-acc"] < 1 for w in want) and any(w["count-acc"] == 1 for w in want)  # a telling sample
    (r,) = runs(out["count"])
    assert r["protocols"]["count"]["detector"] == "colour-blobs"
    assert r["protocols"]["count"]["rule"].startswith("8-connected blobs")
    rows = samples(tmp / "runs-count", r)
    assert [s["item_id"] for s in rows] == [it["id"] for it in items]
    for col in ("count-acc", "count-mae", "presence-recall"):
        assert math.isclose(r["metrics"][col]["value"], sum(w[col] for w in want) / len(want), rel_tol=1e-12), col
        assert [s["scores"][col] for s in rows] == pytest.approx([w[col] for w in want], rel=1e-12), col


def test_judge_answers_every_question(plugin_run: tuple[dict, Path]) -> None:
    out, _ = plugin_run
    (yes,) = runs(out["vqa_yes"])
    assert yes["protocols"]["vqa"]["judge"] == {"kind": "constant", "answer": "yes"}
    assert yes["metrics"]["vqa-hard"]["value"] == 1.0 and yes["metrics"]["vqa-soft"]["value"] == 1.0
    assert yes["metrics"]["vqa-neither"]["value"] == 0.0 and yes["metrics"]["vqa-hard"]["n"] == 4
    (maybe,) = runs(out["vqa_maybe"])
    # "maybe" is neither yes nor no: it counts as no, and a judge without P(yes) has no soft score
    assert maybe["metrics"]["vqa-hard"]["value"] == 0.0 and maybe["metrics"]["vqa-neither"]["value"] == 1.0
    assert maybe["metrics"]["vqa-soft"]["value"] is None


def test_metric_plugin_passes_the_shared_metric_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``tests/metric_tester.py`` on the plugin metric, as its own package's tests would run it (not the
    two-process check: that one forks, and the merge check covers the states)."""
    import numpy as np
    from PIL import Image

    from longbench.suites.base import Item
    from tests.helpers_plugins import PLUGINS
    from tests.metric_tester import EXACT, MetricCase, MetricTester, Outcome, TinyWeights

    monkeypatch.syspath_prepend(str(PLUGINS))
    from lb_brightness_metric import BrightnessMetric

    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((4, 4), (4, 4), (3, 5), (6, 2), (4, 4))]

    def data(_: TinyWeights) -> tuple[list, list]:
        return [Image.fromarray(a) for a in arrays], [Item(id=f"i{k}", prompt="A gray square.") for k in range(5)]

    def reference(metric: BrightnessMetric, images: list, items: list) -> Outcome:
        per = [float(a[:, :, 0].astype(np.float64).mean() * 100 / 255) for a in arrays]  # channel r
        return Outcome(values={"brightness": float(np.mean(per))}, per_sample={"brightness": per})

    case = MetricCase("brightness-r", "brightness", lambda _: BrightnessMetric(channel="r"), data, reference, EXACT)
    tester = MetricTester(TinyWeights(tmp_path))
    for check in (tester.check_columns, tester.check_per_sample_agrees, tester.check_batch_size_invariance,
                  tester.check_order_invariance, tester.check_merge_state, tester.check_functional):
        check(case)
