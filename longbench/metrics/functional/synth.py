"""Pure functions behind the ``synth`` metric (definitions in :mod:`longbench.synth.metric`): from which of an
image's facts hold to its per-image columns and per-sentence scores."""

from __future__ import annotations

import math
from collections.abc import Sequence

from longbench.worlds.tokens import CLIP_WINDOW

#: column stem → fact type it averages over (None: every fact)
KINDS: dict[str, str | None] = {
    "fact_recall": None, "count_acc": "count", "binding_acc": "attribute", "position_acc": "spatial",
}
#: column suffixes: all facts, facts inside / beyond the CLIP window (every token stating them inside)
SPLITS = ("", f"@<={CLIP_WINDOW}", f"@>{CLIP_WINDOW}")
COLUMNS: tuple[str, ...] = tuple(f"{stem}{split}" for stem in KINDS for split in SPLITS)


def _mean(values: Sequence[bool]) -> float:
    return sum(values) / len(values) if values else math.nan


def fact_scores(types: Sequence[str], holds: Sequence[bool], inside: Sequence[bool]) -> dict[str, float]:
    """Every column of one image: the share of its facts of the column's kind that hold (NaN when none).

    Args:
        types: per fact, its type (``presence``, ``count``, ``attribute``, ``spatial``).
        holds: per fact, whether it holds in the image.
        inside: per fact, whether every token stating it lies within the CLIP window.
    """
    out: dict[str, float] = {}
    for stem, ftype in KINDS.items():
        sel = [i for i, t in enumerate(types) if ftype is None or t == ftype]
        out[stem] = _mean([holds[i] for i in sel])
        out[stem + SPLITS[1]] = _mean([holds[i] for i in sel if inside[i]])
        out[stem + SPLITS[2]] = _mean([holds[i] for i in sel if not inside[i]])
    return out


def sentence_scores(sentences: Sequence[int], holds: Sequence[bool], n_segments: int) -> list[float]:
    """Per sentence ``0..n_segments-1``, the share of its facts that hold (NaN for a sentence without facts).

    Args:
        sentences: per fact, the index of the sentence that states it.
        holds: per fact, whether it holds.
        n_segments: number of sentences of the prompt.
    """
    return [_mean([h for s, h in zip(sentences, holds) if s == si]) for si in range(n_segments)]
