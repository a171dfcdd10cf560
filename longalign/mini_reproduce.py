"""``longbench train mini-reproduce``: train the miniature models in order with the project's own stages.

Each model is one ``longbench train`` run with a shipped config (``docs/examples/mini/<name>.yaml``); the
inputs of a run (the directories of earlier models) are passed as overrides, and ``--size smoke`` adds
the overrides of :data:`SMOKE` (a minutes-long run of the same code on the same architectures). The
output directory holds one run directory per model (``config.yaml``, ``log.jsonl``, ``final/``) and
``manifest.json``: per model the stage, the config file and its sha256, the overrides, the data seed,
the steps, the wall time, the check its stage ran on save, and the sha256 of every file of ``final/``.

Order: ``clip`` → ``vae`` → ``base`` (clip's text tower + the VAE + a fresh UNet) → ``sd`` and ``longsd``
(``align`` at 77 and 240 positions on the base) → ``denscore`` (from clip).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError
from longbench.fileio import atomic_write_text

MANIFEST_FORMAT = "longalign-mini-reproduce"
SIZES = ("smoke", "full")
DEFAULT_CONFIGS = "docs/examples/mini"


@dataclass(frozen=True)
class Step:
    name: str
    stage: str
    #: overrides naming earlier models: key → model name (its ``final/`` directory)
    inputs: tuple[tuple[str, str], ...] = ()


STEPS: tuple[Step, ...] = (
    Step("clip", "clip"),
    Step("vae", "vae"),
    Step("base", "base", (("components.text_encoder", "clip"), ("components.vae", "vae"))),
    Step("sd", "align", (("model.base", "base"),)),
    Step("longsd", "align", (("model.base", "base"),)),
    Step("denscore", "denscore", (("scorer.init", "clip"),)),
)

#: ``--size smoke``: the same stages and code paths on smaller models, small data and a few dozen steps
#: (a couple of minutes of CPU); the models beat nothing but chance-level losses (see tests/test_mini_train.py).
SMOKE: dict[str, tuple[str, ...]] = {
    "clip": ("train.max_steps=24", "train.batch_size=16", "data.mini_size=96", "clip.eval_items=16",
             "clip.text_width=64", "clip.text_layers=2", "clip.vision_width=64", "clip.vision_layers=2",
             "clip.projection_dim=64", "optim.warmup_steps=4", "train.state_every=0"),
    "vae": ("train.max_steps=40", "train.batch_size=8", "data.mini_size=96", "vae.block_out_channels=[16,32]",
            "vae.eval_items=16", "vae.scaling_items=32", "optim.warmup_steps=4", "train.state_every=0"),
    "base": ("train.max_steps=24", "train.batch_size=4", "data.mini_size=96", "unet.block_out_channels=[32,64]",
             "base.eval_items=4", "base.eval_steps=2", "optim.warmup_steps=4", "train.state_every=0"),
    "sd": ("train.max_steps=4", "train.batch_size=2", "data.mini_size=32", "lora.rank=4", "optim.warmup_steps=1",
           "train.state_every=0"),
    "longsd": ("train.max_steps=4", "train.batch_size=2", "data.mini_size=32", "lora.rank=4",
               "optim.warmup_steps=1", "train.state_every=0"),
    "denscore": ("train.max_steps=4", "train.batch_size=4", "pairs.mini_size=16", "optim.warmup_steps=1",
                 "train.state_every=0"),
}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory``, by relative path."""
    return {p.relative_to(directory).as_posix(): sha256_file(p)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def reproduce(out: str | Path, size: str = "full", configs: str | Path = DEFAULT_CONFIGS,
              only: tuple[str, ...] = (), echo: Callable[[str], None] | None = None) -> Path:
    """Train every model of :data:`STEPS` (or those in ``only``, whose inputs must exist) into ``out``;
    return the path of ``manifest.json``. A model whose run directory already has ``final/`` is kept
    (its hashes are recorded again), so an interrupted reproduction continues where it stopped."""
    from longalign.commands import run_training

    if size not in SIZES:
        raise LongbenchError(f"--size {size!r}: expected one of {', '.join(SIZES)}")
    names = [s.name for s in STEPS]
    for name in only:
        if name not in names:
            raise LongbenchError(f"--only {name!r}: expected one of {', '.join(names)}")
    out, configs = Path(out), Path(configs)
    for step in STEPS:
        if not (configs / f"{step.name}.yaml").is_file():
            raise LongbenchError(f"--configs {configs}: no {step.name}.yaml (run from the repository root, or point "
                                 f"--configs at a copy of {DEFAULT_CONFIGS})")
    manifest_path = out / "manifest.json"
    manifest: dict[str, Any] = {"format": MANIFEST_FORMAT, "format_version": 1, "size": size, "models": {}}
    if manifest_path.is_file():
        previous = json.loads(manifest_path.read_text(encoding="utf-8"))
        if previous.get("size") != size:
            raise LongbenchError(f"{manifest_path}: a {previous.get('size')} reproduction; use another --out")
        manifest["models"] = previous.get("models", {})
    import longbench

    manifest["longbench_version"] = longbench.__version__
    for step in STEPS:
        if only and step.name not in only:
            continue
        run_dir = out / step.name
        config = configs / f"{step.name}.yaml"
        overrides = [f"{key}={out / model / 'final'}" for key, model in step.inputs]
        for key, model in step.inputs:
            if not (out / model / "final").is_dir():
                raise LongbenchError(f"{step.name} needs {model} ({out / model / 'final'} does not exist)")
        overrides += list(SMOKE[step.name]) if size == "smoke" else []
        wall = None
        if not (run_dir / "final").is_dir():
            if echo:
                echo(f"mini-reproduce: {step.name} (--stage {step.stage})")
            start = time.perf_counter()
            run_training(step.stage, str(config), overrides, str(run_dir), progress=False)
            wall = round(time.perf_counter() - start, 1)
        final = run_dir / "final"
        stage_manifest = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
        cfg = stage_manifest.get("config", {})
        data = cfg.get("data") or cfg.get("pairs") or {}
        entry = {"stage": step.stage, "config": config.as_posix(), "config_sha256": sha256_file(config),
                 "overrides": overrides, "data_seed": data.get("mini_seed"), "train_seed": cfg["train"]["seed"],
                 "steps": stage_manifest.get("step"), "wall_s": wall if wall is not None else
                 manifest["models"].get(step.name, {}).get("wall_s"), "check": stage_manifest.get("eval"),
                 "dir": final.as_posix(), "files": file_hashes(final)}
        manifest["models"][step.name] = entry
        atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return manifest_path
