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
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longalign.resume import RunState, check_process_count, register_state_hooks, truncate_log
from longbench.cli_support import RichProgress
from longbench.errors import LongbenchError
from longbench.fileio import atomic_write_text

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator

    from longalign.stages.base import Stage

logger = logging.getLogger(__name__)

LOG_FILE = "log.jsonl"


def mix_seed(*parts: Any) -> int:
    """A 63-bit seed from any tuple of values (stable across processes and Python runs)."""
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


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

    # -------------------------------------------------------------------------------------- main
    def run(self) -> Path:
        import torch
        from accelerate import Accelerator
        from accelerate.utils import DataLoaderConfiguration
        from torch.utils.data import DataLoader

        from longalign.config import config_to_dict
        from longalign.data.order import StreamBatchSampler

        cfg = self.cfg
        t = cfg.train
        config_dict = config_to_dict(cfg)
        run_state = RunState(self.output, self.stage_name)
        resume_info = run_state.check_resume(self.resume, cfg, config_dict)
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
            check_process_count(resume_info, accelerator.num_processes)
        stage = self.stage_cls(cfg, accelerator)
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
        loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=stage.collate, num_workers=stage.num_workers())

        modules = stage.trainable_modules()
        prepared = accelerator.prepare(*modules, optimizer, loader, scheduler)
        stage.set_prepared(list(prepared[:len(modules)]))
        optimizer, loader, scheduler = prepared[len(modules):]
        register_state_hooks(accelerator, stage)

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
                truncate_log(self.output / LOG_FILE, start_step)
            logger.info("resumed %s at step %d from %s", self.stage_name, start_step, resume_info["_dir"])
        accelerator.wait_for_everyone()

        step = start_step
        micro = 0
        sums: dict[str, float] = {}
        labels: dict[str, str] = {}
        log_path = self.output / LOG_FILE
        bar = RichProgress(enabled=self.progress and accelerator.is_main_process)
        tick = time.perf_counter()
        trainable = [p for p in params]
        with bar:
            task = bar.start(f"longalign {self.stage_name}", t.max_steps, completed=start_step)
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
                            average_gradients(trainable, accelerator)
                        if o.max_grad_norm > 0:
                            accelerator.clip_grad_norm_(trainable, o.max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    extra = {**extra, **stage.after_step()}
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
                    bar.update(task, step, " ".join(f"{k}={v:.4g}" for k, v in record.items()
                                                    if k in ("loss", "reward", "lr", "it_s")))
                    if self.echo is not None:
                        self.echo(_format_record(record))
                last = step >= t.max_steps
                if t.save_every and step % t.save_every == 0 and not last:
                    self._save_checkpoint(stage, accelerator, self.output / "checkpoints" / f"step-{step:07d}", step)
                if last or (t.state_every and step % t.state_every == 0):
                    run_state.save(accelerator, stage, step, config_dict)
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

    def _save_checkpoint(self, stage: Stage, accelerator: Accelerator, target: Path, step: int) -> None:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            stage.save_checkpoint(target, step)
        accelerator.wait_for_everyone()


def average_gradients(params: list[torch.nn.Parameter], accelerator: Accelerator) -> None:
    """Replace each parameter's gradient by its mean over the processes (zeros where a process has none)."""
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


def _format_record(record: dict[str, Any]) -> str:
    parts = [f"step {record['step']}"]
    for k, v in record.items():
        if k != "step":
            parts.append(f"{k}={v:.4g}" if isinstance(v, float) and math.isfinite(v) else f"{k}={v}")
    return " ".join(parts)
