"""``longbench view``: runs → a static viewer folder (``index.html``, ``viewer.json``, ``images/``, ``thumbs/``).

Nothing is fetched at view time and every path in the page is relative, so the folder works from
``file://`` and can be copied or served as is. ``index.html`` and ``viewer.json`` are written atomically
(``viewer.json`` last: its presence marks a complete viewer); images and thumbnails are content-addressed
and written once (``longbench.viewer.images``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from longbench.errors import LongbenchError

logger = logging.getLogger(__name__)

MANIFEST = "viewer.json"
INDEX = "index.html"
DEFAULT_PER_PAGE = 50
MANIFEST_VERSION = 1


@dataclass
class ViewerSummary:
    """What ``build_viewer`` wrote."""

    out: Path
    n_items: int
    n_runs: int
    images: int  # images shown (all runs)
    gaps: int  # items of a run without an image
    thumbs_written: int  # thumbnails encoded by this build (the rest existed already or needed none)
    images_reused: int  # images found already in the folder under their content hash
    seconds: float

    @property
    def index(self) -> Path:
        return self.out / INDEX


def _image_path(run_dir: Path, raw: object) -> str | None:
    if not isinstance(raw, str) or not raw:
        return None
    p = Path(raw)
    if not p.is_absolute() and (run_dir / p).exists():
        return str(run_dir / p)
    return str(p)


def build_viewer(run_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *, suite: str | None = None,
                 per_page: int = DEFAULT_PER_PAGE, title: str | None = None,
                 workers: int | None = None) -> ViewerSummary:
    """Build the side-by-side viewer of ``run_dirs`` into ``out_dir``.

    Args:
        run_dirs: run directories (or their results.json) of the same suite content and seed.
        out_dir: the viewer folder (created; an existing viewer there is updated in place).
        suite: suite name or file when the one recorded in the runs cannot be loaded.
        per_page: items per page.
        title: page title (default: the suite name and version).
        workers: threads hashing and thumbnailing images.

    Raises:
        LongbenchError: a run cannot be read, runs are of different suites or seeds, or the suite is
            not found or differs from the one the runs were scored on.
    """
    from longbench.fileio import atomic_write_text, check_writable
    from longbench.results import dumps
    from longbench.text.tokenizer import MODEL_MAX_LENGTH, TokenCounter, window_end_chars
    from longbench.viewer.data import build_data
    from longbench.viewer.images import ImageGap, ImageStore
    from longbench.viewer.page import render_page
    from longbench.viewer.runs import assign_labels, check_comparable, load_suite_of, load_view_run

    t0 = time.perf_counter()
    if not run_dirs:
        raise LongbenchError("no run directory given")
    if per_page < 1:
        raise LongbenchError(f"--per-page must be >= 1, got {per_page}")
    out = check_writable(out_dir, "--out", directory=True)
    runs = [load_view_run(p) for p in run_dirs]
    check_comparable(runs)
    assign_labels(runs)
    suite_obj = load_suite_of(runs, suite)
    items = suite_obj.items

    prompts = [it.prompt for it in items]
    counts, ends = window_end_chars(prompts, MODEL_MAX_LENGTH, TokenCounter())

    out.mkdir(parents=True, exist_ok=True)
    store = ImageStore(out)
    paths = [_image_path(r.dir, (r.samples.get(it.id) or {}).get("image")) if it.id in r.samples else None
             for r in runs for it in items]
    added = store.add_many(paths, workers)
    images = [added[k * len(items):(k + 1) * len(items)] for k in range(len(runs))]
    for k, r in enumerate(runs):  # "no image recorded" would be wrong for an item missing from the run
        for i, it in enumerate(items):
            if it.id not in r.samples:
                images[k][i] = ImageGap("not in this run")
    s = runs[0].results["suite"]
    data = build_data(runs, suite_obj, images, [n + 2 for n in counts], ends,
                      title=title or f"{s['name']} v{s['version']} · {len(runs)} runs", per_page=per_page,
                      window=MODEL_MAX_LENGTH)
    atomic_write_text(out / INDEX, render_page(data))
    manifest = {
        "viewer_version": MANIFEST_VERSION, "index": INDEX, "generated": data["generated"],
        "suite": data["suite"], "seed": data["seed"],
        "runs": [{"index": k, "run_id": r.results["run_id"], "spec": r.spec, "dir": str(r.dir.resolve())}
                 for k, r in enumerate(runs)],
    }
    atomic_write_text(out / MANIFEST, dumps(manifest))
    gaps = sum(isinstance(im, ImageGap) for run_images in images for im in run_images)
    summary = ViewerSummary(out=out, n_items=len(items), n_runs=len(runs), images=len(runs) * len(items) - gaps,
                            gaps=gaps, thumbs_written=store.written, images_reused=store.reused,
                            seconds=time.perf_counter() - t0)
    logger.info("viewer of %d runs x %d items written to %s in %.1fs", len(runs), len(items), out, summary.seconds)
    return summary
