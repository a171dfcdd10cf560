"""``longbench suites``: list, show, validate, import and describe prompt suites.

Only click and the declaration of the import options are imported at module import; everything else is
imported inside the commands.
"""

from __future__ import annotations

import json
from typing import Any

import click

from longbench.cli_support import EXIT_BAD_INPUT, ErrorExitGroup, option_flags
from longbench.errors import LongbenchError
from longbench.suites.options import ImportOptions


def escape(text: str) -> str:
    """Show user text literally in rich output (prompts may contain "[red]" or "[/]")."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _console() -> Any:
    from rich.console import Console

    console = Console(soft_wrap=False, emoji=False)
    if not console.is_terminal:  # piped or captured: do not squeeze tables (sha256s) into 80 columns
        console = Console(soft_wrap=False, width=200, emoji=False)
    return console


@click.group("suites", cls=ErrorExitGroup)
def suites() -> None:
    """Prompt suites: list, show, validate, import, stats."""


@suites.command("list")
def list_cmd() -> None:
    """Registered suites with version, item count and sha256.

    Built-in suites are listed from their declarations (nothing is loaded or generated); a suite that
    declares nothing (a plugin) is loaded.
    """
    from rich.table import Table

    from longbench.cli_support import describe
    from longbench.registry import SUITES

    table = Table(title="suites")
    for col in ("name", "version", "items", "sha256", "description"):
        table.add_column(col, no_wrap=col == "sha256", justify="right" if col == "items" else "left")
    for name in SUITES.names():
        try:
            declared, _ = describe(SUITES, name)
            if declared is None or not declared.sha256:
                from longbench.suites.loaders import load_suite

                s = load_suite(name)
                row = (s.version, str(len(s)), s.sha256, declared.summary if declared else "")
            else:
                row = (declared.version, str(declared.size), declared.sha256, declared.summary)
            table.add_row(escape(name), escape(row[0]), row[1], row[2], escape(row[3]))
        except LongbenchError as e:
            table.add_row(escape(name), "-", "-", f"[red]unavailable: {escape(str(e))}[/red]", "")
    _console().print(table)


@suites.command("show")
@click.argument("spec")
@click.option("--item", "item_id", help="Show one item in full.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Items to list.")
def show_cmd(spec: str, item_id: str | None, limit: int) -> None:
    """Show a suite (registered NAME or suite FILE): its items, or one item with --item."""
    from rich.table import Table

    from longbench.suites.loaders import load_suite
    from longbench.text.splitters import split_default

    s = load_suite(spec)
    console = _console()
    if item_id is not None:
        found = [it for it in s.items if it.id == item_id]
        if not found:
            import difflib

            close = difflib.get_close_matches(item_id, [it.id for it in s.items], n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise LongbenchError(f"suite {s.name!r} has no item {item_id!r}{hint}")
        it = found[0]
        console.print(f"[bold]{escape(s.name)}[/bold] {escape(s.version)} · item [bold]{it.id}[/bold]")
        console.print(it.prompt, markup=False, highlight=False)
        sentences = list(it.segments) if it.segments is not None else split_default(it.prompt)
        t = Table(title="sentences" + (" (segments)" if it.segments is not None else ""))
        t.add_column("#", justify="right")
        t.add_column("text")
        for k, sent in enumerate(sentences):
            t.add_row(str(k), escape(sent))
        console.print(t)
        if it.entities:
            t = Table(title="entities")
            for col in ("name", "count", "attributes"):
                t.add_column(col)
            for e in it.entities:
                t.add_row(escape(e.name), "-" if e.count is None else str(e.count), escape(", ".join(e.attributes)))
            console.print(t)
        if it.facts:
            t = Table(title="facts")
            for col in ("type", "sentence", "entity", "value", "target"):
                t.add_column(col)
            for f in it.facts:
                t.add_row(f.type, str(f.sentence), escape(f.entity or ""), escape("" if f.value is None else str(f.value)),
                          f.target or "")
            console.print(t)
        if it.questions:
            t = Table(title="questions")
            for col in ("id", "question", "depends on", "category", "fact"):
                t.add_column(col)
            for q in it.questions:
                t.add_row(escape(q.id), escape(q.text), escape(", ".join(q.depends_on)), escape(q.category or ""),
                          "" if q.fact is None else str(q.fact))
            console.print(t)
        extra = {k: v for k, v in (("tags", list(it.tags)), ("reference_image", it.reference_image),
                                   ("meta", it.meta)) if v}
        if extra:
            console.print(json.dumps(extra, ensure_ascii=False), markup=False, highlight=False)
        return
    table = Table(title=f"{s.name} {s.version} · {len(s)} items · sha256 {s.sha256[:16]}…")
    for col in ("id", "sentences", "counted", "prompt"):
        table.add_column(col, justify="right" if col in ("sentences", "counted") else "left",
                         no_wrap=col == "id", overflow="ellipsis")
    for it in s.items[:limit]:
        n_sent = len(it.segments) if it.segments is not None else len(split_default(it.prompt))
        counted = ", ".join(f"{e.name}×{e.count}" for e in it.entities if e.count is not None)
        preview = " ".join(it.prompt.split())
        table.add_row(it.id, str(n_sent), escape(counted), escape(preview[:100] + ("…" if len(preview) > 100 else "")))
    console.print(table)
    if len(s) > limit:
        console.print(f"… {len(s) - limit} more (use --limit)")


@suites.command("validate")
@click.argument("file")
def validate_cmd(file: str) -> None:
    """Check a suite FILE (or a registered suite NAME) against the annotation schema and its own text.

    Prints one `FILE:LINE: message` per problem and exits 2 if there is any. For a NAME, LINE is the
    item's position in the suite.
    """
    from pathlib import Path

    from longbench.registry import SUITES
    from longbench.suites.schema import validate_file, validate_suite

    if Path(file).is_file() or file not in SUITES:
        if not Path(file).exists() and file not in SUITES and not file.endswith((".jsonl", ".json")):
            raise SUITES.unknown(file)
        problems = validate_file(file)
    else:
        from longbench.suites.loaders import load_suite

        problems = validate_suite(load_suite(file))
    for p in problems:
        click.echo(str(p))
    if problems:
        click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {file}", err=True)
        raise SystemExit(EXIT_BAD_INPUT)
    click.echo(f"{file}: ok")


@suites.command("import")
@click.argument("fmt", metavar="FORMAT")
@click.argument("path", type=click.Path())
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Suite JSONL to write.")
@option_flags(ImportOptions)
def import_cmd(fmt: str, path: str, out: str, **options: Any) -> None:
    """Import prompts in FORMAT from PATH into a suite file.

    FORMAT: dpg-bench (folder of N.txt), dpg-bench-csv (dpg_bench.csv, with its questions), docci, longalign
    (JSON/JSONL/parquet), geneval (metadata.jsonl), t2i-compbench (.txt), jsonl, csv, txt, and the formats
    of installed plugins (entry-point group longbench.importers).
    """
    from pathlib import Path

    from longbench.fileio import check_writable
    from longbench.suites.importers import check_format, import_to_file

    fmt = check_format(fmt.lower())
    check_writable(out, "--out", directory=False)
    opts = ImportOptions(**options)
    if opts.image_root and Path(opts.image_root).is_file():
        raise LongbenchError(f"--image-root {opts.image_root}: a file, not a folder")
    s = import_to_file(fmt, path, out, opts)
    with_counts = sum(1 for it in s.items if any(e.count is not None for e in it.entities))
    click.echo(f"wrote {out}: suite {s.name} {s.version}, {len(s)} items "
               f"({with_counts} with counted entities), sha256 {s.sha256}")


@suites.command("stats")
@click.argument("spec")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write the token-length histogram to this PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def stats_cmd(spec: str, plot: str | None, as_json: bool) -> None:
    """Length statistics of a suite (registered NAME or FILE): CLIP tokens, sentences, counts."""
    from longbench.fileio import check_writable
    from longbench.suites.loaders import load_suite
    from longbench.suites.stats import plot_histogram, suite_stats

    if plot:
        check_writable(plot, "--plot", directory=False)
    st = suite_stats(load_suite(spec))
    if plot:
        plot_histogram(st, plot)
    if as_json:
        click.echo(json.dumps(st, indent=2))
        return
    from rich.table import Table

    tok, sen, cnt = st["tokens"], st["sentences"], st["counted_entities"]
    s = st["suite"]
    table = Table(title=f"{s['name']} {s['version']} · {st['n_items']} items · sha256 {s['sha256'][:16]}…")
    for col in ("", "mean", "median", "min", "max"):
        table.add_column(col, justify="left" if not col else "right")
    for label, d in (("CLIP tokens", tok), ("sentences / prompt", sen), ("counted entities / prompt", cnt)):
        table.add_row(label, f"{d['mean']:.1f}", f"{d['median']:g}", str(d["min"]), str(d["max"]))
    console = _console()
    console.print(table)
    console.print(f"beyond 77 tokens: {tok['share_over_77']:.1%}   beyond 240 tokens: {tok['share_over_240']:.1%}   "
                  f"items with counted entities: {cnt['share_of_items']:.1%}", highlight=False)
    hist = Table(title="CLIP token length")
    hist.add_column("tokens")
    hist.add_column("prompts", justify="right")
    hist.add_column("")
    peak = max(tok["histogram"]["counts"]) or 1
    edges = tok["histogram"]["edges"]
    for k, c in enumerate(tok["histogram"]["counts"]):
        hist.add_row(f"{edges[k]}–{edges[k + 1] - 1}", str(c), "█" * round(30 * c / peak))
    console.print(hist)
    console.print("buckets: " + "  ".join(f"{b} {n}" for b, n in tok["buckets"].items()), highlight=False)
    if plot:
        console.print(f"wrote {plot}", highlight=False)
