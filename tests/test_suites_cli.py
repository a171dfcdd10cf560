"""The ``suites`` click group through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from longbench.registry import SUITES
from longbench.suites.base import Entity, Fact, Item, Suite
from longbench.suites.commands import suites


def tiny() -> Suite:
    return Suite("cli-tiny", "3", [
        Item("k1", "Two red mugs sit on a table. A lamp glows.", entities=(Entity("mug", 2, ("red",)),),
             facts=(Fact("count", 0, "mug", 2),)),
        Item("k2", "A quiet street at night."),
    ])


@pytest.fixture
def registered():
    SUITES.register("cli-tiny", tiny)
    yield "cli-tiny"
    SUITES._entries.pop("cli-tiny", None)


def run(*args: str):
    return CliRunner().invoke(suites, list(args), catch_exceptions=False)


def test_help_lists_commands() -> None:
    r = run("--help")
    assert r.exit_code == 0
    for cmd in ("list", "show", "validate", "import", "stats"):
        assert cmd in r.output


def test_list_shows_version_count_sha(registered: str) -> None:
    r = CliRunner().invoke(suites, ["list"], catch_exceptions=False, terminal_width=250)
    assert r.exit_code == 0
    line = next(ln for ln in r.output.splitlines() if "cli-tiny" in ln)
    assert "3" in line and " 2 " in line and tiny().sha256 in line


def test_show_suite_and_item(registered: str) -> None:
    r = run("show", registered, "--limit", "1")
    assert r.exit_code == 0 and "k1" in r.output and "mug×2" in r.output and "1 more" in r.output
    r = run("show", registered, "--item", "k2")
    assert r.exit_code == 0 and "A quiet street at night." in r.output
    r = run("show", registered, "--item", "k3")
    assert r.exit_code == 2
    assert "error: suite 'cli-tiny' has no item 'k3'; did you mean 'k2' or 'k1'?" in r.output


def test_show_unknown_suite_exit_2() -> None:
    r = run("show", "longbench-v9")
    assert r.exit_code == 2 and "unknown suite 'longbench-v9'" in r.output


def test_validate(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "a", "prompt": "Two cats.", "entities": [{"name": "cat", "count": 2}],
                                "facts": [{"type": "count", "sentence": 0, "entity": "cat", "value": 2}]}) + "\n")
    r = run("validate", str(good))
    assert r.exit_code == 0 and r.output.strip() == f"{good}: ok"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + json.dumps({"id": "b", "prompt": "Two cats.", "entities": [
        {"name": "cat", "count": 3}], "facts": [{"type": "count", "sentence": 0, "entity": "cat", "value": 3}]})
        + "\n" + "{oops\n")
    r = run("validate", str(bad))
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.startswith(str(bad))]
    assert lines == [f"{bad}:2: item 'b': facts[0] (count 'cat') value 3 is not stated in sentence 0: 'Two cats.'",
                     f"{bad}:3: invalid JSON (Expecting property name enclosed in double quotes at column 2)"]


def test_import_and_stats(tmp_path: Path) -> None:
    src = tmp_path / "prompts.txt"
    src.write_text("Three owls sit on a branch.\nA dog runs. " + "A very long sentence about a cat. " * 12 + "\n")
    out = tmp_path / "s.jsonl"
    r = run("import", "txt", str(src), "--out", str(out), "--name", "owls", "--version", "2")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"wrote {out}: suite owls 2, 2 items (1 with counted entities), sha256 ")
    assert run("validate", str(out)).exit_code == 0
    png = tmp_path / "h.png"
    r = run("stats", str(out), "--json", "--plot", str(png))
    assert r.exit_code == 0, r.output
    st = json.loads(r.output)
    assert st["n_items"] == 2 and st["counted_entities"]["total"] == 1
    assert st["tokens"]["share_over_77"] == 0.5 and st["sentences"]["max"] == 13
    assert png.read_bytes()[:4] == b"\x89PNG"
    r = run("stats", str(out))
    assert r.exit_code == 0 and "beyond 77 tokens: 50.0%" in r.output


def test_import_errors_exit_2(tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_bytes(b"ok\n\xff\n")
    out = tmp_path / "o.jsonl"
    r = run("import", "txt", str(src), "--out", str(out))
    assert r.exit_code == 2 and f"error: {src}:2: not valid UTF-8" in r.output and not out.exists()
    r = run("import", "geneva", str(src), "--out", str(out))
    assert r.exit_code == 2 and "did you mean 'geneval'?" in r.output


def test_validate_registered_name(registered: str) -> None:
    r = run("validate", registered)
    assert r.exit_code == 0 and r.output.strip() == "cli-tiny: ok"
    r = run("validate", "cli-tinyy")
    assert r.exit_code == 2 and "did you mean 'cli-tiny'?" in r.output


def test_validate_suite_items_by_position() -> None:
    from longbench.suites.schema import validate_suite

    bad = Suite("b", "1", [tiny().items[1], Item("k9", "Three dogs.", entities=(Entity("dog", 2),),
                                                     facts=(Fact("count", 0, "dog", 2),))])
    assert [str(p) for p in validate_suite(bad)] == [
        "b:2: item 'k9': facts[0] (count 'dog') value 2 is not stated in sentence 0: 'Three dogs.'"]
