"""Exit codes and error messages of every command group (one mapping: ``longbench.cli_support``).

0 ok · 1 only a gate · 2 bad usage / bad input / an unwritable or missing path (one ``error:`` line) ·
3 an internal error (one line; the traceback only with ``--debug``) · 130 interrupted. Also: the one JSON
reader (deep nesting, BOM, line limit decided alike everywhere), the one image opener (decompression
bombs), and flags checked before anything is generated.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from longbench.errors import LongbenchError
from tests.conftest import TINY_ITEMS, write_suite
from tests.helpers_leaderboard import make_run

ROOT = Path(__file__).resolve().parents[1]
DEEP = "[" * 200_000  # the nesting of the report: CPython's parser raises RecursionError on it


def run(args: list[str]):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(r, code: int = 2) -> str:
    """The single ``error:`` line of a failed command (CliRunner result or CompletedProcess)."""
    rc = r.exit_code if hasattr(r, "exit_code") else r.returncode
    err = r.stderr
    assert rc == code, (rc, r.output if hasattr(r, "output") else err)
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "Traceback (most recent call last)" not in err
    assert not any(x.startswith("Error:") for x in err.splitlines())
    return lines[0]


def cli_subprocess(*args: str, patch: str = "") -> subprocess.CompletedProcess:
    """``longbench ARGS`` as a real process; ``patch`` is Python run first (to inject a bug)."""
    code = f"{patch}\nimport cli\ncli.main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False)


# ------------------------------------------------------------------------------------------- internal errors
BUG = "import longbench.runner as r\ndef _bug(*a, **k):\n    return {}['missing']\nr.run_eval = _bug"


def test_a_bug_exits_3_with_one_line_and_the_traceback_only_with_debug(tmp_path):
    r = cli_subprocess("eval", "--suite", "synth-v0", "--output", str(tmp_path / "o"), "--no-progress", patch=BUG)
    assert one_error_line(r, 3) == ("error: internal error (KeyError: 'missing'); this is a bug in longbench "
                                    "(run with --debug for the traceback)")
    r = cli_subprocess("--debug", "eval", "--suite", "synth-v0", "--output", str(tmp_path / "o"), "--no-progress",
                       patch=BUG)
    assert r.returncode == 3
    assert "Traceback (most recent call last)" in r.stderr and "in _bug" in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: internal error (KeyError: 'missing'); this is a bug in longbench"


@pytest.mark.parametrize("argv, target", [
    (["leaderboard", "build", "{run}", "--out", "{tmp}/lb"], "leaderboard.build.build_leaderboard"),
    (["leaderboard", "compare", "{run}", "{run}"], "leaderboard.gate.compare"),
    (["suites", "stats", "{suite}"], "longbench.suites.stats.suite_stats"),
    (["suites", "validate", "{suite}"], "longbench.suites.schema.validate_file"),
])
def test_every_group_maps_a_bug_to_exit_3(tmp_path, monkeypatch, argv, target):
    import importlib

    module, attr = target.rsplit(".", 1)

    def bug(*a, **k):
        raise AttributeError("'NoneType' object has no attribute 'x'")

    monkeypatch.setattr(importlib.import_module(module), attr, bug)
    rundir = make_run(tmp_path / "run", "synth:a", {"denscore": [1.0, 2.0]})
    suite = write_suite(tmp_path / "s.jsonl", TINY_ITEMS)
    args = [a.format(run=rundir, tmp=tmp_path, suite=suite) for a in argv]
    line = one_error_line(run(args), 3)
    assert line.startswith("error: internal error (AttributeError: 'NoneType' object has no attribute 'x')")


def test_the_trainer_command_run_alone_uses_the_same_mapping(tmp_path, monkeypatch):
    from longalign import commands

    def bug(*a, **k):
        raise IndexError("list index out of range")

    monkeypatch.setattr(commands, "run_training", bug)
    r = CliRunner().invoke(commands.train, ["--stage", "align"])
    assert one_error_line(r, 3).startswith("error: internal error (IndexError: list index out of range)")


def test_ctrl_c_exits_130_not_1(tmp_path, monkeypatch):
    from longbench import runner

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_eval", interrupted)
    assert run(["eval", "--suite", "synth-v0", "--output", tmp_path / "o", "--no-progress"]).exit_code == 130


# --------------------------------------------------------------------------------------------- one style
def test_usage_and_input_errors_use_one_lowercase_style(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    r = cli_subprocess("leaderboard", "compare", str(bad), str(bad))
    assert one_error_line(r) == f"error: {bad}:1: invalid JSON (Expecting property name enclosed in double quotes at column 2)"
    r = cli_subprocess("leaderboard", "add", str(tmp_path / "store"), str(tmp_path))
    assert one_error_line(r).startswith(f"error: {tmp_path / 'results.json'}: missing")
    # click's usage errors: the usage line and hint, then the same `error:` line (never `Error:`)
    r = cli_subprocess("leaderboard", "build", "--zzz")
    assert r.returncode == 2 and "Error:" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: No such option '--zzz'."
    assert r.stderr.startswith("Usage: ")
    r = cli_subprocess("suites", "show")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == "error: Missing argument 'SPEC'."


def test_a_closed_output_pipe_is_not_a_failed_gate(tmp_path):
    suite = write_suite(tmp_path / "s.jsonl", TINY_ITEMS)
    for argv in (["suites", "show", str(suite)], ["suites", "validate", str(suite)]):
        p = subprocess.Popen([sys.executable, "-m", "cli", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        p.stdout.close()  # like `| head -0`: the reader is gone before anything is written
        _, err = p.communicate(timeout=120)
        assert (p.returncode, err.decode()) == (141, ""), argv


def test_os_errors_are_exit_2_naming_the_path():
    from longbench.cli_support import EXIT_BAD_INPUT, classify

    assert classify(PermissionError(13, "Permission denied", "/data/out.png")) == (
        EXIT_BAD_INPUT, "/data/out.png: Permission denied")
    assert classify(OSError(18, "Invalid cross-device link", "/a", None, "/b")) == (
        EXIT_BAD_INPUT, "/a -> /b: Invalid cross-device link")
    assert classify(LongbenchError("two\nlines")) == (EXIT_BAD_INPUT, "two lines")


# -------------------------------------------------------------------------------------- unwritable outputs
def _blocked(tmp_path: Path) -> list[tuple[str, Path]]:
    """Output locations that cannot be written: under a regular file, and (when permissions apply to this
    user: not root) inside a read-only directory."""
    f = tmp_path / "a-file"
    f.write_text("x")
    cases = [("under-a-file", f / "out")]
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    if not os.access(ro, os.W_OK):
        cases.append(("read-only", ro / "out"))
    return cases


@pytest.mark.parametrize("which", ["stats --plot", "import --out", "build --out", "add STORE", "compare --markdown",
                                   "train --output", "eval --output", "eval --leaderboard"])
def test_unwritable_outputs_are_one_line_exit_2_before_any_work(fake_modules, tmp_path, which):
    suite = write_suite(tmp_path / "s.jsonl", TINY_ITEMS)
    prompts = tmp_path / "p.txt"
    prompts.write_text("A cat.\nA dog.\n")
    rundir = make_run(tmp_path / "run", "synth:a", {"denscore": [1.0, 2.0]})
    train_sets = ["--set", f"model.base={tmp_path}", "--set", f"data.path={tmp_path}"]
    for label, bad in _blocked(tmp_path):
        argv = {
            "stats --plot": ["suites", "stats", suite, "--plot", bad / "h.png"],
            "import --out": ["suites", "import", "txt", prompts, "--out", bad / "s.jsonl"],
            "build --out": ["leaderboard", "build", rundir, "--out", bad, "--no-plots"],
            "add STORE": ["leaderboard", "add", bad, rundir],
            "compare --markdown": ["leaderboard", "compare", rundir, rundir, "--markdown", bad / "s.md"],
            "train --output": ["train", "--stage", "align", "--output", bad, *train_sets],
            "eval --output": ["eval", "--model", "python:lb_fake_gen:gen", "--suite", suite, "--metric", "brightness",
                              "--output", bad, "--no-progress"],
            "eval --leaderboard": ["eval", "--model", "python:lb_fake_gen:gen", "--suite", suite, "--metric",
                                   "brightness", "--output", tmp_path / "runs", "--leaderboard", bad, "--no-progress"],
        }[which]
        line = one_error_line(run(argv))
        assert line.startswith(f"error: {which.split()[-1]} {bad}"), (label, line)  # names the flag and the path
        assert not (tmp_path / "runs").exists()  # eval --leaderboard: nothing generated
    import lb_fake_gen

    assert lb_fake_gen.CALLS == []


def test_check_writable_names_the_flag_and_the_path_at_fault(tmp_path, monkeypatch):
    from longbench.fileio import check_writable

    f = tmp_path / "f"
    f.write_text("x")
    d = tmp_path / "d"
    d.mkdir()
    assert check_writable(tmp_path / "new" / "deeper", "--output", directory=True) == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    cases = [((f, "--output", True), f"--output {f}: exists and is not a directory"),
             ((d, "--out", False), f"--out {d}: is a directory, expected a file"),
             ((f / "x" / "y.png", "--plot", False), f"--plot {f / 'x' / 'y.png'}: {f} is not a directory")]
    for (path, flag, directory), message in cases:
        with pytest.raises(LongbenchError) as ei:
            check_writable(path, flag, directory=directory)
        assert str(ei.value) == message
    # a read-only directory (simulated: permissions do not bind root, who may run this test)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == d else real_access(p, mode))
    with pytest.raises(LongbenchError) as ei:
        check_writable(d / "out", "--leaderboard", directory=True)
    assert str(ei.value) == f"--leaderboard {d / 'out'}: cannot write in {d} (permission denied or read-only file system)"


# ----------------------------------------------------------------------------------- python: models raising
def test_a_python_model_that_raises_is_exit_2_naming_the_spec(fake_modules, tmp_path, monkeypatch):
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "lb_raiser.py").write_text("def gen(prompts, seeds):\n    raise ValueError('no GPU\\nfound')\n")
    (mods / "lb_broken.py").write_text("raise RuntimeError('broken at import')\n")
    monkeypatch.syspath_prepend(str(mods))
    suite = write_suite(tmp_path / "s.jsonl", TINY_ITEMS)
    base = ["eval", "--suite", suite, "--output", tmp_path / "runs", "--no-progress", "--metric", "brightness"]
    line = one_error_line(run([*base, "--model", "python:lb_raiser:gen"]))
    assert line == "error: python:lb_raiser:gen raised ValueError: no GPU found"
    line = one_error_line(run([*base, "--model", "python:lb_broken:gen"]))
    assert line == "error: python:lb_broken:gen: importing the module raised RuntimeError: broken at import"


def test_a_python_model_calling_sys_exit_is_exit_2_not_a_gate(fake_modules, tmp_path, monkeypatch):
    # sys.exit(1) in the user's function (or at import, e.g. argparse) would otherwise exit 1: "a gate failed"
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "lb_exiter.py").write_text("import sys\ndef gen(prompts, seeds):\n    sys.exit(1)\n")
    (mods / "lb_exit_at_import.py").write_text("import sys\nsys.exit('usage: gen.py --out DIR')\n")
    monkeypatch.syspath_prepend(str(mods))
    suite = write_suite(tmp_path / "s.jsonl", TINY_ITEMS)
    base = ["eval", "--suite", suite, "--output", tmp_path / "runs", "--no-progress", "--metric", "brightness"]
    line = one_error_line(run([*base, "--model", "python:lb_exiter:gen"]))
    assert line == "error: python:lb_exiter:gen raised SystemExit: 1"
    line = one_error_line(run([*base, "--model", "python:lb_exit_at_import:gen"]))
    assert line == "error: python:lb_exit_at_import:gen: importing the module raised SystemExit: usage: gen.py --out DIR"


def test_a_python_judge_that_raises_or_exits_is_exit_2_naming_the_judge(tmp_path, monkeypatch):
    # the same contract as a python: model: the user's callable failing is bad input (2), not a bug (3) or a gate (1)
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "lb_judges.py").write_text("import sys\ndef boom(images, questions):\n    raise ValueError('no VLM')\n"
                                       "def leave(images, questions):\n    sys.exit(1)\n")
    (mods / "lb_judge_broken.py").write_text("raise RuntimeError('broken at import')\n")
    monkeypatch.syspath_prepend(str(mods))
    base = ["eval", "--suite", "synth-v0", "--model", "synth:clip77", "--limit", "1", "--metric", "vqa", "--output", tmp_path / "runs",
            "--no-progress", "--metric-arg"]
    line = one_error_line(run([*base, "vqa.judge=python:lb_judges:boom"]))
    assert line == "error: vqa: judge python:lb_judges:boom raised ValueError: no VLM"
    line = one_error_line(run([*base, "vqa.judge=python:lb_judges:leave"]))
    assert line == "error: vqa: judge python:lb_judges:leave raised SystemExit: 1"
    line = one_error_line(run([*base, "vqa.judge=python:lb_judge_broken:f"]))
    assert line == ("error: vqa: judge python:lb_judge_broken:f: importing the module raised RuntimeError: "
                    "broken at import")


# ----------------------------------------------------------------------------------------- image bombs
def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A tiny PNG file that claims ``width``×``height`` pixels (what a decompression bomb looks like)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("size", [(30000, 30000), (10000, 10000)])  # over 2× PIL's limit (error) / over 1× (warning)
def test_decompression_bombs_are_refused_wherever_images_are_opened(tmp_path, size):
    from PIL import Image

    from longbench.images import open_image

    bomb = _png_header_only(tmp_path / "bomb.png", *size)
    with pytest.raises(LongbenchError, match=rf"^{bomb}: image too large to decode safely \(Image size"):
        open_image(bomb)
    # the reference images of FID, the trainer's data, a cmd: model's output
    from longbench.metrics.fid_reference import read_reference_image

    with pytest.raises(LongbenchError, match="image too large"):
        read_reference_image(bomb, "a", "fid")
    from longalign.data.captions import load_image

    with pytest.raises(LongbenchError, match=r"^data.jsonl:3: image .*bomb.png: image too large"):
        load_image(str(bomb), 16, "data.jsonl:3")
    from longbench.models.command import CommandModel
    from tests.test_concurrency import _requests

    with pytest.raises(LongbenchError, match=r"^cmd: output of item 'it0': image too large"):
        CommandModel(f"cp {bomb} {{out}}").generate(_requests())
    # a cached image that turned into a bomb is regenerated, not decoded
    from longbench.cache import ImageCache

    cache = ImageCache(tmp_path / "cache", "model")
    [req] = _requests()
    cache.path(req).parent.mkdir(parents=True)
    cache.path(req).write_bytes(bomb.read_bytes())
    assert cache.load(req) is None
    assert Image.MAX_IMAGE_PIXELS == 89478485  # the limit the messages refer to (PIL's default, untouched)


def test_an_images_dir_with_a_bomb_is_exit_2_naming_the_file(fake_modules, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl", TINY_ITEMS[:2])
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    _png_header_only(imgs / "a.png", 30000, 30000)
    from PIL import Image

    Image.new("RGB", (8, 8)).save(imgs / "b.png")
    r = run(["eval", "--model", f"images:{imgs}", "--suite", suite, "--metric", "brightness", "--output",
             tmp_path / "runs", "--no-progress"])
    assert one_error_line(r).startswith(f"error: {imgs / 'a.png'}: image too large to decode safely")


# ------------------------------------------------------------------------------------- the one JSON reader
NESTED = "nested too deeply (more than 64 levels of arrays/objects)"


def test_deep_json_is_one_line_in_every_reader(fake_modules, tmp_path):
    deep_jsonl = tmp_path / "deep.jsonl"
    deep_jsonl.write_text(json.dumps(TINY_ITEMS[0]) + "\n\n" + DEEP + "\n")  # line 3
    deep_json = tmp_path / "deep.json"
    deep_json.write_text("\n" + DEEP)  # line 2
    ok = write_suite(tmp_path / "ok.jsonl", TINY_ITEMS)
    eval_args = ["eval", "--model", "python:lb_fake_gen:gen", "--metric", "brightness", "--output", tmp_path / "runs",
                 "--no-progress"]
    # suites validate: one FILE:LINE problem per line on stdout, exit 2
    r = run(["suites", "validate", deep_jsonl])
    assert r.exit_code == 2 and r.stdout.splitlines() == [f"{deep_jsonl}:3: {NESTED}"]
    assert one_error_line(run([*eval_args, "--suite", deep_jsonl])) == f"error: {deep_jsonl}:3: {NESTED}"
    assert one_error_line(run([*eval_args, "--suite", ok, "--compare-to", deep_json])) == f"error: {deep_json}:2: {NESTED}"
    rundir = make_run(tmp_path / "run", "synth:a", {"denscore": [1.0, 2.0]})
    assert one_error_line(run(["leaderboard", "compare", deep_json, rundir])) == f"error: {deep_json}:2: {NESTED}"
    assert one_error_line(run(["suites", "import", "jsonl", deep_jsonl, "--out", tmp_path / "x.jsonl"])) == \
        f"error: {deep_jsonl}:3: {NESTED}"
    assert one_error_line(run(["suites", "import", "longalign", deep_json, "--out", tmp_path / "x.jsonl"])) == \
        f"error: {deep_json}:2: {NESTED}"
    (rundir / "samples.jsonl").write_text(DEEP + "\n")
    assert one_error_line(run(["leaderboard", "add", tmp_path / "store", rundir])) == \
        f"error: {rundir / 'samples.jsonl'}:1: {NESTED}"
    assert one_error_line(run(["leaderboard", "build", rundir, "--out", tmp_path / "lb"])).endswith(f":1: {NESTED}")
    from longalign.data.tables import read_table

    for f, line in ((deep_jsonl, 3), (deep_json, 2)):
        with pytest.raises(LongbenchError, match=rf"^{f}:{line}: nested too deeply"):
            read_table(f)
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "store").exists()


def test_deep_yaml_config_is_one_line_too(tmp_path):
    cfg = tmp_path / "deep.yaml"
    cfg.write_text(DEEP)
    assert one_error_line(run(["train", "--stage", "align", "--config", cfg])) == \
        f"error: {cfg}: invalid YAML (nested too deeply)"
    assert one_error_line(run(["train", "--stage", "align", "--set", "train.seed=" + "[" * 5000])) == \
        "error: --set train.seed: the value is nested too deeply"


def test_nesting_that_parses_but_is_too_deep_is_refused_too(tmp_path):
    from longbench import jsonio

    item = dict(TINY_ITEMS[0], meta={"x": json.loads("[" * 70 + "]" * 70)})
    f = write_suite(tmp_path / "s.jsonl", [item])
    with pytest.raises(LongbenchError) as ei:
        jsonio.read_jsonl(f)
    assert str(ei.value) == f"{f}:2: {NESTED}"
    assert jsonio.loads("[" * 64 + "]" * 64, "x") is not None  # 64 levels are fine
    with pytest.raises(LongbenchError, match=r"^x:1: invalid JSON \(Exceeds the limit"):
        jsonio.loads("1" * 5000, "x")  # more digits than int() converts: ValueError, not a crash


def test_validate_and_eval_decide_alike_on_bom_and_long_lines(tmp_path):
    from longbench.suites.loaders import load_suite
    from longbench.suites.schema import validate_file

    plain = write_suite(tmp_path / "plain.jsonl", TINY_ITEMS)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes().replace(b"\n", b"\r\n"))
    assert validate_file(bom) == []  # accepted by validate ...
    assert load_suite(str(bom)).sha256 == load_suite(str(plain)).sha256  # ... and by eval, as the same suite
    # a line over 1 MiB whose prompt is also over the prompt limit: the line limit speaks first, for both
    big = tmp_path / "big.jsonl"
    line = json.dumps({"id": "big", "prompt": "word " * 250_000})
    big.write_text(json.dumps(TINY_ITEMS[0]) + "\n" + line + "\n")
    message = f"line is {len(line):,} bytes, over the 1,048,576-byte limit for one line"
    assert [str(p) for p in validate_file(big)] == [f"{big}:2: {message}"]
    with pytest.raises(LongbenchError) as ei:
        load_suite(str(big))
    assert str(ei.value) == f"{big}:2: {message}"


# ------------------------------------------------------------------------------ flags before expensive work
def test_gate_columns_are_checked_before_anything_is_generated(fake_modules, tmp_path):
    import lb_fake_gen

    suite = write_suite(tmp_path / "s.jsonl", TINY_ITEMS)
    base = ["eval", "--model", "python:lb_fake_gen:gen", "--suite", suite, "--metric", "brightness",
            "--output", tmp_path / "runs", "--no-progress"]
    line = one_error_line(run([*base, "--fail-under", "brightnes=0.5"]))
    assert line == ("error: --fail-under brightnes: no such metric column; did you mean 'brightness'? "
                    "(the metrics of this run report: brightness, darkness)")
    baseline = make_run(tmp_path / "baseline", "synth:a", {"denscore": [1.0, 2.0]})
    line = one_error_line(run([*base, "--compare-to", baseline / "results.json", "--max-regression", "denscore=1"]))
    assert line.startswith("error: --max-regression denscore: no such metric column")
    line = one_error_line(run([*base, "--fail-under", "brightness=nan"]))
    assert line == "error: --fail-under brightness=nan: the threshold must be a finite number"
    assert lb_fake_gen.CALLS == [] and not (tmp_path / "runs").exists()
    r = run([*base, "--fail-under", "darkness=1"])  # a column the metric declares: runs, gate passes
    assert r.exit_code == 0, r.output
    assert lb_fake_gen.CALLS


def test_rerunning_an_eval_into_its_leaderboard_is_a_no_op(fake_modules, tmp_path):
    suite = write_suite(tmp_path / "s.jsonl", TINY_ITEMS)
    store = tmp_path / "store"
    args = ["eval", "--model", "python:lb_fake_gen:gen", "--suite", suite, "--metric", "brightness",
            "--output", tmp_path / "runs", "--leaderboard", store, "--no-progress"]
    r = run(args)
    assert r.exit_code == 0 and "added to leaderboard: " in r.stderr
    [entry] = [p for p in store.iterdir() if not p.name.startswith(".")]
    before = {p.name: p.read_bytes() for p in entry.iterdir()}
    r = run([*args, "--batch-size", "2"])  # the same run again (other batches: same numbers)
    assert r.exit_code == 0, r.output
    assert f"already in leaderboard (identical run, nothing added): {entry}" in r.stderr
    assert {p.name: p.read_bytes() for p in entry.iterdir()} == before
    # a different run under the same id is still refused
    stored = json.loads((entry / "results.json").read_text())
    stored["metrics"]["brightness"]["value"] += 0.01
    (entry / "results.json").write_text(json.dumps(stored))
    r = run(args)  # (known only once the run has its numbers: the error comes after it)
    assert r.exit_code == 2
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "is already in the store at" in line and line.endswith("with different results")


def test_make_tiny_base_under_a_file_names_the_argument_and_builds_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = one_error_line(run(["train", "make-tiny-base", blocker / "base"]))
    assert line == f"error: DIRECTORY {blocker / 'base'}: {blocker} is not a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_world_model_without_suite_names_the_suite_to_add(tmp_path, monkeypatch):
    """Without --suite the default suite is one world's; another world's model says which --suite to add, in one
    line, before anything runs (it used to fail on the first item with an error about meta.scene)."""
    import cli
    from longbench.mini import zoo

    monkeypatch.setattr(zoo, "SHIPPED", True)  # default suite: the zoo's test split
    line = one_error_line(run(["eval", "--model", "synth:oracle", "--limit", "1", "--output", tmp_path / "runs"]))
    assert line == ("error: --model synth:oracle draws the synth world's scenes, but no --suite was given and the "
                    f"default suite is {zoo.suite_name()}; add --suite synth-v0")
    monkeypatch.setattr(zoo, "SHIPPED", False)  # default suite synth-v0
    line = one_error_line(run(["eval", "--model", "mini:oracle", "--limit", "1", "--output", tmp_path / "runs"]))
    assert line.endswith("the default suite is synth-v0; add --suite mini-v0")
    assert not (tmp_path / "runs").exists()
    cli.check_world_of_default_suite(("python:m:f", "diffusers:x", "synth:clip77"), "synth-v0")  # no world clash
