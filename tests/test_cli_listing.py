"""`longbench metrics|models|suites list`: listed from the registry's declarations, without importing a metric,
an adapter or a suite (start-up stays well under a second); every built-in declaration equals its
implementation; undeclared plugins are still listed."""

from __future__ import annotations

import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from longbench.errors import LongbenchError
from longbench.options import NoOptions
from longbench.registry import METRICS, MODELS, SUITES, Entry, Registry, import_string

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchmetrics", "torchvision", "transformers", "diffusers", "open_clip", "numpy", "PIL",
         "longbench.metrics.base", "longbench.models.base", "longbench.synth.suite", "longbench.suites.loaders")


@pytest.mark.parametrize("args", [["metrics", "list"], ["models", "list"], ["suites", "list"]])
def test_listing_imports_nothing_heavy(args: list[str]) -> None:
    code = ("import sys, cli; from click.testing import CliRunner; "
            f"r = CliRunner().invoke(cli.main, {args!r}); assert r.exit_code == 0, r.output; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def _invoke(*args: str) -> str:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False, terminal_width=250)
    assert r.exit_code == 0, r.output
    return r.output


def test_metrics_list_shows_declared_columns_and_options() -> None:
    out = _invoke("metrics", "list")
    assert re.search(r"^fid\s+fid↓$", out, re.MULTILINE)
    assert re.search(r"^denscore\s+denscore↑, denscore-o↑$", out, re.MULTILINE)
    assert "count-acc↑, count-mae↓, presence-recall↑" in out
    assert "--metric-arg segment-align.KEY=VALUE:" in out
    # every option with its type, default and help, from the one declaration
    assert "others (int, default 16): other items each image is compared with" in out
    assert "device (str | None): torch device (the run's --device when not set)" in out
    assert "dtype (float32|float16|bfloat16, default 'float32'): model dtype" in out
    assert "fact_recall@>77↑" in out


def test_models_list_shows_summary_and_model_args() -> None:
    out = _invoke("models", "list")
    assert re.search(r"^diffusers\s+diffusers:ID\|DIR - ", out, re.MULTILINE)
    assert "timeout (float, default 600.0): seconds one command may run" in out
    assert "size (int, default 256): image side in pixels" in out
    assert "long_prompt (str, default 'truncate'): long-prompt strategy" in out


def test_suites_list_shows_declared_version_size_sha() -> None:
    out = _invoke("suites", "list")
    for name in ("synth-v0", "longbench-v1"):
        d = SUITES.declared(name)
        line = next(ln for ln in out.splitlines() if f" {name} " in ln)
        assert d.sha256 in line and f" {d.size} " in line and f" {d.version} " in line


def _same_defaults(options: type, constructor: object) -> None:
    """Every option the constructor also takes has the declared default there (Python callers get the same
    behaviour as the command line); options that ``from_context`` maps (another type, or None: decided at run
    time) are skipped."""
    params = inspect.signature(constructor).parameters
    for f in dataclasses.fields(options):
        p = params.get(f.name)
        if p is not None and f.default is not None and type(p.default) is type(f.default):
            assert p.default == f.default, f"{constructor.__qualname__}: {f.name} defaults to {p.default!r}, " \
                                           f"the declaration to {f.default!r}"


@pytest.mark.parametrize("name", sorted(METRICS.names()))
def test_metric_declaration_equals_implementation(name: str) -> None:
    d = METRICS.declared(name)
    assert d is not None, f"declare {name!r} in longbench/metrics/__init__.py"
    cls = METRICS.get(name)
    assert list(d.columns.items()) == list(cls.columns.items()), "update longbench/metrics/__init__.py"
    # one declaration of the options, named by the entry (for listing) and the class (for building)
    assert (d.options or NoOptions) is cls.Options, "name the metric's Options in longbench/metrics/__init__.py"
    assert all(f.metadata.get("help") for f in dataclasses.fields(cls.Options)), "give every option a help text"
    _same_defaults(cls.Options, cls.__init__)
    assert d.summary
    # what `longbench doctor` checks without importing the metric is what the metric itself reports
    assert d.weights is not None, "declare the metric's weights check (Entry.weights)"
    assert (import_string(d.weights)() if d.weights else []) == cls.weights_status()


def test_doctor_imports_no_metric() -> None:
    code = ("import sys, cli; from click.testing import CliRunner; r = CliRunner().invoke(cli.main, ['doctor']); "
            "assert r.exit_code == 0, r.output; assert 'metric weights' in r.output, r.output; "
            "print(sorted(m for m in ('torchmetrics', 'longbench.metrics.base') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(MODELS.names()))
def test_model_declaration_equals_implementation(name: str) -> None:
    d = MODELS.declared(name)
    assert d is not None, f"declare {name!r} in longbench/models/__init__.py"
    cls = MODELS.get(name)
    if cls.Options in (None, NoOptions):  # none, or free-form (python:)
        assert d.options is None
    else:
        assert d.options is cls.Options, "name the adapter's Options in longbench/models/__init__.py"
        assert all(f.metadata.get("help") for f in dataclasses.fields(cls.Options)), "give every option a help text"
    assert d.summary.startswith(f"{name}:")


@pytest.mark.parametrize("name", sorted(SUITES.names()))
def test_suite_declaration_equals_loaded_suite(name: str) -> None:
    from longbench.suites.loaders import load_suite

    d = SUITES.declared(name)
    assert d is not None, f"declare {name!r} in longbench/suites/__init__.py"
    s = load_suite(name)
    # a built-in suite's content changes only with a new version: then update the declaration
    assert (d.version, d.size, d.sha256) == (s.version, len(s), s.sha256), "update longbench/suites/__init__.py"


def test_undeclared_and_broken_plugins_are_listed(fake_modules: Path) -> None:
    """`fake_modules` registers 'brightness' as a plain "module:attr" string: listed by importing it."""
    METRICS.register("broken", "no_such_module_xyz:Metric")
    try:
        out = _invoke("metrics", "list")
    finally:
        METRICS._entries.pop("broken", None)
    assert re.search(r"^brightness\s+brightness↑, darkness↓$", out, re.MULTILINE)
    assert re.search(r"^broken\s+\(unavailable: cannot import module 'no_such_module_xyz'", out, re.MULTILINE)


def test_registry_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lb_plugin_decl.py").write_text(
        "from longbench.registry import Entry\n"
        "ENTRY = Entry('lb_plugin_impl:Thing', 'a declared plugin', options='lb_plugin_decl:Opts')\n"
        "from dataclasses import dataclass\n"
        "@dataclass\nclass Opts:\n    k: int = 1\n")
    (tmp_path / "lb_plugin_impl.py").write_text("class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("thing", "longbench.no_such_group")
    reg.register("a", Entry("lb_plugin_impl:Thing", "declared"))
    reg.register("b", "lb_plugin_decl:ENTRY")  # an entry point naming a declaration
    reg.register("c", "lb_plugin_impl:Thing")  # a plain plugin: its class is imported to list it
    assert reg.target("a") == "lb_plugin_impl:Thing" and reg.declared("a").summary == "declared"
    assert reg.declared("b") is None  # not known without importing the entry point's module
    assert reg.declaration("b").options == "lb_plugin_decl:Opts" and reg.declared("b").summary == "a declared plugin"
    assert reg.options("b").__name__ == "Opts"
    assert "lb_plugin_impl" not in sys.modules  # the implementation behind the declarations is not imported
    assert reg.get("a").__name__ == "Thing" and reg.declared("a") is not None  # declaration kept
    assert reg.get("b") is reg.get("a")  # followed through the declaration to the class
    assert reg.declaration("c") is None and reg.get("c") is reg.get("a")
    reg.register("a", "lb_plugin_decl:ENTRY")  # re-registering forgets the resolved object
    assert reg.declared("a") is None
    with pytest.raises(LongbenchError, match="unknown thing 'd'"):
        reg.get("d")
