"""A run killed with SIGKILL resumes to identical results; sharded generation under accelerate."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

SLOW_GEN = r'''
import os, time
import numpy as np

def gen(prompts, seeds, **kw):
    out = []
    for p, s in zip(prompts, seeds):
        time.sleep(0.15)
        rng = np.random.default_rng(s)
        out.append(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
        marker = os.environ.get("LB_TEST_MARKER")
        if marker:
            with open(marker, "a") as f:
                f.write(f"{os.getpid()}\n")
    return out
'''

ENTRY = '''
import sys
from longbench.registry import METRICS
METRICS.register("brightness", "lb_fake_metric:Brightness")
import cli
sys.exit(cli.main())
'''


@pytest.fixture
def slow_env(fake_modules, tmp_path):
    (fake_modules / "lb_slow_gen.py").write_text(textwrap.dedent(SLOW_GEN))
    entry = fake_modules / "lb_entry.py"
    entry.write_text(textwrap.dedent(ENTRY))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake_modules), str(ROOT)]))
    return entry, env


def _cmd(entry, suite, out):
    return [sys.executable, str(entry), "eval", "--model", "python:lb_slow_gen:gen", "--suite", str(suite),
            "--metric", "brightness", "--output", str(out), "--batch-size", "1", "--no-progress", "--json"]


def _in_process_reference(suite, out):
    from longbench.runner import EvalConfig, run_eval

    (o,) = run_eval(EvalConfig(models=["python:lb_slow_gen:gen"], suite=str(suite), metrics=["brightness"],
                               output=str(out), batch_size=1))
    return json.loads(json.dumps(o.results["metrics"]))


def test_sigkill_at_random_points_then_resume(slow_env, tmp_path):
    from tests.conftest import TINY_ITEMS, write_suite

    entry, env = slow_env
    items = [dict(it, id=f"{it['id']}{k}") for k in range(2) for it in TINY_ITEMS]  # 10 items
    suite = write_suite(tmp_path / "s.jsonl", items)
    out = tmp_path / "runs"
    marker = tmp_path / "marker"
    rng = random.Random(1234)
    for _ in range(2):
        marker.write_text("")
        target = rng.randint(1, 4)  # kill after a random number of newly generated images
        proc = subprocess.Popen(_cmd(entry, suite, out), env=dict(env, LB_TEST_MARKER=str(marker)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while len(marker.read_text().split()) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(rng.random() * 0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not list(out.rglob("results.json")), "a killed run must not leave results"
    final = subprocess.run(_cmd(entry, suite, out), env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    resumed = json.loads(final.stdout)[0]
    assert 0 < resumed["timings"]["images_cached"] < 10
    assert resumed["metrics"] == _in_process_reference(suite, tmp_path / "clean")
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    for png in out.rglob("*.png"):
        Image.open(png).load()  # every cached image is complete


@pytest.mark.slow
def test_two_processes_shard_generation(slow_env, tmp_path):
    from tests.conftest import TINY_ITEMS, write_suite

    entry, env = slow_env
    suite = write_suite(tmp_path / "s.jsonl", TINY_ITEMS)
    # torchrun starts the 2 processes (accelerate's launcher runs a single process with --cpu); the
    # runner joins them through accelerate's PartialState (gloo).
    marker = tmp_path / "marker"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
           str(entry), *_cmd(entry, suite, tmp_path / "multi")[2:]]
    multi = subprocess.run(cmd, env=dict(env, LB_TEST_MARKER=str(marker)), capture_output=True, text=True,
                           timeout=300)
    assert multi.returncode == 0, multi.stderr[-2000:]
    pids = marker.read_text().split()
    assert len(pids) == 5 and len(set(pids)) == 2, "each process generates its own shard"
    results = list((tmp_path / "multi").rglob("results.json"))
    assert len(results) == 1
    got = json.loads(results[0].read_text())
    assert got["metrics"] == _in_process_reference(suite, tmp_path / "single") and got["n"] == 5
