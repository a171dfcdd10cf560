"""A training stage added from outside the package through the ``longbench.stages`` entry point group.

The plugin (``tests/plugins/toy_stage.py``) is made installed the way pip would: a ``*.dist-info`` with an
``entry_points.txt`` on the path of a fresh interpreter, so the stage registry finds it by itself.
"""

from __future__ import annotations

import json
from pathlib import Path

from longalign.stages import BUILTIN
from tests.helpers_plugins import install_plugin, run_with_plugins

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
    site = install_plugin(tmp_path / "site", "toy-stage-plugin", {"longbench.stages": {"toy": "toy_stage:ToyStage"}})
    out = run_with_plugins(SCRIPT, [str(tmp_path)], site, cwd=tmp_path)

    assert out["names"] == sorted([*BUILTIN, "toy"])
    assert "|".join(sorted([*BUILTIN, "toy"])) in out["help"].replace("\n", "").replace(" ", "")
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
