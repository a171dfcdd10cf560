"""Links from other pages (the leaderboard) to the viewers that show a run: read from ``viewer.json``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from longbench import jsonio
from longbench.errors import LongbenchError

MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def viewer_links(viewer_dirs: Iterable[str | os.PathLike], page_dir: str | os.PathLike) -> dict[str, str]:
    """``run_id`` → URL of a viewer showing that run, relative to ``page_dir`` (where the linking page
    lives). The fragment selects the run for tinting. The first viewer listing a run wins.

    Raises:
        LongbenchError: a directory without a readable ``viewer.json``.
    """
    from longbench.viewer.build import INDEX, MANIFEST

    links: dict[str, str] = {}
    base = Path(page_dir).resolve()
    for d in viewer_dirs:
        path = Path(d) / MANIFEST
        if not path.is_file():
            raise LongbenchError(f"--viewer {d}: no {MANIFEST} (build a viewer with: longbench view RUN... --out {d})")
        manifest = jsonio.read_json(path, MAX_MANIFEST_BYTES)
        try:
            entries = [(str(r["run_id"]), int(r["index"])) for r in manifest["runs"]]
        except (KeyError, TypeError, ValueError) as e:
            raise LongbenchError(f"--viewer {d}: {MANIFEST} is not a viewer manifest ({type(e).__name__})") from None
        rel = Path(os.path.relpath(Path(d).resolve() / INDEX, base)).as_posix()
        for run_id, index in entries:
            links.setdefault(run_id, f"{quote(rel)}#t={index}")
    return links
