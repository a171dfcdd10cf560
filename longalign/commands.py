"""``longbench train``: run one LongAlign stage from a YAML config (wired into cli.py by the lead).

    longbench train --stage align|lcm|reward|reward-lcm|denscore --config cfg.yaml \\
        [--set key=value ...] [--output DIR] [--resume]
    longbench train make-tiny-base DIR      # a tiny random base pipeline for a miniature run
    longbench train import-release SRC DIR  # the authors' released checkpoint as a longSD checkpoint

Under ``accelerate launch`` every process runs this command; accelerate provides the process group.
"""

from __future__ import annotations

import json
import logging
import os

import click

from longalign.stages import STAGES
from longbench.cli_support import ErrorExitGroup, RegistryChoice

logger = logging.getLogger(__name__)


def run_training(stage: str, config: str | None, overrides: tuple[str, ...] | list[str] = (),
                 output: str | None = None, resume: bool = False, progress: bool = True,
                 echo: bool = False) -> str:
    """Python API of ``longbench train``: returns the directory of the final checkpoint."""
    from longalign.config import load_config, stage_class
    from longalign.trainer import Trainer
    from longbench.fileio import check_writable

    cfg = load_config(stage, config, list(overrides))
    out = output or f"runs/train/{stage}"
    check_writable(out, "--output", directory=True)  # before any model is loaded
    stage_cls = stage_class(stage)
    trainer = Trainer(stage, stage_cls, cfg, out, resume=resume, progress=progress,
                      echo=(lambda line: click.echo(line)) if echo else None)
    return str(trainer.run())


@click.group("train", cls=ErrorExitGroup, invoke_without_command=True, subcommand_metavar="[COMMAND [ARGS]...]")
@click.option("--stage", type=RegistryChoice(STAGES), default=None,
              help="Training stage to run (required unless a COMMAND is given); plugins add stages through the "
                   "entry point group longbench.stages.")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="YAML config (sections: model, lora, data, optim, train, and the stage's own).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set train.max_steps=100 (repeatable).")
@click.option("--output", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/train/STAGE).")
@click.option("--resume", is_flag=True, help="Continue the run in --output from its saved state.")
@click.option("--no-progress", is_flag=True, help="No progress bar (log lines still go to log.jsonl).")
@click.option("--log-steps", is_flag=True, help="Also print one line per step to stdout.")
@click.pass_context
def train(ctx: click.Context, stage: str | None, config: str | None, overrides: tuple[str, ...], output: str | None,
          resume: bool, no_progress: bool, log_steps: bool) -> None:
    """Train a longSD checkpoint (align, lcm, reward, reward-lcm, comat), a Denscore model (denscore), or the
    miniature world's models (clip, vae, base).

    `longbench train make-tiny-base DIR` writes a tiny random base pipeline for the offline miniature run
    of docs/training.md; `longbench train import-release SRC DIR` converts the LongAlign authors' released
    checkpoint into a longSD checkpoint; `longbench train mini-reproduce` trains every miniature model in order,
    `longbench train mini-ship` packages them as the shipped zoo, `longbench train mini-report` writes the
    reproduction report (docs/miniature.md).
    """
    if ctx.invoked_subcommand is not None:
        given = [f"--{name.replace('_', '-')}" for name in ("stage", "config", "output") if ctx.params[name]]
        given += ["--set"] * bool(overrides) + ["--resume"] * resume
        if given:
            raise click.UsageError(f"{', '.join(given)}: options of a training run, not of "
                                   f"`train {ctx.invoked_subcommand}`")
        return
    if stage is None:
        raise click.UsageError("Missing option '--stage' (or a COMMAND such as make-tiny-base).")
    final = run_training(stage, config, overrides, output, resume, progress=not no_progress, echo=log_steps)
    if int(os.environ.get("RANK", "0") or 0) == 0:  # one line under accelerate launch / torchrun
        click.echo(f"checkpoint: {final}")


@train.command("make-tiny-base")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random weights.")
@click.option("--sample-size", type=click.IntRange(4, 128), default=16, show_default=True,
              help="Latent side of the UNet; the pipeline draws images twice as large.")
def make_tiny_base(directory: str, seed: int, sample_size: int) -> None:
    """Write a tiny random-weight Stable Diffusion pipeline to DIRECTORY, offline.

    UNet (32, 64 channels), a 2-block VAE, a 2-layer CLIP text encoder with the real CLIP tokenizer and a
    DDIM scheduler: the base of the miniature run of docs/training.md (its images mean nothing; every code
    path is the real one). DIRECTORY must not exist or be empty.
    """

    from longbench.errors import LongbenchError
    from longbench.fileio import atomic_dir, check_writable
    from longbench.testing import tiny_sd_pipeline

    target = check_writable(directory, "DIRECTORY", directory=True)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise LongbenchError(f"{target} already exists and is not an empty directory; choose another DIRECTORY")
    pipe = tiny_sd_pipeline(seed, sample_size=sample_size)
    with atomic_dir(target) as tmp:
        pipe.save_pretrained(str(tmp), safe_serialization=True)
    click.echo(f"tiny base pipeline: {target}")


@train.command("mini-reproduce")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True,
              help="Directory of the runs (one per model) and manifest.json.")
@click.option("--size", type=click.Choice(["smoke", "full"]), default="full", show_default=True,
              help="full: the shipped configs; smoke: the same stages for a few dozen steps (minutes).")
@click.option("--configs", type=click.Path(file_okay=False), default="docs/examples/mini", show_default=True,
              help="Directory of the per-model configs (<name>.yaml for each model trained).")
