"""``longbench leaderboard build|add|compare``: the click group of the leaderboard (only click at import)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from longbench.cli_support import EXIT_GATE, ErrorExitGroup

logger = logging.getLogger(__name__)


@click.group("leaderboard", cls=ErrorExitGroup)
def leaderboard() -> None:
    """Build leaderboards from runs, keep a store of runs, and gate CI on regressions."""


@leaderboard.command("build")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output directory (leaderboard.md/.csv/.json, index.html, plots/).")
@click.option("--bootstrap-resamples", default=10_000, show_default=True, type=click.IntRange(min=1),
              help="Resamples of the paired bootstrap between adjacent runs.")
@click.option("--bootstrap-seed", default=0, show_default=True, type=int, help="Seed of the paired bootstrap.")
@click.option("--confidence", default=0.95, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Confidence level of the difference intervals (ties: the interval contains 0).")
@click.option("--title", default="longbench leaderboard", show_default=True, help="Page and Markdown title.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--viewer", "viewers", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="A viewer folder from `longbench view` (repeatable): rows of the runs it shows link to it.")
def build_cmd(results: tuple[Path, ...], out_dir: Path, bootstrap_resamples: int, bootstrap_seed: int,
              confidence: float, title: str, no_plots: bool, viewers: tuple[Path, ...]) -> None:
    """Build a leaderboard from RESULTS: results.json files, run directories, or stores of runs."""
    from leaderboard.build import build_leaderboard
    from leaderboard.table import BootstrapConfig
    from longbench.fileio import check_writable

    check_writable(out_dir, "--out", directory=True)
    boot = BootstrapConfig(n_resamples=bootstrap_resamples, confidence=confidence, seed=bootstrap_seed)
    table = build_leaderboard(results, out_dir, boot, title=title, plots=not no_plots, viewers=viewers)
    n_runs = sum(len(s["runs"]) for s in table["sections"])
    click.echo(f"{n_runs} runs in {len(table['sections'])} suite section(s) -> {out_dir / 'index.html'}")


@leaderboard.command("add")
@click.argument("store", type=click.Path(file_okay=False, path_type=Path))
@click.argument("run_dir", type=click.Path(exists=True, path_type=Path))
def add_cmd(store: Path, run_dir: Path) -> None:
    """Validate RUN_DIR (results.json + samples.jsonl) and copy it into the leaderboard STORE."""
    from leaderboard.store import ingest_run
    from longbench.fileio import check_writable

    check_writable(store, "STORE", directory=True)
    dest, added = ingest_run(store, run_dir)
    click.echo(str(dest))
    if not added:
        click.echo(f"{dest}: the identical run is already in the store; nothing added", err=True)


@leaderboard.command("compare")
@click.argument("current", type=click.Path(exists=True, path_type=Path))
@click.argument("baseline", type=click.Path(exists=True, path_type=Path))
@click.option("--max-regression", "max_regression", multiple=True, metavar="METRIC=DELTA",
              help="Allowed move in the bad direction for METRIC (repeatable); exit 1 when exceeded.")
@click.option("--markdown", "markdown_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the Markdown summary to this file.")
def compare_cmd(current: Path, baseline: Path, max_regression: tuple[str, ...], markdown_out: Path | None) -> None:
    """Compare CURRENT with BASELINE (results.json files or run directories).

    Prints a Markdown summary; exits 1 when a gated metric regressed, 2 on bad input.
    """
    from leaderboard.gate import compare, parse_max_regression
    from longbench.fileio import atomic_write_text, check_writable
    from longbench.results import load_results

    if markdown_out is not None:
        check_writable(markdown_out, "--markdown", directory=False)
    limits = parse_max_regression(max_regression)
    cur = load_results(current)
    base = load_results(baseline)
    result = compare(cur, base, limits)
    click.echo(result.markdown, nl=False)
    if markdown_out is not None:
        atomic_write_text(markdown_out, result.markdown)
    if not result.ok:
        click.get_current_context().exit(EXIT_GATE)
