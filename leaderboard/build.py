"""``longbench leaderboard build``: runs → leaderboard.{md,csv,json}, index.html and plots/, atomically.

Everything is first written into a hidden temporary directory inside the output directory; then
``plots/`` is swapped in by rename and the files are moved over the old ones with ``os.replace``
(index.html last), so a reader never sees a half-written file and a failed build leaves the previous
leaderboard untouched.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from longbench.errors import LongbenchError
from longbench.fileio import swap_dir

logger = logging.getLogger(__name__)

OUTPUT_FILES = ("leaderboard.json", "leaderboard.csv", "leaderboard.md", "index.html")
PLOTS_DIR = "plots"


def build_leaderboard(
    paths: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    boot: Any = None,
    title: str = "longbench leaderboard",
    plots: bool = True,
    viewers: Iterable[str | os.PathLike] = (),
) -> dict[str, Any]:
    """Build the leaderboard from results files, run directories or stores.

    Args:
        paths: results.json files, run directories, or directories holding runs.
        out_dir: output directory (created if missing).
        boot: ``leaderboard.table.BootstrapConfig`` (default settings when None).
        title: page and Markdown title.
        plots: draw the PNG plots.
        viewers: viewer folders written by ``longbench view``; each row of a run one of them shows links
            to it (relative to ``out_dir``).

    Returns:
        The leaderboard table (what ``leaderboard.json`` holds).

    Raises:
        LongbenchError: no runs found, or an input fails validation.
    """
    from leaderboard.page import to_html
    from leaderboard.render import to_csv, to_json, to_markdown
    from leaderboard.runs import load_runs
    from leaderboard.table import build_table

    runs = load_runs(paths)
    if not runs:
        raise LongbenchError("no runs to build a leaderboard from")
    table = build_table(runs, boot)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise LongbenchError(f"{out}: exists and is not a directory")
    from longbench.viewer.links import viewer_links

    links = viewer_links(viewers, out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".build-"))
    try:
        if plots:
            from leaderboard.plots import write_plots

            write_plots(table, tmp, PLOTS_DIR)
        texts = {
            "leaderboard.json": to_json(table),
            "leaderboard.csv": to_csv(table),
            "leaderboard.md": to_markdown(table, title),
            "index.html": to_html(table, title, links),
        }
        for name in OUTPUT_FILES:
            (tmp / name).write_text(texts[name], encoding="utf-8")
        _replace_plots(tmp / PLOTS_DIR, out / PLOTS_DIR)
        for name in OUTPUT_FILES:
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("leaderboard with %d runs in %d suites written to %s", len(runs), len(table["sections"]), out)
    return table


def _replace_plots(new: Path, target: Path) -> None:
    """Replace directory ``target`` by ``new`` (which may not exist: then ``target`` is removed)."""
    if new.exists():
        swap_dir(new, target)  # refuses a file or link at ``target``
    elif target.is_symlink() or target.is_file():
        raise LongbenchError(f"{target}: exists and is not a directory; refusing to replace it")
    elif target.exists():
        shutil.rmtree(target)