@click.option("--only", multiple=True, metavar="NAME", help="Train only this model (repeatable); its inputs must "
              "exist in --out or be trained in the same call.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train up to N models at once as their inputs become ready, each in a child process with "
                   "max(1, cpu_count // N) torch threads (1: one after the other in this process).")
@click.option("--layout", type=click.Choice(["free", "homes"]), default="free", show_default=True,
              help="Scene layout of the training data: free (the mini-v0 world) or homes (mini-v1: each shape in "
                   "its home quadrant, prompts without places).")
def mini_reproduce(out: str, size: str, configs: str, only: tuple[str, ...], jobs: int, layout: str) -> None:
    """Train the miniature models (clip, vae, base, sd, longsd, naive, denscore, reward-w0, reward-w03,
    reward-w1) in dependency order into OUT, with a manifest of configs, seeds and sha256 per file
    (docs/mini.md). Finished models are kept."""
    from longalign.mini_reproduce import reproduce

    path = reproduce(out, size=size, configs=configs, only=only, echo=click.echo, jobs=jobs, layout=layout)
    click.echo(f"manifest: {path}")


@train.command("mini-ship")
@click.option("--from", "repro", type=click.Path(file_okay=False), required=True,
              help="The --out of `longbench train mini-reproduce` (per model final/, manifest.json).")
@click.option("--to", "to", type=click.Path(file_okay=False), default=None,
              help="Zoo directory to write (default: the package's longbench/mini/weights).")
def mini_ship(repro: str, to: str | None) -> None:
    """Ship the miniature models of a reproduction as a zoo: fp16 safetensors per model, longSD checkpoints on
    base mini:base, and a manifest (config, seeds, steps, check, sha256 and bytes per file); at most 25 MB."""
    from longalign.mini_ship import ship

    path = ship(repro, to, echo=click.echo)
    total = json.loads(path.read_text(encoding="utf-8"))["total_bytes"]
    click.echo(f"manifest: {path} ({total / 1e6:.2f} MB)")


@train.command("mini-report")
@click.option("--zoo", type=click.Path(file_okay=False), default=None,
              help="Zoo directory (a `mini-reproduce --out` or a shipped zoo; default: the package's weights).")
@click.option("--out", "out", type=click.Path(dir_okay=False), default="docs/miniature.md", show_default=True,
              help="The Markdown report to write (atomically).")
@click.option("--limit", type=int, default=None, help="Score only the first N items of the zoo's test split (N >= 2).")
@click.option("--seed", type=int, default=0, show_default=True, help="Global seed of the images and the bootstraps.")
@click.option("--runs", type=click.Path(file_okay=False), default="runs/mini-report", show_default=True,
              help="Run directory root of the evaluations (results, samples, image cache: a second run reuses it).")
@click.option("--device", default="cpu", show_default=True, help="Device of the metrics.")
@click.option("--no-progress", is_flag=True, help="Do not draw progress bars.")
def mini_report(zoo: str | None, out: str, limit: int | None, seed: int, runs: str, device: str,
                no_progress: bool) -> None:
    """Evaluate the world's reference models and the zoo's generators on the test split of the zoo's layout
    (mini-v0 for free, mini-v1 for homes; its manifest says which) and write the reproduction
    report (docs/miniature.md): every number with its 95% CI and a verdict per claim (docs/mini.md). Claims that
    do not hold are findings: the exit code is 0 whatever the verdicts."""
    from longalign.mini_claims import CLAIMS, claim_verdict
    from longalign.mini_report import write_report
    from longbench.cli_support import RichProgress

    with RichProgress(enabled=not no_progress) as progress:
        path, data = write_report(zoo, out, limit=limit, seed=seed, runs=runs, device=device, progress=progress)
    for claim in CLAIMS:
        click.echo(f"{claim.title}: {claim_verdict(claim, data.comparisons)[0]}")
    if data.missing:
        click.echo(f"missing from the zoo: {', '.join(data.missing)}")
    click.echo(f"report: {path}")


@train.command("import-release")
@click.argument("source", type=click.Path(file_okay=False))
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--base", default=None, help="Base pipeline (default: stable-diffusion-v1-5/stable-diffusion-v1-5).")
@click.option("--t5", default=None, help="T5 encoder recorded in the manifest (default: google-t5/t5-large).")
@click.option("--align", default=None, metavar="FILE", help="The s<N>_lora_vis.pt to use when there are several.")
@click.option("--merge", default=None, metavar="FILE|none",
              help="The LoRA merged on top (default: the only other .pt file; none: the align model alone).")
def import_release(source: str, directory: str, base: str | None, t5: str | None, align: str | None,
                   merge: str | None) -> None:
    """Convert the LongAlign authors' released checkpoint in SOURCE into a longSD checkpoint DIRECTORY.

    SOURCE holds s<N>_lora_vis.pt (+ s<N>_adapter/) and e.g. sd15-reward-3750.pt, as the authors'
    sample.py uses them. `longbench eval --model longsd:SOURCE` reads it directly; the converted checkpoint
    can also be trained on (model.init_from=DIRECTORY). See docs/training.md.
    """
    from longbench.longsd.release import convert_release

    out = convert_release(source, directory, base=base, t5=t5, align=align, merge=merge)
    click.echo(f"checkpoint: {out}")


if __name__ == "__main__":  # `python -m longalign.commands` (used by accelerate launch in tests)
    from longbench import verbosity

    verbosity.configure(0)  # quiet libraries, as `longbench train` without -v
    train()
