"""The training loop shared by every stage, on accelerate.

A run directory holds::

    config.yaml          the resolved config of the run
    log.jsonl            one line per optimizer step: step, loss, lr, it_s and the stage's own values
    state/               the latest resumable state (accelerate ``save_state``: optimizer, scheduler, RNG,
                         plus ``trainable.safetensors`` with only the trained weights, ``trainer.json``)
    checkpoints/step-N/  longSD checkpoints written every ``train.save_every`` steps
    final/               the checkpoint written at the end

Determinism: every random draw of a step (noise, timesteps, caption dropout, crops, dropout layers) comes
from generators seeded by (seed, step, micro-step, process), and the data order is a seeded stream, so a
run stopped after step k and resumed from its state follows the same trajectory as a run that never
stopped — on one process, or on the same number of processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from longbench import jsonio
from longbench.errors import LongbenchError
from longbench.results import atomic_write_text, swap_dir

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator
    from torch import nn

logger = logging.getLogger(__name__)

STATE_DIR = "state"
TRAINER_STATE = "trainer.json"
TRAINABLE_FILE = "trainable.safetensors"
LOG_FILE = "log.jsonl"
#: config keys that may change when a run is resumed (they do not alter the trajectory)
RESUMABLE_CHANGES = ("train.max_steps", "train.save_every", "train.state_every", "data.num_workers",
                     "pairs.num_workers")


def mix_seed(*parts: Any) -> int:
    """A 63-bit seed from any tuple of values (stable across processes and Python runs)."""
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


class Stage(ABC):
    """One training stage. The trainer owns the loop, the optimizer, the state and the logs."""

    name: ClassVar[str] = ""
    #: the stage averages gradients across processes itself (stages that call the unwrapped model)
    manual_grad_sync: ClassVar[bool] = False

    def __init__(self, cfg: Any, accelerator: Accelerator):
        self.cfg = cfg
        self.accelerator = accelerator

    @abstractmethod
    def setup(self) -> None:
        """Load models and data and check every input; nothing may be trained before this returns."""

    @abstractmethod
    def dataset(self) -> Any:
        """The map-style training dataset."""

    @abstractmethod
    def collate(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        """Collate function of the data loader."""

    @abstractmethod
    def trainable_modules(self) -> list[nn.Module]:
        """Modules holding trainable parameters, passed to ``accelerator.prepare`` (in this order)."""

    def set_prepared(self, modules: list[nn.Module]) -> None:
        """Receive the prepared (possibly wrapped) modules, in the order of ``trainable_modules``."""
        self.prepared = list(modules)

    def trainable_modules_prepared(self) -> list[nn.Module]:
        return list(getattr(self, "prepared", self.trainable_modules()))

    @abstractmethod
    def training_step(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                        dict[str, float]]:
        """Loss of one micro-batch and extra values to log (means over the micro-batch)."""

    @abstractmethod
    def save_checkpoint(self, target: Path, step: int) -> None:
        """Write the stage's checkpoint directory (called on the main process)."""

    def trainable_named_parameters(self) -> dict[str, torch.nn.Parameter]:
        out = {}
        for i, module in enumerate(self.trainable_modules()):
            for n, p in module.named_parameters():
                if p.requires_grad:
                    out[f"{i}.{n}"] = p
        return out

    def describe_data(self) -> dict[str, Any]:
        return {}


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class Trainer:
    """Run ``stage_cls`` with ``cfg`` into ``output_dir`` (``resume`` continues from ``output_dir/state``)."""

    def __init__(self, stage_name: str, stage_cls: type[Stage], cfg: Any, output_dir: str | os.PathLike,
                 resume: bool = False, progress: bool = True, echo: Callable[[str], None] | None = None):
        self.stage_name = stage_name
        self.stage_cls = stage_cls
        self.cfg = cfg
        self.output = Path(output_dir)
        self.resume = resume
        self.progress = progress
        self.echo = echo

    # -------------------------------------------------------------------------------------- state files
    def _state_dir(self) -> Path | None:
        """The resumable state, also after a kill during the final rename of a save."""
        for name in (STATE_DIR, f".{STATE_DIR}.old"):
            d = self.output / name
            if (d / TRAINER_STATE).is_file():
                return d
        return None

    def _check_resume(self, config_dict: dict[str, Any]) -> dict[str, Any] | None:
        state_dir = self._state_dir()
        if not self.resume:
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
        from longalign.config import same_setting

        old, new = _flat(info.get("config", {})), _flat(config_dict)
        for key in sorted(set(old) | set(new)):
            if key in RESUMABLE_CHANGES:
                continue
            if not same_setting(key, old.get(key), new.get(key)):
                raise LongbenchError(f"--resume: config key {key!r} changed ({old.get(key)!r} → {new.get(key)!r}); "
                                     "only " + ", ".join(RESUMABLE_CHANGES) + " may change")
        if info["step"] >= self.cfg.train.max_steps:
            raise LongbenchError(f"--resume: the run already reached step {info['step']} (train.max_steps="
                                 f"{self.cfg.train.max_steps}); raise it with --set train.max_steps=N")
        info["_dir"] = str(state_dir)
        return info

    # -------------------------------------------------------------------------------------- main
    def run(self) -> Path:
        import torch
        from accelerate import Accelerator
        from accelerate.utils import DataLoaderConfiguration
        from torch.utils.data import DataLoader

        from longalign.config import config_to_dict
        from longalign.data import StreamBatchSampler

        cfg = self.cfg
        t = cfg.train
        config_dict = config_to_dict(cfg)
        resume_info = self._check_resume(config_dict)
        launched = int(os.environ.get("WORLD_SIZE", "1") or 1)
        # Several processes without a GPU: use CPU (gloo), else accelerate would run them as independent jobs.
        cpu = t.cpu or (launched > 1 and not torch.cuda.is_available())
        accelerator = Accelerator(
            gradient_accumulation_steps=t.gradient_accumulation_steps, mixed_precision=t.mixed_precision,
            cpu=cpu, step_scheduler_with_optimizer=False,
            dataloader_config=DataLoaderConfiguration(split_batches=False, even_batches=True))
        if launched != accelerator.num_processes:
            raise LongbenchError(f"WORLD_SIZE={launched} processes were launched but accelerate formed a group of "
                                 f"{accelerator.num_processes}; launch with `accelerate launch` or torchrun")
        if resume_info is not None:
            _check_process_count(resume_info, accelerator.num_processes)
        stage = self.stage_cls(cfg, accelerator)
        self._stage = stage
        torch.manual_seed(t.seed)  # initial weights (fresh LoRA, adapter) are the same on every process
        stage.setup()

        params = list(stage.trainable_named_parameters().values())
        if not params:
            raise LongbenchError(f"stage {self.stage_name}: nothing to train")
        o = cfg.optim
        optimizer = torch.optim.AdamW(params, lr=o.learning_rate, betas=(o.adam_beta1, o.adam_beta2),
                                      weight_decay=o.weight_decay, eps=o.adam_epsilon)
        scheduler = _lr_scheduler(o.lr_scheduler, optimizer, o.warmup_steps, t.max_steps)

        start_step = resume_info["step"] if resume_info else 0
        world = accelerator.num_processes
        accum = t.gradient_accumulation_steps
        dataset = stage.dataset()
        sampler = StreamBatchSampler(len(dataset), t.batch_size, t.seed, num_batches=t.max_steps * accum * world,
                                     start=start_step * accum * world)
        num_workers = getattr(getattr(cfg, "data", None) or cfg.pairs, "num_workers", 0)
        loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=stage.collate, num_workers=num_workers)

        modules = stage.trainable_modules()
        prepared = accelerator.prepare(*modules, optimizer, loader, scheduler)
        stage.set_prepared(list(prepared[:len(modules)]))
        optimizer, loader, scheduler = prepared[len(modules):]
        self._register_state_hooks(accelerator, stage)

        if accelerator.is_main_process:
            self.output.mkdir(parents=True, exist_ok=True)
            import yaml

            atomic_write_text(self.output / "config.yaml", yaml.safe_dump(
                {"stage": self.stage_name, **config_dict}, sort_keys=False))
        if not resume_info and accelerator.is_main_process and (self.output / LOG_FILE).exists():
            (self.output / LOG_FILE).unlink()  # a fresh run in a directory without state
        if resume_info:
            accelerator.load_state(resume_info["_dir"])
            if accelerator.is_main_process:
                _truncate_log(self.output / LOG_FILE, start_step)
            logger.info("resumed %s at step %d from %s", self.stage_name, start_step, resume_info["_dir"])
        accelerator.wait_for_everyone()

        step = start_step
        micro = 0
        sums: dict[str, float] = {}
        labels: dict[str, str] = {}
        log_path = self.output / LOG_FILE
        bar = _Progress(enabled=self.progress and accelerator.is_main_process, total=t.max_steps, start=start_step,
                        description=f"longalign {self.stage_name}")
        tick = time.perf_counter()
        trainable = [p for p in params]
        with bar:
            for batch in loader:
                gen = torch.Generator().manual_seed(mix_seed(t.seed, step, micro, accelerator.process_index))
                torch.manual_seed(mix_seed("global", t.seed, step, micro, accelerator.process_index))
                with accelerator.accumulate(*stage.trainable_modules_prepared()):
                    loss, extra = stage.training_step(batch, gen)
                    if not torch.isfinite(loss):
                        raise LongbenchError(f"stage {self.stage_name}: non-finite loss at step {step + 1}")
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        if stage.manual_grad_sync and world > 1:
                            _average_gradients(trainable, accelerator)
                        if o.max_grad_norm > 0:
                            accelerator.clip_grad_norm_(trainable, o.max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                for k, v in {"loss": float(loss.detach()), **extra}.items():
                    if isinstance(v, str):
                        labels[k] = v  # e.g. a hash that every process should agree on
                    else:
                        sums[k] = sums.get(k, 0.0) + float(v)
                micro += 1
                if not accelerator.sync_gradients:
                    continue
                scheduler.step()
                lr = float(scheduler.get_last_lr()[0])
                step += 1
                micro = 0
                means = self._reduce({k: v / accum for k, v in sums.items()}, accelerator)
                means.update(self._agree(labels, accelerator))
                sums, labels = {}, {}
                now = time.perf_counter()
                record = {"step": step, **means, "lr": lr, "it_s": round(1.0 / max(now - tick, 1e-9), 4)}
                tick = now
                if accelerator.is_main_process:
                    with log_path.open("a", encoding="utf-8") as f:
                        f.write(json.dumps(record) + "\n")
                    bar.update(step, record)
                    if self.echo is not None:
                        self.echo(_format_record(record))
                last = step >= t.max_steps
                if t.save_every and step % t.save_every == 0 and not last:
                    self._save_checkpoint(stage, accelerator, self.output / "checkpoints" / f"step-{step:07d}", step)
                if last or (t.state_every and step % t.state_every == 0):
                    self._save_state(accelerator, step, config_dict)
                if last:
                    break
        self._save_checkpoint(stage, accelerator, self.output / "final", step)
        accelerator.wait_for_everyone()
        accelerator.end_training()
        return self.output / "final"

    # -------------------------------------------------------------------------------------- helpers
    @staticmethod
    def _reduce(values: dict[str, float], accelerator: Accelerator) -> dict[str, float]:
        import torch

        if accelerator.num_processes == 1:
            return {k: float(v) for k, v in values.items()}
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=accelerator.device)
        t = accelerator.reduce(t, reduction="mean")
        return {k: float(v) for k, v in zip(keys, t.tolist())}

    @staticmethod
    def _agree(labels: dict[str, str], accelerator: Accelerator) -> dict[str, Any]:
        """String values of every process: the value when they agree, else the list of values."""
        if accelerator.num_processes == 1 or not labels:
            return dict(labels)
        from accelerate.utils import gather_object

        gathered = gather_object([labels])
        out: dict[str, Any] = {}
        for k in labels:
            values = [g.get(k) for g in gathered]
            out[k] = values[0] if len(set(values)) == 1 else values
        return out

    @staticmethod
    def _check_in_sync(stage: Stage, accelerator: Accelerator) -> None:
        """Every process must hold the same trained weights (gradients are averaged across processes)."""
        if accelerator.num_processes == 1:
            return
        import torch
        from accelerate.utils import gather_object

        with torch.no_grad():
            checksum = float(sum(p.double().sum() + (p.double() ** 2).sum()
                                 for p in stage.trainable_named_parameters().values()))
        sums = gather_object([checksum])
        if max(sums) - min(sums) > 1e-6 * max(1.0, abs(sums[0])):
            raise LongbenchError(f"processes hold different weights (checksums {sums}): gradients were not synchronised")

    def _save_checkpoint(self, stage: Stage, accelerator: Accelerator, target: Path, step: int) -> None:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            stage.save_checkpoint(target, step)
        accelerator.wait_for_everyone()

    def _save_state(self, accelerator: Accelerator, step: int, config_dict: dict[str, Any]) -> None:
        """accelerate ``save_state`` into a fresh directory, swapped into place once every process is done."""
        self._check_in_sync(self._stage, accelerator)
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
            swap_dir(tmp, self.output / STATE_DIR)
        accelerator.wait_for_everyone()

    @staticmethod
    def _register_state_hooks(accelerator: Accelerator, stage: Stage) -> None:
        """Save only the trained weights (LoRA, adapter) in the state, not the frozen base model."""
        from safetensors.torch import load_file, save_file

        def save_hook(models: list, weights: list, output_dir: str) -> None:
            if accelerator.is_main_process:
                tensors = {k: v.detach().float().cpu().contiguous() for k, v in
                           stage.trainable_named_parameters().items()}
                save_file(tensors, os.path.join(output_dir, TRAINABLE_FILE))
            weights.clear()

        def load_hook(models: list, input_dir: str) -> None:
            import torch

            tensors = load_file(os.path.join(input_dir, TRAINABLE_FILE))
            params = stage.trainable_named_parameters()
            if set(tensors) != set(params):
                raise LongbenchError(f"{input_dir}: the saved trainable weights do not match this run's model")
            with torch.no_grad():
                for k, p in params.items():
                    p.copy_(tensors[k].to(device=p.device, dtype=p.dtype))
            models.clear()

        accelerator.register_save_state_pre_hook(save_hook)
        accelerator.register_load_state_pre_hook(load_hook)


