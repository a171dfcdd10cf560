"""Store ingest: valid runs are copied atomically; malformed, truncated, huge or hostile runs are rejected."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaderboard.commands import leaderboard
from leaderboard.store import add_run, store_name
from longbench.errors import LongbenchError
from tests.helpers_leaderboard import make_run


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root (hidden ones too) with file contents, to prove nothing changed."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def store(tmp_path) -> Path:
    s = tmp_path / "store"
    add_run(s, make_run(tmp_path / "seed-run", "diffusers:org/first", {"denscore": [1.0, 2.0, 3.0]}))
    return s


def _good(tmp_path: Path, name: str = "run", model: str = "diffusers:org/new", **kw) -> Path:
    return make_run(tmp_path / name, model, {"denscore": [1.0, 2.0, 3.0, 4.0]}, **kw)


def _edit_results(run: Path, **changes) -> None:
    r = json.loads((run / "results.json").read_text())
    r.update(changes)
    (run / "results.json").write_text(json.dumps(r))


def test_add_copies_only_results_and_samples(tmp_path, store):
    run = _good(tmp_path)
    (run / "image.png").write_bytes(b"not copied")
    dest = add_run(store, run)
    assert dest.parent == store and dest.name == store_name(json.loads((run / "results.json").read_text())["run_id"])
    assert sorted(p.name for p in dest.iterdir()) == ["results.json", "samples.jsonl"]
    for name in ("results.json", "samples.jsonl"):
        assert (dest / name).read_bytes() == (run / name).read_bytes()
    assert not [p for p in store.iterdir() if p.name.startswith(".")]  # temporary dir renamed away
    from leaderboard.build import build_leaderboard
    from leaderboard.table import BootstrapConfig

    table = build_leaderboard([store], tmp_path / "lb", BootstrapConfig(n_resamples=50), plots=False)
    assert len(table["sections"][0]["runs"]) == 2


def _make_empty(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def _non_json(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    (run / "results.json").write_text("<html>not json</html>")
    return run


def _wrong_schema(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    _edit_results(run, schema_version=2)
    return run


def _truncated_results(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    data = (run / "results.json").read_bytes()
    (run / "results.json").write_bytes(data[: len(data) // 2])
    return run


def _truncated_samples_midline(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    data = (run / "samples.jsonl").read_bytes()
    (run / "samples.jsonl").write_bytes(data[:-20])
    return run


def _samples_missing_line(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    lines = (run / "samples.jsonl").read_text().splitlines(keepends=True)
    (run / "samples.jsonl").write_text("".join(lines[:-1]))
    return run


def _samples_missing(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    (run / "samples.jsonl").unlink()
    return run


def _huge_samples(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    with open(run / "samples.jsonl", "r+b") as f:  # sparse: 100 MB apparent size, no disk blocks
        f.truncate(100 * 1024 * 1024)
    return run


def _huge_results(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    with open(run / "results.json", "r+b") as f:
        f.truncate(100 * 1024 * 1024)
    return run


def _traversal_run_id(tmp_path: Path) -> Path:
    return _good(tmp_path, run_id="../../outside/evil")


def _absolute_run_id(tmp_path: Path) -> Path:
    return _good(tmp_path, run_id="/etc/passwd")


def _control_char_run_id(tmp_path: Path) -> Path:
    return _good(tmp_path, run_id="suite@1234/model\x00/s0")


def _symlinked_results(tmp_path: Path) -> Path:
    src = _good(tmp_path, "real")
    run = tmp_path / "linked"
    run.mkdir()
    (run / "results.json").symlink_to(src / "results.json")
    (run / "samples.jsonl").write_bytes((src / "samples.jsonl").read_bytes())
    return run


def _fifo_samples(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    (run / "samples.jsonl").unlink()
    os.mkfifo(run / "samples.jsonl")  # reading it would block forever without O_NONBLOCK
    return run


def _not_utf8(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    (run / "results.json").write_bytes(b'{"model": "\xff\xfe"}')
    return run


def _bad_sample_column(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    lines = (run / "samples.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["scores"] = {"unknown_metric": 1.0}
    (run / "samples.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    return run


def _duplicate_sample(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    lines = (run / "samples.jsonl").read_text().splitlines()
    (run / "samples.jsonl").write_text("\n".join([lines[0], lines[0], *lines[2:]]) + "\n")
    return run


def _results_not_object(tmp_path: Path) -> Path:
    run = _good(tmp_path)
    (run / "results.json").write_text("[1, 2, 3]")
    return run


REJECTIONS = [
    (_make_empty, r"results\.json: missing"),
    (_non_json, "invalid JSON"),
    (_wrong_schema, "schema_version 2 is not supported"),
    (_truncated_results, "invalid JSON"),
    (_truncated_samples_midline, "last line has no newline"),
    (_samples_missing_line, r"3 samples but results\.json says n=4"),
    (_samples_missing, r"samples\.jsonl: missing"),
    (_huge_samples, "104,857,600 bytes is over the limit"),
    (_huge_results, "104,857,600 bytes is over the limit"),
    (_traversal_run_id, "path traversal"),
    (_absolute_run_id, "path traversal"),
    (_control_char_run_id, "control characters"),
    (_symlinked_results, "symbolic link"),
    (_fifo_samples, "not a regular file"),
    (_not_utf8, "not valid UTF-8"),
    (_bad_sample_column, "'unknown_metric' is not a metric of results.json"),
    (_duplicate_sample, "duplicate sample 'item000' seed 0"),
    (_results_not_object, "not a JSON object"),
]


@pytest.mark.parametrize("make,message", REJECTIONS, ids=[m.__name__.strip("_") for m, _ in REJECTIONS])
def test_rejected_runs_leave_the_store_untouched(tmp_path, store, make, message):
    run = make(tmp_path)
    before = _snapshot(store)
    with pytest.raises(LongbenchError, match=message):
        add_run(store, run)
    assert _snapshot(store) == before
    assert not (tmp_path / "outside").exists()


def test_duplicate_run_ids_are_rejected(tmp_path, store):
    first = _good(tmp_path, "a")
    dest = add_run(store, first)
    before = _snapshot(store)
    # the identical run again is a no-op (tests/test_cli_errors.py covers `eval --leaderboard` re-runs)
    assert add_run(store, first) == dest
    assert _snapshot(store) == before
    # a different run claiming the same id, even if stored under another directory name
    rid = json.loads((first / "results.json").read_text())["run_id"]
    entry = store / store_name(rid)
    entry.rename(store / "renamed-by-hand")
    before = _snapshot(store)
    other = _good(tmp_path, "b", model="someone-else", run_id=rid)
    with pytest.raises(LongbenchError, match="is already in the store at .*renamed-by-hand"):
        add_run(store, other)
    assert _snapshot(store) == before


def test_store_path_that_is_a_file_is_rejected(tmp_path):
    f = tmp_path / "store"
    f.write_text("x")
    with pytest.raises(LongbenchError, match="not a directory"):
        add_run(f, _good(tmp_path))
    assert f.read_text() == "x"


def test_cli_add(tmp_path, store):
    runner = CliRunner()
    res = runner.invoke(leaderboard, ["add", str(store), str(_good(tmp_path))])
    assert res.exit_code == 0, res.output
    assert Path(res.output.strip()).parent == store
    res = runner.invoke(leaderboard, ["add", str(store), str(_wrong_schema(tmp_path / "w"))])
    assert res.exit_code == 2
    assert "schema_version 2 is not supported" in res.output and "Traceback" not in res.output
