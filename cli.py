"""The ``longbench`` command line: a thin click layer over the Python API.

Exit codes (one mapping for every group: ``longbench.cli_support``): 0 ok, 1 a ``--fail-under`` /
``--max-regression`` gate failed, 2 bad usage or bad input, 3 an internal error (traceback with ``--debug``).
Nothing heavy is imported at start-up (``longbench --help`` does not import torch).
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import click

from longbench import __version__
from longbench.cli_support import EXIT_GATE, ErrorExitGroup, RichProgress
from longbench.errors import LongbenchError
from longbench.options import parse_key_values, parse_metric_args
from longbench.text.splitters import SPLITTERS

# Sub-command groups owned by other packages, imported only when used.
LAZY_COMMANDS = {
    "suites": "longbench.suites.commands:suites",
    "train": "longalign.commands:train",
    "leaderboard": "leaderboard.commands:leaderboard",
    "view": "longbench.viewer.commands:view",
    "meta-eval": "longbench.mini.commands:meta_eval",
}

#: What `longbench eval` runs with no --model, per world of the suite (a suite file gets the synth world's): on a
#: miniature split the zoo's generators and the exact oracle (the ceiling), scored with its default metrics.
DEFAULT_MODELS = {"synth": ("synth:oracle", "synth:clip77"), "mini": ("mini:oracle", "mini:sd", "mini:longsd")}


def world_suites() -> dict[str, str]:
    """The built-in worlds: the model-spec kind that draws one → its default suite (the miniature world's is the
    test split the shipped zoo was trained for: mini-v0 or mini-v1)."""
    from longbench.mini import zoo

    return {"synth": "synth-v0", "mini": zoo.suite_name() if zoo.SHIPPED else "mini-v0"}


def default_suite() -> str:
    """The offline default: the shipped miniature zoo's test split, else the synthetic world's suite."""
    from longbench.mini import zoo

    return world_suites()["mini"] if zoo.SHIPPED else "synth-v0"


def default_models(suite: str) -> tuple[str, ...]:
    """The models `longbench eval` runs on ``suite`` without --model."""
    from longbench.mini.suite import TEST_SPLITS

    mini = {s.name for s in TEST_SPLITS.values()}
    return DEFAULT_MODELS["mini" if suite in mini else "synth"]


def check_world_of_default_suite(models: tuple[str, ...], suite: str) -> None:
    """A world's model (``synth:oracle``) run without --suite on another world's default suite is a one-line
    error that says which --suite to add, instead of a failure on the suite's first item."""
    worlds = world_suites()
    for spec in models:
        kind = spec.split(":", 1)[0]
        if worlds.get(kind, suite) != suite:
            raise LongbenchError(f"--model {spec} draws the {kind} world's scenes, but no --suite was given and "
                                   f"the default suite is {suite}; add --suite {worlds[kind]}")


class LongbenchGroup(ErrorExitGroup):
    """The top-level group: imports lazy sub-commands on demand; errors map to exit codes (cli_support)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=LongbenchGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="longbench")
@click.option("-v", "--verbose", count=True,
              help="More logging (-v info, -vv debug); -v also shows the libraries' warnings and progress bars.")
@click.option("--debug", is_flag=True,
              help="On an internal error (exit 3) or any error, print the Python traceback too.")
def main(verbose: int, debug: bool) -> None:
    """Long-prompt text-to-image benchmarks and the LongAlign reference trainer.

    Run `longbench eval` with no options for the offline benchmark: the miniature world's trained generators
    on the test split of the shipped zoo (docs/mini.md).
    """
    import logging

    from longbench import verbosity

    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    verbosity.configure(verbose)  # third-party libraries: quiet unless -v, in every sub-command


def parse_pairs(values: tuple[str, ...], flag: str, convert: type = str) -> dict[str, Any]:
    """``("a=1", "b=2")`` → ``{"a": "1", "b": "2"}`` (``convert=float``: numbers, keys split at the last ``=``
    as column names such as ``fact_recall@<=77`` contain one), one-line errors naming the flag. Option values
    stay strings: the model's and metrics' declared options convert them (``longbench.options``)."""
    if convert is float:
        return parse_key_values(values, flag, "denscore=21.5", numbers=True)
    return parse_key_values(values, flag, "steps=30")


def format_value(m: dict[str, Any]) -> str:
    v = m.get("value")
    if v is None or v != v:  # missing or NaN (no sample has a value)
        return "n/a"
    ci = m.get("ci")
    fmt = (lambda x: f"{x:.3f}") if abs(v) < 100 else (lambda x: f"{x:.1f}")
    return fmt(v) if not ci else f"{fmt(v)} [{fmt(ci[0])}, {fmt(ci[1])}]"


def print_comparison(outputs: list[Any]) -> None:
    """One table: metric columns as rows, models as columns (values with 95% CIs)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    first = outputs[0].results
    s = first["suite"]
    table = Table(title=escape(f"{s['name']} v{s['version']} · n={first['n']} · sha256 {s['sha256'][:12]}"),
                  title_justify="left")
    table.add_column("metric")
    for o in outputs:
        table.add_column(escape(o.results["model"]["spec"]), justify="right")
    cols: list[str] = []
    for o in outputs:
        cols += [c for c in o.results["metrics"] if c not in cols]
    # a column no item has a value in, for any model (position_acc on mini-v1, which states no places): one line
    empty = [c for c in cols if all(o.results["metrics"].get(c, {}).get("n", 1) == 0 for o in outputs)]
    for col in (c for c in cols if c not in empty):
        arrow = "↑" if first["metrics"].get(col, {}).get("higher_is_better", True) else "↓"
        table.add_row(escape(f"{col} {arrow}"), *[format_value(o.results["metrics"][col]) if col in o.results["metrics"]
                                          else "-" for o in outputs])
    console = Console(emoji=False)
    console.print(table)
    if empty:
        console.print(escape(f"no item has a value for {', '.join(empty)} (the suite states no such fact)"))


