"""``longbench meta-eval``: rank metrics against the exact fact recall of graded corruptions of the
miniature world (``longbench.mini.meta_eval``). Only click is imported at module import."""

from __future__ import annotations

from typing import Any

import click

from longbench.cli_support import RichProgress


def _tau(entry: dict[str, Any]) -> str:
    tau, ci = entry.get("tau"), entry.get("ci")
    if tau is None:
        return "n/a"
    return f"{tau:+.2f}" if not ci else f"{tau:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}]"


def print_table(result: dict[str, Any]) -> None:
    """One row per metric column and side: system-level and per-prompt tau with their intervals."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    s, cfg = result["suite"], result["config"]
    table = Table(title=escape(f"meta-eval · {s['name']} v{s['version']} · K={cfg['levels']} · "
                               f"{result['images']} images · seed {cfg['seed']}"), title_justify="left")
    for col, justify in (("metric", "left"), ("side", "left"), ("items", "right"),
                         ("system tau [95% CI]", "right"), ("per-prompt tau [95% CI]", "right"),
                         ("undefined", "right")):
        table.add_column(col, justify=justify)
    for r in result["results"]:
        arrow = "" if r["higher_is_better"] else " (negated)"
        sys_entry, pp = r["system"], r["per_prompt"]
        undefined = f"{pp['undefined']}/{pp['n']}" + (" + system" if sys_entry["undefined"] and pp["n"] else "")
        table.add_row(escape(r["column"] + arrow), r["side"], str(pp["n"]), _tau(sys_entry), _tau(pp), undefined)
    console = Console(emoji=False)
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(emoji=False, width=200)
    console.print(table)
    steps = _steps_table(result)
    if steps is not None:
        console.print(steps)
    for side, info in result["sides"].items():
        levels = " ".join(f"{v:.3f}" for v in info["fact_recall_by_level"]) or "-"
        console.print(escape(f"{side}: {info['items']} items ({info['skipped']} with fewer than {cfg['levels']} "
                             f"such facts skipped); exact fact_recall by level: {levels}"))


def _steps_table(result: dict[str, Any]) -> Any:
    """One row per metric column and side, one column per kind of fact: the share of the ladders' steps breaking
    such a fact where the column drops too, with the number of steps; None when no row has steps."""
    from rich.markup import escape
    from rich.table import Table

    rows = [r for r in result["results"] if r.get("steps")]
    if not rows:
        return None
    kinds = sorted({k for r in rows for k in r["steps"]})
    table = Table(title="one more fact broken: share of steps where the column drops too (steps)",
                  title_justify="left")
    for col in ("metric", "side", *kinds):
        table.add_column(col, justify="left" if col in ("metric", "side") else "right")
    for r in rows:
        cells = [f"{r['steps'][k]['right']:.2f} ({r['steps'][k]['n']})" if k in r["steps"] else "-" for k in kinds]
        table.add_row(escape(r["column"]), r["side"], *cells)
    return table


@click.command("meta-eval")
@click.option("--suite", default=None, metavar="NAME|FILE",
              help="A suite of the miniature world.  [default: the test split of the --zoo's layout: mini-v0 for "
                   "free, mini-v1 for homes]")
@click.option("--levels", type=int, default=4, show_default=True, metavar="K",
              help="Ladder length: images with 0..K facts broken, per item and side.")
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="Metric to rank, repeatable (default: clipscore, segment-align, denscore).")
@click.option("--metric-arg", multiple=True, metavar="METRIC.KEY=VALUE",
              help="Metric option (default model: mini:clip for clipscore and segment-align, mini:denscore for "
                   "denscore).")
@click.option("--zoo", type=click.Path(file_okay=False), metavar="DIR",
              help="Zoo the mini:<name> weights resolve in (default: the shipped one).")
@click.option("--limit", type=int, help="Only the first N items of the suite.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Global seed: the items' seeds (as in eval, which pick the broken facts) and the bootstrap.")
@click.option("--bootstrap", "n_bootstrap", type=int, default=1000, show_default=True,
              help="Bootstrap resamples (over items) of every interval.")
@click.option("--device", default="cpu", show_default=True, help="Device of the metrics.")
@click.option("--output", default="runs/meta-eval", show_default=True, type=click.Path(file_okay=False),
              help="Directory of meta_eval.json.")
@click.option("--json", "as_json", is_flag=True, help="Print meta_eval.json instead of a table.")
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
def meta_eval(suite: str | None, levels: int, metrics: tuple[str, ...], metric_arg: tuple[str, ...], zoo: str | None,
              limit: int | None, seed: int, n_bootstrap: int, device: str, output: str, as_json: bool,
              no_progress: bool) -> None:
    """Rank metrics against the exact fact recall of graded corruptions of the miniature world.

    Per item and side (facts within / beyond 77 positions), images with 0..K of those facts broken are
    scored; per metric column: Kendall tau against the exact fact recall at system level (the K+1 levels)
    and per prompt, with bootstrap CIs over items (docs/mini.md, "Meta-evaluation").
    """
    from longbench.fileio import check_writable
    from longbench.mini.meta_eval import MetaEvalConfig, meta_evaluate, write_meta_eval
    from longbench.options import parse_metric_args
    from longbench.results import dumps

    config = MetaEvalConfig(suite=suite, levels=levels, metrics=list(metrics) or None,
                            metric_args=parse_metric_args(metric_arg), zoo=zoo, limit=limit, seed=seed,
                            n_bootstrap=n_bootstrap, device=device)
    config.validate()
    check_writable(output, "--output", directory=True)
    with RichProgress(enabled=not no_progress and not as_json) as progress:
        result = meta_evaluate(config, progress)
    path = write_meta_eval(output, result)
    if as_json:
        click.echo(dumps(result), nl=False)
    else:
        print_table(result)
        t = result["timings"]
        click.echo(f"{path}  ({result['images']} images, {t['total_s']:.1f}s)", err=True)
