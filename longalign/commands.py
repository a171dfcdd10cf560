"""``longbench train``: run one LongAlign stage from a YAML config (wired into cli.py by the lead).

    longbench train --stage align|lcm|reward|reward-lcm|denscore --config cfg.yaml \\
        [--set key=value ...] [--output DIR] [--resume]

Under ``accelerate launch`` every process runs this command; accelerate provides the process group.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from longalign.stages import STAGES
from longbench.errors import LongbenchError

logger = logging.getLogger(__name__)


def run_training(stage: str, config: str | None, overrides: tuple[str, ...] | list[str] = (),
                 output: str | None = None, resume: bool = False, progress: bool = True,
                 echo: bool = False) -> str:
    """Python API of ``longbench train``: returns the directory of the final checkpoint."""
    from longalign.config import load_config
    from longalign.trainer import Trainer
    from longbench.registry import import_string

    cfg = load_config(stage, config, list(overrides))
    out = output or f"runs/train/{stage}"
    stage_cls = import_string(STAGES[stage])
    trainer = Trainer(stage, stage_cls, cfg, out, resume=resume, progress=progress,
                      echo=(lambda line: click.echo(line)) if echo else None)
    return str(trainer.run())


@click.command("train")
@click.option("--stage", required=True, type=click.Choice(list(STAGES)), help="Training stage to run.")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="YAML config (sections: model, lora, data, optim, train, and the stage's own).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set train.max_steps=100 (repeatable).")
@click.option("--output", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/train/STAGE).")
@click.option("--resume", is_flag=True, help="Continue the run in --output from its saved state.")
@click.option("--no-progress", is_flag=True, help="No progress bar (log lines still go to log.jsonl).")
@click.option("--log-steps", is_flag=True, help="Also print one line per step to stdout.")
def train(stage: str, config: str | None, overrides: tuple[str, ...], output: str | None, resume: bool,
          no_progress: bool, log_steps: bool) -> None:
    """Train a longSD checkpoint (align, lcm, reward, reward-lcm) or a Denscore model (denscore)."""
    try:
        final = run_training(stage, config, overrides, output, resume, progress=not no_progress, echo=log_steps)
    except LongbenchError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    if int(os.environ.get("RANK", "0") or 0) == 0:  # one line under accelerate launch / torchrun
        click.echo(f"checkpoint: {final}")


if __name__ == "__main__":  # `python -m longalign.commands` (used by accelerate launch in tests)
    train()