@main.command("eval")
@click.option("--model", "models", multiple=True, metavar="SPEC",
              help="Model spec, repeatable: diffusers:ID|DIR, longsd:DIR, images:DIR, cmd:TEMPLATE, "
                   "python:MOD:FN, synth:NAME, mini:NAME. Default: on a miniature suite mini:oracle, mini:sd and "
                   "mini:longsd; on another, synth:oracle and synth:clip77.")
@click.option("--suite", default=None, metavar="NAME|FILE",
              help=f"Suite name or suite JSONL file.  [default: {default_suite()}]")
@click.option("--metric", "metrics", multiple=True, metavar="NAME", help="Metric name, repeatable (default: the suite's defaults).")
@click.option("--model-arg", multiple=True, metavar="KEY=VALUE",
              help="Adapter option for every --model (e.g. steps=30, guidance=7.5, dtype=float16); "
                   "`longbench models list` shows each kind's options.")
@click.option("--metric-arg", multiple=True, metavar="METRIC.KEY=VALUE",
              help="Metric option, e.g. denscore.splitter=default; `longbench metrics list` shows each metric's options.")
@click.option("--limit", type=int, help="Evaluate only the first N items (same images as a full run).")
@click.option("--seed", type=int, default=0, show_default=True, help="Global seed; per-item seeds derive from it.")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Images per generation and scoring batch.")
@click.option("--prefetch", type=int, default=1, show_default=True,
              help="Batches generated (or read from the cache) ahead while a batch is scored; 0: none.")
