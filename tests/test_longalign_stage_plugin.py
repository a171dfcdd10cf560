"""A training stage added from outside the package through the ``longbench.stages`` entry point group.

The plugin (``tests/plugins/toy_stage.py``) is made installed the way pip would: a ``*.dist-info`` with an
``entry_points.txt`` on the path of a fresh interpreter, so the stage registry finds it by itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
from click.testing import CliRunner
from longalign.commands import train
from longalign.stages import STAGES

out = {"names": STAGES.names()}
r = CliRunner().invoke(train, ["--help"])
out["help"] = r.output
r = CliRunner().invoke(train, ["--stage", "toy", "--set", "toy.n=0", "--output", sys.argv[1] + "/bad"])
out["bad"] = [r.exit_code, r.output]
r = CliRunner().invoke(train, ["--stage", "toy", "--set", "toy.slope=3", "--set", "train.max_steps=40",
                               "--no-progress", "--output", sys.argv[1] + "/run"])
out["run"] = [r.exit_code, r.output, repr(r.exception)]
print("RESULT " + json.dumps(out))
"""


def test_plugin_stage_registers_checks_and_trains(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = site / "toy_stage_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-stage-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[longbench.stages]\ntoy = toy_stage:ToyStage\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT / "tests" / "plugins"), str(ROOT)]),
           "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True,
                          check=False, timeout=300, cwd=tmp_path)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, proc.stdout + proc.stderr
    out = json.loads(lines[0][len("RESULT "):])

    assert out["names"] == sorted(["align", "lcm", "reward", "reward-lcm", "denscore", "toy"])
    assert "reward-lcm|toy]" in out["help"].replace("\n", "").replace(" ", "")
    # the stage's own check ran, through the trainer's error mapping (one line, exit 2)
    assert out["bad"][0] == 2 and "config: toy.n=0 must lie in [1, inf)" in out["bad"][1], out["bad"]
    assert out["run"][0] == 0, out["run"]
    run = tmp_path / "run"
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 41))
    # y = 3x from a random start in [-1, 1]: AdamW at lr 0.1 moves the weight by about 0.1 a step, so 40 steps
    # reach the neighbourhood of 3 from any start (bounds loose enough for any start and thread count)
    assert log[-1]["loss"] < 0.1 * log[0]["loss"]
    final = json.loads((run / "final" / "toy.json").read_text())
    assert final["step"] == 40 and abs(final["weight"] - 3.0) < 0.5
    import yaml

    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["stage"] == "toy" and saved["toy"] == {"n": 16, "slope": 3.0}
    assert (run / "state" / "trainer.json").is_file()
