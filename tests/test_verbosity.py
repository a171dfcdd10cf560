"""Quiet by default: a run prints no library progress bars or warnings (above all not the tokenizer's
"Token indices sequence length is longer than the specified maximum sequence length"); -v restores them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOISE = ("Loading weights", "Loading pipeline components", "Writing model shards", "Token indices sequence length",
         "it/s]", "UserWarning", "FutureWarning")


def test_default_run_is_quiet_and_verbose_is_not(tiny_sd_dir: Path, tmp_path: Path) -> None:
    """A real subprocess eval of a tiny diffusers pipeline on synth-v0, whose first prompt is 141 tokens long."""
    args = ["eval", "--model", f"diffusers:{tiny_sd_dir}", "--suite", "synth-v0", "--limit", "1", "--model-arg",
            "steps=1", "--model-arg", "height=32", "--model-arg", "width=32", "--no-progress", "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "cli", *flags, *args, "--output", str(tmp_path / name)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
             for name, flags in (("quiet", []), ("loud", ["-v"]))]  # side by side: half the wall time
    (q_out, q_err), (_, l_err) = (p.communicate(timeout=600) for p in procs)
    assert [p.returncode for p in procs] == [0, 0], (q_err[-3000:], l_err[-3000:])
    assert json.loads(q_out)[0]["n"] == 1
    assert [n for n in NOISE if n in q_err] == [], q_err[-3000:]
    # the same run with -v shows what the default hides (so the check above can fail)
    assert "Token indices sequence length" in l_err and "Loading pipeline components" in l_err


def test_settings_reach_libraries_imported_later() -> None:
    """configure() before the libraries are imported (the CLI's order) and after (in-process callers).
    transformers and the hub only (diffusers, which imports torch, is covered by the run above)."""
    code = """
import logging, sys, warnings
from longbench import verbosity
verbosity.configure(0)
assert "transformers" not in sys.modules and "huggingface_hub" not in sys.modules
import huggingface_hub.utils as hub
import transformers.utils.logging as tl
state = lambda: (tl.get_verbosity(), tl.is_progress_bar_enabled(), hub.are_progress_bars_disabled(),
                 logging.getLogger("peft").level)
def peft_warning_shown():
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit("LoRA chatter", UserWarning, "layer.py", 1, module="peft.tuners.lora.layer")
    return bool(caught)
assert state() == (logging.ERROR, False, True, logging.ERROR), state()
assert not peft_warning_shown()
verbosity.configure(1)
assert state() == (logging.WARNING, True, False, logging.NOTSET), state()
assert peft_warning_shown()
verbosity.configure(0)
assert state() == (logging.ERROR, False, True, logging.ERROR) and not peft_warning_shown()
assert "torch" not in sys.modules  # nothing heavy was imported to configure them
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_HUB_DISABLE", "TRANSFORMERS_", "DIFFUSERS_"))}
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT,
                         env={**env, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
