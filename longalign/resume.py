"""The resumable state of a training run: saving it, finding it, and checking that a resume may use it.

``<run>/state/`` is accelerate's ``save_state`` (optimizer, scheduler, RNG) plus ``trainable.safetensors``
(only the trained weights, not the frozen base model) and ``trainer.json`` (stage, step, process count,
config). A save goes to a fresh directory that is swapped into place once every process is done, so a kill
at any moment leaves a complete state (``state/`` or, during the swap, ``.state.old/``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbench import jsonio
from longbench.errors import LongbenchError
from longbench.fileio import atomic_write_text, normal_permissions, swap_dir

if TYPE_CHECKING:
    from accelerate import Accelerator

    from longalign.stages.base import Stage

STATE_DIR = "state"
TRAINER_STATE = "trainer.json"
TRAINABLE_FILE = "trainable.safetensors"


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class RunState:
    """The state directory of the run of stage ``stage_name`` in ``output``."""

    def __init__(self, output: Path, stage_name: str):
        self.output = output
        self.stage_name = stage_name

    def find(self) -> Path | None:
        """The resumable state, also after a kill during the final rename of a save."""
        for name in (STATE_DIR, f".{STATE_DIR}.old"):
            d = self.output / name
            if (d / TRAINER_STATE).is_file():
                return d
        return None

    def check_resume(self, resume: bool, cfg: Any, config_dict: dict[str, Any]) -> dict[str, Any] | None:
        """The saved ``trainer.json`` (plus ``_dir``) a resume continues, None for a fresh run.

        Raises:
            LongbenchError: a fresh run over an existing state, a resume without one, or a resume whose
                config changes more than ``cfg.resumable_changes``.
        """
        from longalign.config import path_keys, same_setting

        state_dir = self.find()
        if not resume:
            if state_dir is not None:
                raise LongbenchError(f"{self.output} already holds a training state; pass --resume to continue it "
                                     "or choose another --output")
            return None
        if state_dir is None:
            raise LongbenchError(f"--resume: no training state in {self.output / STATE_DIR}")
        info = jsonio.read_json(state_dir / TRAINER_STATE)
        if not isinstance(info, dict) or not isinstance(info.get("step"), int):
            raise LongbenchError(f"--resume: {state_dir / TRAINER_STATE} is not a training state (no step)")
        if info.get("stage") != self.stage_name:
            raise LongbenchError(f"--resume: {state_dir} is a {info.get('stage')!r} run, not {self.stage_name!r}")
        allowed = type(cfg).resumable_changes
        paths = path_keys(type(cfg))
        old, new = _flat(info.get("config", {})), _flat(config_dict)
        for key in sorted(set(old) | set(new)):
            if key in allowed:
                continue
            if not same_setting(key, old.get(key), new.get(key), paths):
                raise LongbenchError(f"--resume: config key {key!r} changed ({old.get(key)!r} → {new.get(key)!r}); "
                                     "only " + ", ".join(allowed) + " may change")
        if info["step"] >= cfg.train.max_steps:
            raise LongbenchError(f"--resume: the run already reached step {info['step']} (train.max_steps="
                                 f"{cfg.train.max_steps}); raise it with --set train.max_steps=N")
        info["_dir"] = str(state_dir)
        return info

    def save(self, accelerator: Accelerator, stage: Stage, step: int, config_dict: dict[str, Any]) -> None:
        """accelerate ``save_state`` into a fresh directory, swapped into place once every process is done."""
        check_in_sync(stage, accelerator)
        tmp = self.output / f".{STATE_DIR}.tmp"
        if accelerator.is_main_process and tmp.exists():
            shutil.rmtree(tmp)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            atomic_write_text(tmp / TRAINER_STATE, json.dumps(
                {"stage": self.stage_name, "step": step, "num_processes": accelerator.num_processes,
                 "config": config_dict}, indent=2))
            normal_permissions(tmp, recursive=True)  # some writers of save_state make private files
            swap_dir(tmp, self.output / STATE_DIR)
        accelerator.wait_for_everyone()


def check_in_sync(stage: Stage, accelerator: Accelerator) -> None:
    """Every process must hold the same trained weights (gradients are averaged across processes)."""
    if accelerator.num_processes == 1:
        return
    import torch
    from accelerate.utils import gather_object

    with torch.no_grad():
        checksum = float(sum(p.double().sum() + (p.double() ** 2).sum()
                             for p in stage.state_parameters().values()))
    sums = gather_object([checksum])
    if max(sums) - min(sums) > 1e-6 * max(1.0, abs(sums[0])):
        raise LongbenchError(f"processes hold different weights (checksums {sums}): gradients were not synchronised")


def register_state_hooks(accelerator: Accelerator, stage: Stage) -> None:
    """Save only the trained weights (LoRA, adapter) in the state, not the frozen base model."""
    from safetensors.torch import load_file, save_file

    def save_hook(models: list, weights: list, output_dir: str) -> None:
        if accelerator.is_main_process:
            tensors = {k: v.detach().float().cpu().contiguous() for k, v in
                       stage.state_parameters().items()}
            save_file(tensors, os.path.join(output_dir, TRAINABLE_FILE))
        weights.clear()

    def load_hook(models: list, input_dir: str) -> None:
        import torch

        tensors = load_file(os.path.join(input_dir, TRAINABLE_FILE))
        params = stage.state_parameters()
        if set(tensors) != set(params):
            raise LongbenchError(f"{input_dir}: the saved trainable weights do not match this run's model")
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(tensors[k].to(device=p.device, dtype=p.dtype))
        models.clear()

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def check_process_count(info: dict[str, Any], num_processes: int) -> None:
    """Refuse to resume a state saved by another number of processes.

    The state is not independent of the process count: the position in the seeded data stream
    (steps × accumulation × processes batches), the global batch (batch size × processes), the per-process
    random streams and accelerate's per-process RNG files all depend on it, so a resume on another count
    would silently follow another trajectory than the run it continues.
    """
    saved = info.get("num_processes")
    if isinstance(saved, int) and saved != num_processes:
        raise LongbenchError(
            f"--resume: the state in {info['_dir']} was saved by {saved} process{'es' if saved != 1 else ''} but "
            f"this run has {num_processes}; the data order and global batch depend on the process count, so "
            f"resume with {saved} (e.g. accelerate launch --num_processes {saved})")


def truncate_log(path: Path, step: int) -> None:
    """Drop log lines past the resumed step (a killed run may have logged steps its state does not hold)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:
            break  # a line cut by the kill
    atomic_write_text(path, "".join(x + "\n" for x in keep))
