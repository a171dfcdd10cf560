"""One option mechanism (``longbench.options``: declared dataclasses, one coercion, one-line errors naming the
component and key) and every pluggable family as a ``Registry`` that finds plugins through entry points."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from longbench.errors import LongbenchError
from longbench.options import build_options, describe_options, option, parse_key_values
from longbench.registry import DETECTORS, IMPORTERS, JUDGES, LONG_PROMPT_STRATEGIES, Registry


@dataclass
class _Opts:
    n: int = option(3, "how many")
    rate: float | None = option(None, "a rate (not set: automatic)")
    mode: Literal["fast", "exact"] = option("fast", "how")
    flag: bool = option(False, "a switch")
    name: str = option("x", "a name")


def test_build_options_converts_strings_and_keeps_defaults() -> None:
    o = build_options(_Opts, {"n": "7", "rate": "0.25", "mode": "exact", "flag": "yes"}, "thing 't'")
    assert (o.n, o.rate, o.mode, o.flag, o.name) == (7, 0.25, "exact", True, "x")
    assert build_options(_Opts, {"rate": "none", "flag": "OFF"}, "thing 't'") == _Opts(rate=None, flag=False)
    assert build_options(_Opts, None, "thing 't'") == _Opts()
    assert build_options(_Opts, {"n": 5, "flag": True}, "thing 't'") == _Opts(n=5, flag=True)  # typed values


@pytest.mark.parametrize("values, message", [
    ({"nn": "1"}, "thing 't' has no option 'nn'; did you mean 'n'? (options: n, rate, mode, flag, name)"),
    ({"n": "1.5"}, "thing 't' option 'n': expected an integer, got '1.5'"),
    ({"rate": "fast"}, "thing 't' option 'rate': expected a number, got 'fast'"),
    ({"mode": "slow"}, "thing 't' option 'mode': expected one of fast, exact, got 'slow'"),
    ({"flag": "maybe"}, "thing 't' option 'flag': expected true/false, got 'maybe'"),
])
def test_build_options_errors_name_the_component_and_key(values: dict, message: str) -> None:
    with pytest.raises(LongbenchError) as ei:
        build_options(_Opts, values, "thing 't'")
    assert str(ei.value) == message


def test_describe_options_is_what_the_listings_show() -> None:
    lines = [o.line() for o in describe_options(_Opts)]
    assert lines == ["n (int, default 3): how many", "rate (float | None): a rate (not set: automatic)",
                     "mode (fast|exact, default 'fast'): how", "flag (bool, default False): a switch",
                     "name (str, default 'x'): a name"]


def test_parse_key_values() -> None:
    assert parse_key_values([" a = x=y ", "b="], "--opt", "a=1") == {"a": "x=y", "b": ""}
    assert parse_key_values(["fact_recall@<=77=0.5", "a=1", "a=2"], "--gate", "a=1", numbers=True) == {
        "fact_recall@<=77": 0.5, "a": 2.0}
    for items, kw, message in ((["a"], {}, "--opt 'a': expected KEY=VALUE (e.g. a=1)"),
                               (["=1"], {}, "--opt '=1': expected KEY=VALUE (e.g. a=1)"),
                               (["a=b"], {"numbers": True}, "--opt 'a=b': 'b' is not a number"),
                               (["a=1", "a=2"], {"unique": True}, "--opt: 'a' given twice")):
        with pytest.raises(LongbenchError) as ei:
            parse_key_values(items, "--opt", "a=1", **kw)
        assert str(ei.value) == message


def test_models_and_metrics_coerce_through_their_declaration() -> None:
    from longbench.metrics.base import MetricContext, build_metric
    from longbench.models.base import build_model

    m = build_model("synth:oracle", {"size": "128"})
    assert m.options.size == 128 and m.args == {"size": 128}  # args: the given options, typed (cache key)
    assert build_model("synth:oracle").args == {}
    with pytest.raises(LongbenchError, match=r"^model 'synth' option 'size': expected an integer, got 'big'$"):
        build_model("synth:oracle", {"size": "big"})
    with pytest.raises(LongbenchError, match=r"^metric 'count' has no option 'detektor'; did you mean 'detector'"):
        build_metric("count", MetricContext(suite=None), {"detektor": "synth"})


def test_plugin_metric_without_options_refuses_any(fake_modules: Path) -> None:
    from longbench.metrics.base import MetricContext, build_metric

    with pytest.raises(LongbenchError, match=r"^metric 'brightness' has no option 'x' \(options: none\)$"):
        build_metric("brightness", MetricContext(suite=None), {"x": "1"})
    assert build_metric("brightness", MetricContext(suite=None)).weights_status() == []


# ------------------------------------------------------------------------------------------- registries
PLUGIN = '''
from dataclasses import dataclass

from longbench.metrics.count import Detector
from longbench.suites.importers import ImportRow


class OneBoxDetector(Detector):
    """Finds exactly one of everything."""

    name = "one-box"

    def detect(self, images, queries):
        raise AssertionError("count() is exact")

    def count(self, images, queries, *, score_threshold, nms_iou):
        return [[1 for _ in qs] for qs in queries]


def lines_importer(path, opts):
    for i, line in enumerate(path.read_text().splitlines()):
        yield ImportRow(where=f"{path}:{i + 1}", prompt=line, fallback_id=f"p{i}")


def shout(pipe, prompts, options):
    return {"prompt": [p.upper() for p in prompts]}
'''

GROUPS = {"longbench.detectors": "one-box = lb_plugin_fam:OneBoxDetector",
          "longbench.importers": "lines = lb_plugin_fam:lines_importer",
          "longbench.long_prompt_strategies": "shout = lb_plugin_fam:shout",
          "longbench.judges": "fake = longbench.judges.synth:SynthJudge"}


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed distribution (a dist-info on sys.path) declaring one entry point per family."""
    (tmp_path / "lb_plugin_fam.py").write_text(PLUGIN)
    info = tmp_path / "lb_plugin_fam-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lb-plugin-fam\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("".join(f"[{g}]\n{line}\n\n" for g, line in GROUPS.items()))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("lb_plugin_fam", None)
    yield tmp_path
    sys.modules.pop("lb_plugin_fam", None)


