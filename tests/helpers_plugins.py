"""Run code in a fresh interpreter where plugins are installed the way pip installs them.

A plugin registers through entry points (``docs/architecture.md``, "Adding a component"). Python finds them
in the ``entry_points.txt`` of a ``*.dist-info`` folder on ``sys.path``, so writing such a folder and putting it
on the ``PYTHONPATH`` of a new interpreter is an installed plugin, without pip and without touching the
environment of the test process (whose registries have already read their entry points).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: the folder of the example plugins (modules outside the package)
PLUGINS = ROOT / "tests" / "plugins"


def install_plugin(site: Path, name: str, entry_points: Mapping[str, Mapping[str, str]]) -> Path:
    """Write the ``*.dist-info`` of a distribution ``name`` declaring ``entry_points`` (group → {entry name:
    ``"module:attr"``}) into ``site``; returns ``site``, to be put on the path."""
    dist = site / f"{name.replace('-', '_')}-0.1.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", encoding="utf-8")
    text = "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
                   for group, eps in entry_points.items())
    (dist / "entry_points.txt").write_text(text, encoding="utf-8")
    return site


def run_with_plugins(script: str, args: Sequence[str], site: Path, cwd: Path, timeout: float = 300) -> dict[str, Any]:
    """Run ``python -c script args...`` with ``site`` and the plugin modules on its path (one torch thread, no
    distributed launch inherited); ``script`` prints one line ``RESULT <json>``, which is returned."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(PLUGINS), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          check=False, timeout=timeout, cwd=cwd)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1][len("RESULT "):])
