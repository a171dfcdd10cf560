"""CLI: exit codes, one-line errors, nothing half-written, lazy imports, encode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(args, **kw):
    return CliRunner().invoke(main, args, catch_exceptions=False, **kw)


def test_help_does_not_import_torch():
    code = ("import sys, cli; from click.testing import CliRunner; r = CliRunner().invoke(cli.main, ['--help']); "
            "assert r.exit_code == 0, r.output; assert 'eval' in r.output and 'train' in r.output; "
            "print(sorted(m for m in ('torch', 'transformers', 'diffusers', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def _eval_args(suite, out, *extra):
    return ["eval", "--model", "python:lb_fake_gen:gen", "--suite", str(suite), "--metric", "brightness",
            "--output", str(out), "--no-progress", *extra]


def test_eval_table_and_fail_under_exit_codes(fake_modules, tiny_suite, tmp_path):
    r = run(_eval_args(tiny_suite, tmp_path / "runs"))
    assert r.exit_code == 0, r.output
    assert "brightness ↑" in r.output and "darkness ↓" in r.output
    results = json.loads(next((tmp_path / "runs" / "tiny").glob("*/results.json")).read_text())
    value = results["metrics"]["brightness"]["value"]
    assert run(_eval_args(tiny_suite, tmp_path / "runs", "--fail-under", f"brightness={value - 0.01}")).exit_code == 0
    r = run(_eval_args(tiny_suite, tmp_path / "runs", "--fail-under", f"brightness={value + 0.01}"))
    assert r.exit_code == 1 and "FAIL" in r.output
    r = run(_eval_args(tiny_suite, tmp_path / "runs", "--fail-under", "darkness=0.01"))
    assert r.exit_code == 1
    r = run(_eval_args(tiny_suite, tmp_path / "runs", "--fail-under", "bogus=1"))
    assert r.exit_code == 2 and "no such metric column" in r.output


@pytest.mark.parametrize("extra,msg", [
    (["--limit", "0"], "--limit must be >= 1"),
    (["--model", "nosuch:x"], "unknown model kind 'nosuch'"),
    (["--metric", "brightnes"], "did you mean 'brightness'"),
    (["--fail-under", "brightness"], "expected KEY=VALUE"),
    (["--fail-under", "brightness=high"], "is not a number"),
    (["--metric-arg", "noseparator=1"], "expected METRIC.KEY=VALUE"),
])
def test_bad_usage_is_one_line_exit_2(fake_modules, tiny_suite, tmp_path, extra, msg):
    r = run(_eval_args(tiny_suite, tmp_path / "runs", *extra))
    assert r.exit_code == 2
    assert msg in r.output
    assert len([ln for ln in r.output.splitlines() if ln.startswith("error:")]) == 1
    assert not (tmp_path / "runs" / "tiny").exists()


def _suite_file(tmp_path, content: bytes) -> Path:
    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    return p


@pytest.mark.parametrize("content,msg", [
    (b'{"id": "a", "prompt": "ok"}\n{"id": "b", "prompt": \n', "bad.jsonl:2: invalid JSON"),
    (b'{"id": "a", "prompt": "   "}\n', "empty or missing prompt"),
    (b'{"id": "a", "prompt": "' + b"word " * 5000 + b'"}\n', "over the 20,000-character limit"),
    (b'{"id": "a", "prompt": "caf\xe9"}\n', "bad.jsonl:1: not valid UTF-8"),
    (b'{"id": "../x", "prompt": "hi"}\n', "invalid id '../x'"),
    (b'{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n', "duplicate item id 'a'"),
    (b"", "file is empty"),
])
def test_bad_suite_files(fake_modules, tmp_path, content, msg):
    r = run(_eval_args(_suite_file(tmp_path, content), tmp_path / "runs"))
    assert r.exit_code == 2 and msg in r.output, r.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("results.json"))


def test_images_dir_errors_and_thresholds(fake_modules, tiny_suite, tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i, item in enumerate("abcd"):
        Image.new("RGB", (16, 16), (200, 200, 200)).save(d / f"{item}.png")
    r = run(["eval", "--model", f"images:{d}", "--suite", str(tiny_suite), "--metric", "brightness",
             "--output", str(tmp_path / "runs"), "--no-progress"])
    assert r.exit_code == 2 and "no image for 1 of 5 items: e" in r.output
    Image.new("L", (15, 9), 200).save(d / "e.png")
    base = ["eval", "--model", f"images:{d}", "--suite", str(tiny_suite), "--metric", "brightness",
            "--output", str(tmp_path / "runs"), "--no-progress"]
    assert run(base + ["--fail-under", "brightness=0.7"]).exit_code == 0
    assert run(base + ["--fail-under", "brightness=0.8"]).exit_code == 1


def test_encode_json_and_table():
    prompt = "A cat sits. " + "A very long sentence with many many words, commas, and clauses " * 8 + "."
    r = run(["encode", prompt, "--json"])
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert all(not s["over_77"] for s in data["segments"]) and data["prompt_tokens"] > 77
    r = run(["encode", prompt, "--splitter", "longalign"])
    assert r.exit_code == 0 and "> 77" in r.output
    assert run(["encode", "   "]).exit_code == 2


def test_cli_subprocess_exit_codes(tmp_path):
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "cli", "eval", "--model", "bogus:x", "--output", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: unknown model kind 'bogus'")
    assert len(out.stderr.strip().splitlines()) == 1


def test_compare_to_gate_and_leaderboard_store(fake_modules, tiny_suite, tmp_path):
    out = tmp_path / "runs"
    assert run(_eval_args(tiny_suite, out)).exit_code == 0
    baseline_file = next((out / "tiny").glob("*/results.json"))
    baseline = json.loads(baseline_file.read_text())
    # A baseline that was better by 0.1: a 0.05 allowance is a regression (exit 1), 0.2 is not.
    baseline["metrics"]["brightness"]["value"] += 0.1
    better = tmp_path / "baseline.json"
    better.write_text(json.dumps(baseline))
    r = run(_eval_args(tiny_suite, out, "--compare-to", str(better), "--max-regression", "brightness=0.05"))
    assert r.exit_code == 1
    summary = next((out / "tiny").glob("*/summary.md")).read_text()
    assert "brightness" in summary
    r = run(_eval_args(tiny_suite, out, "--compare-to", str(better), "--max-regression", "brightness=0.2",
                       "--leaderboard", str(tmp_path / "store")))
    assert r.exit_code == 0
    assert list((tmp_path / "store").rglob("results.json"))
    r = run(_eval_args(tiny_suite, out, "--compare-to", str(better), "--max-regression", "nope=1"))
    assert r.exit_code == 2 and "unknown metric 'nope'" in r.output
    r = run(_eval_args(tiny_suite, out, "--max-regression", "brightness=1"))
    assert r.exit_code == 2 and "needs --compare-to" in r.output