@click.option("--output", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Run directory root (results, samples and the image cache).")
@click.option("--device", default="cpu", show_default=True, help="Device for metrics (e.g. cpu, cuda).")
@click.option("--fail-under", multiple=True, metavar="METRIC=VALUE",
              help="Exit 1 if METRIC is worse than VALUE (below it, or above it for lower-is-better metrics).")
@click.option("--leaderboard", "leaderboard_dir", type=click.Path(file_okay=False),
              help="Also add the run(s) to this leaderboard store.")
@click.option("--view", "view_dir", type=click.Path(file_okay=False),
              help="Also build the side-by-side viewer of the run(s) in this folder (as `longbench view`).")
@click.option("--compare-to", type=click.Path(dir_okay=False), help="Baseline results.json for a regression gate.")
@click.option("--max-regression", multiple=True, metavar="METRIC=DELTA",
              help="With --compare-to: exit 1 if METRIC regresses by more than DELTA.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of a table.")
@click.option("--no-progress", is_flag=True, help="Do not draw progress bars.")
def eval_cmd(models: tuple[str, ...], suite: str | None, metrics: tuple[str, ...], model_arg: tuple[str, ...],
             metric_arg: tuple[str, ...], limit: int | None, seed: int, batch_size: int, prefetch: int, output: str,
             device: str, fail_under: tuple[str, ...], leaderboard_dir: str | None, view_dir: str | None,
             compare_to: str | None, max_regression: tuple[str, ...], as_json: bool, no_progress: bool) -> None:
    """Evaluate models on a suite and write results under --output.

    With no options, fully offline: the default --suite (the shipped miniature zoo's test split) with its
    default models — the zoo's trained generators mini:sd (77 positions) and mini:longsd (segments, 240)
    beside the exact mini:oracle, scored with the exact and the learned metrics (docs/mini.md). On synth-v0
    the defaults are the synthetic world's renderers synth:oracle vs synth:clip77.
    """
    from leaderboard.gate import parse_max_regression
    from longbench.evaluate import evaluate
    from longbench.gates import Gates
    from longbench.runner import EvalConfig

    if suite is None:
        suite = default_suite()
        check_world_of_default_suite(models, suite)
    config = EvalConfig(
        models=list(models) or list(default_models(suite)), suite=suite,
        metrics=list(metrics) or None,
        model_args=parse_pairs(model_arg, "--model-arg"), metric_args=parse_metric_args(metric_arg), limit=limit,
        seed=seed, batch_size=batch_size, output=output, device=device, prefetch=prefetch)
    gates = Gates(fail_under=parse_pairs(fail_under, "--fail-under", float), compare_to=compare_to,
                  max_regression=parse_max_regression(max_regression))
    with RichProgress(enabled=not no_progress and not as_json) as progress:
        ev = evaluate(config, gates, leaderboard=leaderboard_dir, view=view_dir, progress=progress)
    if not ev.runs:
        return  # a non-main process of a multi-process run: the main process reports
    if as_json:
        from longbench.results import dumps

        click.echo(dumps([o.results for o in ev.runs]))
    else:
        print_comparison(ev.runs)
        for o in ev.runs:
            t = o.results["timings"]
            click.echo(f"{o.results['model']['spec']}: {o.run_dir}  (generated {t['images_generated']}, "
                       f"cached {t['images_cached']}, {t['total_s']:.1f}s)", err=True)
    for dest, added in ev.leaderboard:
        click.echo(f"added to leaderboard: {dest}" if added else
                   f"already in leaderboard (identical run, nothing added): {dest}", err=True)
    if ev.viewer is not None:
        v = ev.viewer
        click.echo(f"viewer: {v.index} ({v.n_runs} runs x {v.n_items} items, {v.seconds:.1f}s)", err=True)
    for f in ev.threshold_failures:
        click.echo(f"FAIL {f}", err=True)
    for check in ev.regressions:
        click.echo(f"regression summary: {check.summary}", err=True)
        if not check.gate.ok:
            click.echo(f"FAIL {check.run.results['model']['spec']}: regression against {compare_to}", err=True)
    if not ev.ok:
        sys.exit(EXIT_GATE)


@main.command("encode")
@click.argument("prompt")
@click.option("--splitter", type=click.Choice(list(SPLITTERS)), default="default", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def encode_cmd(prompt: str, splitter: str, as_json: bool) -> None:
    """Show how PROMPT splits into segments, with CLIP token counts ('-' reads stdin; put `--` before a
    prompt that starts with '-').

    Counts include the start and end tokens; segments over 77 would be truncated by CLIP.
    """
    from longbench.text.splitters import split
    from longbench.text.tokenizer import MODEL_MAX_LENGTH, TokenCounter

    if prompt == "-":
        data = sys.stdin.buffer.read()
        try:
            prompt = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise LongbenchError(f"stdin: not valid UTF-8 (byte {e.start})") from None
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in argv arrive as surrogate escapes
        raise LongbenchError("PROMPT is not valid UTF-8 text") from None
    if not prompt.strip():
        raise LongbenchError("empty prompt")
    counter = TokenCounter()
    segments = split(prompt, splitter, counter if splitter == "default" else None)
    lengths = [n + 2 for n in counter.many(segments)]
    total = counter.length(prompt)
    rows = [{"index": i, "tokens": n, "over_77": n > MODEL_MAX_LENGTH, "text": s}
            for i, (s, n) in enumerate(zip(segments, lengths))]
    if as_json:
        click.echo(json.dumps({"splitter": splitter, "prompt_tokens": total, "segments": rows}, indent=2,
                              ensure_ascii=False))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{len(segments)} segments · prompt {total} CLIP tokens · splitter {splitter}",
                  title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("tokens", justify="right")
    table.add_column("segment", overflow="fold")
    for r in rows:
        table.add_row(str(r["index"]), f"[red]{r['tokens']} > 77[/red]" if r["over_77"] else str(r["tokens"]),
                      escape(r["text"]))
    Console(emoji=False).print(table)


@main.group("models")
def models_group() -> None:
    """Model adapters."""


@models_group.command("list")
def models_list() -> None:
    """List model spec kinds (built-in and plugins) with their --model-arg options (type, default, help)."""
    from longbench.cli_support import describe, echo_options, first_line
    from longbench.registry import MODELS

    for name in MODELS.names():
        try:
            declared, cls = describe(MODELS, name)
            options = MODELS.options(name)
        except LongbenchError as e:
            click.echo(f"{name:10s} (unavailable: {e})")
            continue
        click.echo(f"{name:10s} {declared.summary if declared else first_line(cls.__doc__)}")
        echo_options(options, "--model-arg KEY=VALUE:", 10)


@main.group("metrics")
def metrics_group() -> None:
    """Metrics."""


@metrics_group.command("list")
def metrics_list() -> None:
    """List metrics with their columns (↑ higher is better, ↓ lower) and --metric-arg options (type, default,
    help)."""
    from longbench.cli_support import describe, echo_options, first_line
    from longbench.registry import METRICS

    for name in METRICS.names():
        try:
            declared, cls = describe(METRICS, name)
            options = METRICS.options(name)
        except LongbenchError as e:
            click.echo(f"{name:14s} (unavailable: {e})")
            continue
        columns = declared.columns if declared else cls.columns
        cols = ", ".join(f"{c}{'↑' if up else '↓'}" for c, up in columns.items())
        click.echo(f"{name:14s} {cols}")
        click.echo(f"{'':14s} {declared.summary if declared else first_line(cls.__doc__)}")
        echo_options(options, f"--metric-arg {name}.KEY=VALUE:", 14)


@main.command("doctor")
def doctor() -> None:
    """Versions, device, and which known weights resolve offline."""
    from longbench.doctor import report

    report()


if __name__ == "__main__":
    main()