def _average_gradients(params: list[torch.nn.Parameter], accelerator: Accelerator) -> None:
    import torch

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    flat = accelerator.reduce(flat, reduction="mean")
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).to(p.dtype)
        offset += n


def _lr_scheduler(name: str, optimizer: Any, warmup: int, total: int) -> Any:
    from diffusers.optimization import get_scheduler

    return get_scheduler(name, optimizer=optimizer, num_warmup_steps=warmup, num_training_steps=total)


def _check_process_count(info: dict[str, Any], num_processes: int) -> None:
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


def _truncate_log(path: Path, step: int) -> None:
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


def _format_record(record: dict[str, Any]) -> str:
    parts = [f"step {record['step']}"]
    for k, v in record.items():
        if k != "step":
            parts.append(f"{k}={v:.4g}" if isinstance(v, float) and math.isfinite(v) else f"{k}={v}")
    return " ".join(parts)


class _Progress:
    """A rich progress bar showing the latest logged values (no-op when disabled)."""

    def __init__(self, enabled: bool, total: int, start: int, description: str):
        self.enabled = enabled
        self.total, self.start, self.description = total, start, description
        self._progress = None
        self._task = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total, completed=self.start, info="")
        return self

    def update(self, step: int, record: dict[str, Any]) -> None:
        if self._progress is not None:
            info = " ".join(f"{k}={v:.4g}" for k, v in record.items() if k in ("loss", "reward", "lr", "it_s"))
            self._progress.update(self._task, completed=step, info=info)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
