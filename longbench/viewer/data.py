"""The page data of a viewer: one compact, column-oriented JSON object embedded in ``index.html``.

Shape (``v`` 1)::

    {v, title, generated, longbench_version, per_page, window,
     suite: {name, version, sha256, n_items}, seed, buckets: [label, ...],
     runs: [{label, spec, run_id, dir, date, n, metrics: {column: [value, ci_lo, ci_hi]}}],
     columns: [{name, metric, hib}],                 # columns with per-sample scores (sortable)
     segmetrics: [{name, unit, lo, hi}],              # metrics with per-segment scores; unit: all in [0, 1]
     items: {id: [...], prompt: [...], tokens: [...], bucket: [index into buckets], seed: [...],
             w77: [character offset where CLIP's window ends, or -1]},
     spans: {metric: [[start, end, start, end, ...] | null per item]},
     thumb, full: [[path | null per item] per run],    # relative to index.html
     gap: [{item index: reason} per run],
     scores: [{column: [value | null per item]} per run],
     segs: [{metric: [[value | null, ...] | null per item]} per run]}

Numbers are rounded to 5 significant digits (the page shows 3-4).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any

from longbench.results import BUCKETS
from longbench.viewer.images import ImageGap, ViewerImage
from longbench.viewer.runs import ViewRun
from longbench.viewer.segments import SegmentLocator

DATA_VERSION = 1


def _num(v: Any) -> float | int | None:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    r = float(f"{v:.5g}")
    return int(r) if r.is_integer() and abs(r) < 1e15 else r  # "1" instead of "1.0": the page is mostly numbers


def _segment_lists(run: ViewRun, item_id: str) -> dict[str, list[float | None]]:
    row = run.samples.get(item_id)
    if row is None:
        return {}
    # the record's shape was checked on reading (longbench.results.SampleRecord)
    return {str(metric): [_num(v) for v in vals] for metric, vals in (row.get("segments") or {}).items()}


def _percentile(sorted_vals: list[float], q: float) -> float:
    k = (len(sorted_vals) - 1) * q
    lo = math.floor(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def build_data(runs: Sequence[ViewRun], suite: Any, images: Sequence[Sequence[ViewerImage | ImageGap]],
               tokens: Sequence[int], window_ends: Sequence[int | None], *, title: str, per_page: int,
               window: int, locator: SegmentLocator | None = None) -> dict[str, Any]:
    """Assemble the page data (see module docstring).

    Args:
        images: per run, one entry per suite item (``ImageGap`` where there is none).
        tokens: CLIP length of each prompt (start and end tokens included).
        window_ends: character offset where the window ends in each prompt (None: the prompt fits).
    """
    from longbench import __version__
    from longbench.text.tokenizer import length_bucket

    locator = locator or SegmentLocator()
    items = suite.items
    columns: list[dict[str, Any]] = []
    seen_cols: set[str] = set()
    for r in runs:
        for col, m in r.results["metrics"].items():
            if col not in seen_cols and any(col in (s.get("scores") or {}) for s in r.samples.values()):
                seen_cols.add(col)
                columns.append({"name": col, "metric": m.get("metric", ""), "hib": bool(m["higher_is_better"])})
    scores = []
    for r in runs:
        per = {}
        for c in columns:
            name = c["name"]
            if name in r.results["metrics"]:
                per[name] = [_num((r.samples.get(it.id) or {}).get("scores", {}).get(name)) for it in items]
        scores.append(per)

    segs: list[dict[str, list[Any]]] = [{} for _ in runs]
    seg_names: list[str] = []
    for i, it in enumerate(items):
        for k, r in enumerate(runs):
            for metric, vals in _segment_lists(r, it.id).items():
                if metric not in segs[k]:
                    segs[k][metric] = [None] * len(items)
                    if metric not in seg_names:
                        seg_names.append(metric)
                segs[k][metric][i] = vals
    spans: dict[str, list[list[int] | None]] = {}
    for metric in seg_names:
        col = []
        for i, it in enumerate(items):
            found = None
            for k, r in enumerate(runs):
                lists = segs[k].get(metric)
                vals = lists[i] if lists is not None else None
                if vals:
                    protocol = (r.results.get("protocols") or {}).get(metric) or {}
                    found = locator.spans(it, metric, len(vals), protocol)
                    break
            col.append([x for span in found for x in span] if found is not None else None)
        spans[metric] = col
    segmetrics = []
    for metric in seg_names:
        vals = sorted(v for k in range(len(runs)) for lst in segs[k].get(metric, []) if lst for v in lst
                      if v is not None)
        unit = bool(vals) and vals[0] >= 0.0 and vals[-1] <= 1.0
        lo, hi = (0.0, 1.0) if unit or not vals else (_percentile(vals, 0.05), _percentile(vals, 0.95))
        if hi <= lo:
            hi = lo + 1.0
        segmetrics.append({"name": metric, "unit": unit, "lo": _num(lo), "hi": _num(hi)})

    first = runs[0].results
    item_seeds = []
    for it in items:
        row = next((r.samples[it.id] for r in runs if it.id in r.samples), None)
        item_seeds.append(row["seed"] if row else None)
    return {
        "v": DATA_VERSION,
        "title": title,
        "generated": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "longbench_version": __version__,
        "per_page": per_page,
        "window": window,
        "suite": {k: first["suite"].get(k) for k in ("name", "version", "sha256")} | {"n_items": len(items)},
        "seed": first["seed"],
        "buckets": list(BUCKETS),
        "runs": [{
            "label": r.label, "spec": r.spec, "run_id": r.results["run_id"], "dir": r.dir.name,
            "date": r.results["date"], "n": r.results["n"],
            "metrics": {col: [_num(m.get("value")), *([_num(x) for x in m["ci"]] if m.get("ci") else [None, None])]
                        for col, m in r.results["metrics"].items()},
        } for r in runs],
        "columns": columns,
        "segmetrics": segmetrics,
        "items": {
            "id": [it.id for it in items],
            "prompt": [it.prompt for it in items],
            "tokens": list(tokens),
            "bucket": [BUCKETS.index(length_bucket(n)) for n in tokens],
            "seed": item_seeds,
            "w77": [-1 if w is None else w for w in window_ends],
        },
        "spans": spans,
        "thumb": [[im.thumb if isinstance(im, ViewerImage) else None for im in run_images] for run_images in images],
        "full": [[im.full if isinstance(im, ViewerImage) else None for im in run_images] for run_images in images],
        "gap": [{str(i): im.reason for i, im in enumerate(run_images) if isinstance(im, ImageGap)}
                for run_images in images],
        "scores": scores,
        "segs": segs,
    }
