"""PNG plots of the leaderboard (matplotlib, Agg canvas; no pyplot global state).

Per suite section and ranked column: ``<column>-bars.png`` (value per run with its confidence
interval as error bars) and ``<column>-by-bucket.png`` (value per prompt-length bucket, one line per
run, bucket intervals as error bars). Only the runs ranked together are drawn together.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from longbench.results import BUCKETS

logger = logging.getLogger(__name__)

MAX_LABEL = 40


def plot_label(text: str) -> str:
    """Model names are user input: keep them literal in matplotlib (no mathtext, not hidden from legends)."""
    s = text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"
    s = s.replace("$", r"\$")
    return " " + s if s.startswith("_") else s


def _err(value: float, ci: Any) -> tuple[float, float]:
    if not ci or ci[0] is None or ci[1] is None:
        return 0.0, 0.0
    return max(value - ci[0], 0.0), max(ci[1] - value, 0.0)


def _save(fig: Any, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})


def bars_plot(col: dict[str, Any], path: Path) -> bool:
    """Horizontal bars (best at the top) with CI error bars; False when no row has a value."""
    from matplotlib.figure import Figure

    rows = [r for r in col["rows"] if r["value"] is not None]
    if not rows:
        return False
    values = [r["value"] for r in rows]
    errs = [_err(r["value"], r["ci"]) for r in rows]
    fig = Figure(figsize=(7.0, 1.2 + 0.45 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    y = list(range(len(rows)))[::-1]
    ax.barh(y, values, xerr=[[e[0] for e in errs], [e[1] for e in errs]], color="#4c78a8", capsize=3,
            ecolor="#222222")
    ax.set_yticks(y, [plot_label(r["label"]) for r in rows])
    direction = "higher" if col["higher_is_better"] else "lower"
    ax.set_xlabel(plot_label(f"{col['column']} ({direction} is better)"))
    lo = min(min(v - e[0] for v, e in zip(values, errs)), 0.0)
    hi = max(max(v + e[1] for v, e in zip(values, errs)), 0.0)
    pad = 0.05 * (hi - lo or 1.0)
    ax.set_xlim(lo - (pad if lo < 0 else 0.0), hi + pad)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)
    return True


def bucket_plot(col: dict[str, Any], path: Path, colors: dict[str, str] | None = None) -> bool:
    """Value per prompt-length bucket, one line per run; False when no run has bucket values.

    ``colors`` maps run ids to matplotlib colours so a model keeps its colour across a section's plots.
    """
    from matplotlib.figure import Figure

    used = [b for b in BUCKETS if any(b in r["by_bucket"] for r in col["rows"])]
    rows = [r for r in col["rows"] if any(r["by_bucket"].get(b, {}).get("value") is not None for b in used)]
    if not used or not rows:
        return False
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    n = len(rows)
    for k, r in enumerate(rows):
        xs, ys, lo, hi = [], [], [], []
        for i, b in enumerate(used):
            bv = r["by_bucket"].get(b) or {}
            if bv.get("value") is None:
                continue
            e = _err(bv["value"], bv.get("ci"))
            xs.append(i + (k - (n - 1) / 2) * 0.04)  # small dodge so error bars do not overlap
            ys.append(bv["value"])
            lo.append(e[0])
            hi.append(e[1])
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=plot_label(r["label"]),
                    color=(colors or {}).get(r["run_id"]))
    ax.set_xticks(range(len(used)), list(used))
    ax.set_xlabel("prompt length (CLIP tokens)")
    direction = "higher" if col["higher_is_better"] else "lower"
    ax.set_ylabel(plot_label(f"{col['column']} ({direction} is better)"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    _save(fig, path)
    return True


def write_plots(table: dict[str, Any], out_dir: Path, subdir: str = "plots") -> list[Path]:
    """Draw every plot under ``out_dir/subdir`` and record the relative paths in ``table`` (column["plots"])."""
    written = []
    for sec in table["sections"]:
        colors = {r["run_id"]: f"C{i % 10}" for i, r in enumerate(sec["runs"])}
        for col in sec["columns"]:
            col["plots"] = {}
            for kind in ("bars", "by_bucket"):
                rel = f"{subdir}/{sec['id']}/{col['id']}-{kind.replace('_', '-')}.png"
                drawn = bars_plot(col, out_dir / rel) if kind == "bars" else bucket_plot(col, out_dir / rel, colors)
                if drawn:
                    col["plots"][kind] = rel
                    written.append(out_dir / rel)
    logger.info("wrote %d plots", len(written))
    return written