@pytest.mark.parametrize("registry", [DETECTORS, IMPORTERS, LONG_PROMPT_STRATEGIES, JUDGES],
                         ids=lambda r: r.entry_point_group)
def test_every_family_finds_plugins_through_its_entry_point_group(plugin_dist: Path, registry: Registry) -> None:
    fresh = Registry(registry.kind, registry.entry_point_group, registry._builtins)  # the shared one loaded already
    name = GROUPS[registry.entry_point_group].split(" = ")[0]
    assert name in fresh.names() and set(registry.names()) <= set(fresh.names())
    assert callable(fresh.get(name))
    with pytest.raises(LongbenchError, match=f"unknown {registry.kind} 'nope'"):
        fresh.get("nope")


def test_registered_plugins_are_used_by_count_import_and_diffusers(plugin_dist: Path, tmp_path: Path) -> None:
    import lb_plugin_fam

    from longbench.metrics.count import CountMetric
    from longbench.models.diffusers_model import DiffusersModel
    from longbench.suites.base import Entity, Item
    from longbench.suites.importers import import_suite

    DETECTORS.register("one-box", lb_plugin_fam.OneBoxDetector)
    IMPORTERS.register("lines", lb_plugin_fam.lines_importer)
    LONG_PROMPT_STRATEGIES.register("shout", lb_plugin_fam.shout)
    try:
        from PIL import Image

        metric = CountMetric(detector="one-box")
        metric.update([Image.new("RGB", (4, 4))], [Item(id="a", prompt="two cats", entities=(Entity("cat", 2),))])
        assert metric.compute()["count-mae"] == 1.0 and metric.protocol()["detector"] == "one-box"
        src = tmp_path / "p.txt"
        src.write_text("A cat.\nA dog.\n")
        assert [it.prompt for it in import_suite("lines", src).items] == ["A cat.", "A dog."]
        model = DiffusersModel("./unused", {"long_prompt": "shout"}, pipeline=object())
        assert model.prompt_kwargs(["a cat"]) == {"prompt": ["A CAT"]}
        with pytest.raises(LongbenchError, match="unknown long-prompt strategy 'whisper'"):
            DiffusersModel("./unused", {"long_prompt": "whisper"}, pipeline=object())
    finally:
        for reg, name in ((DETECTORS, "one-box"), (IMPORTERS, "lines"), (LONG_PROMPT_STRATEGIES, "shout")):
            reg._entries.pop(name, None)
            reg._resolved.pop(name, None)


def test_import_flags_are_made_from_the_declared_options(tmp_path: Path) -> None:
    """``suites import`` flags come from ``ImportOptions`` (one declaration): names, help, and the values."""
    import json

    from click.testing import CliRunner

    from cli import main

    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps({"uid": "u1", "text": "Three red boats."}) + "\n")
    out = tmp_path / "s.jsonl"
    r = CliRunner().invoke(main, ["suites", "import", "jsonl", str(src), "--out", str(out), "--field", "text",
                                  "--id-field", "uid", "--name", "mine", "--no-parse-counts"])
    assert r.exit_code == 0, r.output
    header, item = (json.loads(line) for line in out.read_text().splitlines())
    assert header["suite"]["name"] == "mine" and item["id"] == "u1" and not item.get("entities")
    helptext = CliRunner().invoke(main, ["suites", "import", "--help"], terminal_width=200).output
    assert "--id-field TEXT" in helptext and "Id field/column (default: file stem or line number)." in helptext
    assert "--parse-counts / --no-parse-counts" in helptext
    r = CliRunner().invoke(main, ["suites", "import", "jsonl", str(src), "--out", str(out), "--image-root", str(src)])
    assert r.exit_code == 2 and "--image-root" in r.output and "a file, not a folder" in r.output
