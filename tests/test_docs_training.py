"""docs/training.md's miniature run: the marked code block, command by command, through the real CLI.

The commands run as written, in a scratch directory holding a copy of ``docs/examples``; to keep the test
short, each ``train --stage`` command gets ``--set train.max_steps=3`` appended and ``eval`` gets
``--model-arg steps=2`` (the doc's own run — 100 steps, 25 sampling steps — is timed in the doc).
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers_longalign import one_thread

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- miniature-run"


@pytest.fixture(autouse=True)
def _threads():
    yield from one_thread()


def doc_commands() -> list[list[str]]:
    text = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    start = text.index("```bash\n", text.index(MARKER)) + len("```bash\n")
    block = text[start:text.index("```", start)]
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_doc_block_is_the_documented_run():
    commands = doc_commands()
    assert [c[:3] for c in commands] == [["longbench", "train", "make-tiny-base"], ["longbench", "train", "--stage"],
                                         ["longbench", "eval", "--model"]]
    cfg = commands[1][commands[1].index("--config") + 1]
    from longalign.config import load_config

    loaded = load_config("align", ROOT / cfg)
    assert loaded.model.base == commands[0][3] and loaded.train.max_steps == 100 and loaded.data.format == "synth"


def test_miniature_run_from_the_docs(tmp_path, monkeypatch):
    from cli import main

    shutil.copytree(ROOT / "docs" / "examples", tmp_path / "docs" / "examples")
    monkeypatch.chdir(tmp_path)
    for argv in doc_commands():
        args = argv[1:]
        if args[:2] == ["train", "--stage"]:
            args += ["--set", "train.max_steps=3", "--no-progress"]
        if args[0] == "eval":
            args += ["--model-arg", "steps=2", "--no-progress"]
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, (argv, r.output, r.exception)
    manifest = json.loads((tmp_path / "runs/mini/align/final/manifest.json").read_text())
    assert manifest["stage"] == "align" and manifest["step"] == 3 and manifest["encoder"]["token_length"] == 154
    results = list((tmp_path / "runs/mini/eval").rglob("results.json"))
    assert len(results) == 1 and json.loads(results[0].read_text())["n"] == 8
