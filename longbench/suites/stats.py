"""Length and content statistics of a suite (``longbench suites stats``).

Token lengths are CLIP lengths as the text encoder sees them untruncated: content tokens plus the start
and end tokens (the convention of ``longbench.text.tokenizer.length_bucket``), so "beyond 77" means the
prompt does not fit one CLIP context and "beyond 240" means it does not fit LongAlign's 240 either.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from statistics import mean, median
from typing import TYPE_CHECKING, Any

from longbench.fileio import atomic_write_bytes
from longbench.suites.base import Suite
from longbench.text.splitters import split_default
from longbench.text.tokenizer import LENGTH_BUCKETS, length_bucket

if TYPE_CHECKING:
    from longbench.text.tokenizer import TokenCounter

logger = logging.getLogger(__name__)

HIST_BIN_WIDTH = 20
CLIP_CONTEXT = 77
LONGALIGN_CONTEXT = 240


def _summary(values: Sequence[int]) -> dict[str, float]:
    return {"mean": float(mean(values)), "median": float(median(values)), "min": int(min(values)),
            "max": int(max(values))}


def histogram(lengths: Sequence[int], width: int = HIST_BIN_WIDTH) -> dict[str, Any]:
    """Counts of ``lengths`` in bins ``[k*width, (k+1)*width)`` from 0 to past the maximum."""
    n_bins = max(1, math.floor(max(lengths) / width) + 1)
    counts = [0] * n_bins
    for n in lengths:
        counts[n // width] += 1
    return {"bin_width": width, "edges": [k * width for k in range(n_bins + 1)], "counts": counts}


def suite_stats(suite: Suite, counter: TokenCounter | None = None) -> dict[str, Any]:
    """Statistics of ``suite``: item count, CLIP length distribution, sentences and counted entities.

    Args:
        suite: the suite.
        counter: a ``TokenCounter`` (built from the offline CLIP tokenizer when omitted).

    Returns:
        A JSON-ready dict: ``n_items``, ``tokens`` (summary, ``histogram``, ``buckets``,
        ``share_over_77``, ``share_over_240``), ``sentences`` (summary per prompt) and
        ``counted_entities`` (summary per prompt, ``total``, ``share_of_items``).
    """
    if counter is None:
        from longbench.text.tokenizer import TokenCounter

        counter = TokenCounter()
    prompts = [it.prompt for it in suite.items]
    lengths = [n + 2 for n in counter.many(prompts)]
    sentences = [len(it.segments) if it.segments is not None else len(split_default(it.prompt))
                 for it in suite.items]
    counted = [sum(1 for e in it.entities if e.count is not None) for it in suite.items]
    n = len(suite.items)
    buckets = {label: 0 for _, _, label in LENGTH_BUCKETS}
    for length in lengths:
        buckets[length_bucket(length)] += 1
    return {
        "suite": suite.info(),
        "n_items": n,
        "tokens": {
            **_summary(lengths),
            "share_over_77": sum(x > CLIP_CONTEXT for x in lengths) / n,
            "share_over_240": sum(x > LONGALIGN_CONTEXT for x in lengths) / n,
            "buckets": buckets,
            "histogram": histogram(lengths),
        },
        "sentences": _summary(sentences),
        "counted_entities": {**_summary(counted), "total": sum(counted),
                             "share_of_items": sum(c > 0 for c in counted) / n},
    }


def plot_histogram(stats: dict[str, Any], out: str | Path) -> Path:
    """Write the token-length histogram of ``stats`` (from :func:`suite_stats`) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = stats["tokens"]["histogram"]
    edges, counts, width = hist["edges"], hist["counts"], hist["bin_width"]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        ax.bar(edges[:-1], counts, width=width, align="edge", color="#4c72b0", edgecolor="white")
        for x, label in ((CLIP_CONTEXT, "77 (CLIP)"), (LONGALIGN_CONTEXT, "240 (LongAlign)")):
            ax.axvline(x, color="#c44e52", linestyle="--", linewidth=1)
            ax.text(x, max(counts) * 0.95, f" {label}", color="#c44e52", fontsize=8, va="top")
        s = stats["suite"]
        ax.set_title(f"{s['name']} {s['version']}: CLIP token length of {stats['n_items']} prompts")
        ax.set_xlabel("CLIP tokens (with start/end)")
        ax.set_ylabel("prompts")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        out = Path(out)
        atomic_write_bytes(out, buf.getvalue())  # a reader never sees half a PNG; normal permissions
    finally:
        plt.close(fig)
    return out
