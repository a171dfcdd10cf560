"""``longbench view``: the click command of the viewer (only click at import)."""

from __future__ import annotations

import click


@click.command("view")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True), metavar="RUN_DIR...")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Viewer folder to write (index.html, viewer.json, images/, thumbs/).")
@click.option("--suite", default=None, metavar="NAME|FILE",
              help="The suite the runs were scored on, when the one recorded in results.json cannot be loaded.")
@click.option("--per-page", default=50, show_default=True, type=int, help="Items per page.")
@click.option("--title", default=None, help="Page title (default: suite name and version).")
def view(run_dirs: tuple[str, ...], out_dir: str, suite: str | None, per_page: int, title: str | None) -> None:
    """Build a static viewer of RUN_DIR... side by side: per item the prompt with each segment tinted by its
    score, the end of CLIP's 77-token window marked, and every run's image with its scores.

    The runs must share the suite content (sha256) and the seed. Open OUT/index.html in a browser (works
    from file://, nothing is fetched).
    """
    from longbench.viewer import build_viewer

    summary = build_viewer(run_dirs, out_dir, suite=suite, per_page=per_page, title=title)
    click.echo(f"{summary.n_runs} runs x {summary.n_items} items ({summary.images} images, {summary.gaps} missing, "
               f"{summary.thumbs_written} thumbnails written) in {summary.seconds:.1f}s -> {summary.index}")
