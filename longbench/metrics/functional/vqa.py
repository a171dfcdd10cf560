"""Pure scoring behind the ``vqa`` metric: answers → DSG hard/soft scores and the DPG-Bench formula.

DSG scores of one image (questions with dependencies; ``ancestors(q)`` = parents, their parents, ...):

* hard: ``h_q = y_q · Π_{a ∈ ancestors(q)} y_a`` with ``y = 1`` when the answer is "yes", else 0 — a
  question whose parent (or grand-parent ...) was answered "no" scores 0;
* soft: ``s_q = p_q · Π_{a ∈ ancestors(q)} p_a`` with ``p = P(yes) / (P(yes) + P(no))`` — the probability
  that the question and all its ancestors hold if the judge's answers were independent; each ancestor
  counts once. With ``p ∈ {0, 1}`` it equals the hard score.

DPG-Bench (a transcription of the published ``compute_dpg_bench.py``, not a re-interpretation):

* a question scores 1 when the answer is "yes", else 0;
* the questions are walked in file order and a question scores 0 when any parent *currently* scores 0
  (scores are overwritten during the walk, so a zeroed parent zeroes its children when it precedes them —
  always, for topologically ordered questions);
* the image score is the mean over its questions, averaged over ``pic_num`` tiles of ``resolution`` px
  cut from the top-left of a 2×2 grid (left to right, then top to bottom);
* category scores pool, over all images, the *last tile's* answers *before* dependency zeroing (that is
  what the reference's ``qid2scores_orig`` holds); L2 = the question's tuple up to ``(``, L1 = L2 up to
  ``-``; the final numbers are means ×100.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from longbench.errors import LongbenchError

ANSWER_MATCHES = ("normalized", "exact")
DPG_GRID_BOXES = ((0, 0, 1, 1), (1, 0, 2, 1), (0, 1, 1, 2), (1, 1, 2, 2))  # in units of ``resolution``


_FIRST_WORD = re.compile(r"\s*([A-Za-z]+)")


def category_slug(category: str) -> str:
    """A column-friendly form of a category: "entity - whole" → "entity-whole" (``vqa-hard:<slug>``,
    ``dpg-l1:<slug>``, ``dpg-l2:<slug>``)."""
    s = re.sub(r"\s*-\s*", "-", category.strip().lower())
    return re.sub(r"\s+", "_", s)


def normalize_answer(text: str) -> str:
    """The answer's first word, lower-cased ("Yes." → "yes", "No, it is not" → "no"; "" when none)."""
    m = _FIRST_WORD.match(text)
    return m.group(1).lower() if m else ""


def answer_kind(text: str, match: str = "normalized") -> str:
    """``"yes"``, ``"no"`` or ``"other"`` (neither). ``match="exact"`` compares the raw text with "yes"/"no"
    as the DPG-Bench reference does; ``"normalized"`` compares :func:`normalize_answer` of it (identical for
    judges that answer one lower-case word, like BLIP or mPLUG)."""
    if match not in ANSWER_MATCHES:
        raise LongbenchError(f"answer match must be one of {', '.join(ANSWER_MATCHES)}, got {match!r}")
    a = text if match == "exact" else normalize_answer(text)
    return a if a in ("yes", "no") else "other"


def ancestor_sets(parents: Sequence[Sequence[int]]) -> list[frozenset[int]]:
    """For each question, the indices of all its ancestors (parents, their parents, ...).

    Raises:
        LongbenchError: a cycle or an index out of range.
    """
    n = len(parents)
    memo: dict[int, frozenset[int]] = {}

    def visit(i: int, path: tuple[int, ...]) -> frozenset[int]:
        if i in memo:
            return memo[i]
        acc: set[int] = set()
        for p in parents[i]:
            if not 0 <= p < n:
                raise LongbenchError(f"question {i} depends on index {p}, out of range")
            if p == i or p in path:
                raise LongbenchError(f"questions form a dependency cycle through question {p}")
            acc.add(p)
            acc |= visit(p, path + (i,))
        memo[i] = frozenset(acc)
        return memo[i]

    return [visit(i, ()) for i in range(n)]


def dsg_hard(yes: Sequence[float], parents: Sequence[Sequence[int]]) -> list[float]:
    """Per-question hard scores ``y_q · Π y_a`` over ancestors (``yes`` holds 1.0 / 0.0)."""
    anc = ancestor_sets(parents)
    return [float(yes[i] * math.prod(yes[a] for a in anc[i])) for i in range(len(yes))]


def dsg_soft(p_yes: Sequence[float], parents: Sequence[Sequence[int]]) -> list[float]:
    """Per-question soft scores ``p_q · Π p_a`` over ancestors (NaN when any factor is NaN)."""
    anc = ancestor_sets(parents)
    return [float(p_yes[i] * math.prod(p_yes[a] for a in anc[i])) for i in range(len(p_yes))]


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; NaN for no values (NaN values propagate)."""
    return sum(values) / len(values) if values else math.nan


def tile_scores(kinds: Sequence[str], p_yes: Sequence[float], parents: Sequence[Sequence[int]], *,
                inside: Sequence[bool], beyond: Sequence[bool], categories: Sequence[str],
                sentences: Sequence[int | None], category_names: Sequence[str], n_sentences: int
                ) -> tuple[list[float], list[float], dict[str, float]]:
    """The ``vqa`` values of one image (or one tile of it) from the judge's answers to its questions.

    Args:
        kinds: per question, :func:`answer_kind` of the answer (``"other"`` counts as no).
        p_yes: per question, ``P(yes)/(P(yes)+P(no))`` (NaN when the judge gives none).
        parents: per question, the indices of its parent questions.
        inside, beyond: per question, whether its fact is read / not read through 77 positions (a question
            without a fact is in neither).
        categories: per question, its category.
        sentences: per question, the sentence of its fact (None without a fact).
        category_names: the categories that get a value (NaN when no question has it).
        n_sentences: number of sentences of the prompt.

    Returns:
        ``(hard, soft, values)``: per-question hard and soft scores (:func:`dsg_hard`, :func:`dsg_soft`) and
        the values ``vqa-hard``, ``vqa-soft``, ``vqa-neither``, ``vqa-hard@<=77``, ``vqa-hard@>77``,
        ``vqa-soft@<=77``, ``vqa-soft@>77``, ``category:<name>`` for each of ``category_names`` and
        ``sentence:<i>`` (mean hard score of the questions of sentence ``i``) — means NaN when empty.
    """
    yes = [1.0 if k == "yes" else 0.0 for k in kinds]
    hard = dsg_hard(yes, parents)
    soft = dsg_soft(p_yes, parents)
    n = len(kinds)
    values = {"vqa-hard": sum(hard) / n, "vqa-soft": sum(soft) / n, "vqa-neither": sum(k == "other" for k in kinds) / n}
    for suffix, sel in (("@<=77", inside), ("@>77", beyond)):
        values["vqa-hard" + suffix] = mean([h for h, s in zip(hard, sel) if s])
        values["vqa-soft" + suffix] = mean([v for v, s in zip(soft, sel) if s])
    for cat in category_names:
        values[f"category:{cat}"] = mean([h for h, c in zip(hard, categories) if c == cat])
    for si in range(n_sentences):
        values[f"sentence:{si}"] = mean([h for h, s in zip(hard, sentences) if s == si])
    return hard, soft, values


def mean_over_tiles(tiles: Sequence[Mapping[str, float]], *, soft_known: bool = True) -> dict[str, float]:
    """Per key of :func:`tile_scores` values, the mean over tiles of the non-NaN values (NaN when all are);
    the soft values are NaN when not ``soft_known`` (a judge that gives no probabilities)."""
    out: dict[str, float] = {}
    for key in tiles[0]:
        vals = [t[key] for t in tiles if not math.isnan(t[key])]
        out[key] = sum(vals) / len(vals) if vals else math.nan
    if not soft_known:
        for key in ("vqa-soft", "vqa-soft@<=77", "vqa-soft@>77"):
            out[key] = math.nan
    return out


# ---------------------------------------------------------------------------- DPG-Bench
class DPGMissingParent(LookupError):
    """A question depends on a question the image does not have (the reference raises KeyError here)."""

    def __init__(self, qid: str, parent: str):
        super().__init__(f"question {qid!r} depends on question {parent!r}, which is not asked")
        self.qid = qid
        self.parent = parent


def dpg_zeroed(scores: Mapping[str, float], dependency: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Dependency zeroing exactly as the reference walks it: in ``dependency`` order, a question is set to 0
    when any parent's *current* score is 0; parent id ``"0"`` means none.

    Raises:
        DPGMissingParent: a parent id that ``scores`` lacks (the reference's KeyError).
    """
    out = dict(scores)
    for qid, parent_ids in dependency.items():
        for parent in parent_ids:
            if parent == "0":
                continue
            if parent not in out:
                raise DPGMissingParent(qid, parent)
            if out[parent] == 0:
                out[qid] = 0.0
                break
    return out


def dpg_tile_boxes(pic_num: int, resolution: int) -> list[tuple[int, int, int, int]]:
    """PIL crop boxes of the first ``pic_num`` tiles of a 2×2 grid of ``resolution``-px images."""
    if not 1 <= pic_num <= 4:
        raise LongbenchError(f"pic_num must be 1..4 (tiles of a 2x2 grid), got {pic_num}")
    if resolution < 1:
        raise LongbenchError(f"resolution must be >= 1, got {resolution}")
    return [tuple(c * resolution for c in box) for box in DPG_GRID_BOXES[:pic_num]]  # type: ignore[misc]


def dpg_image(tiles: Sequence[Mapping[str, float]], dependency: Mapping[str, Sequence[str]]
              ) -> tuple[float, dict[str, float]]:
    """One image: ``(score in [0,1], last tile's raw scores)`` from each tile's raw scores (question id →
    1.0/0.0, in question order). The score is the mean over tiles of the mean of the zeroed scores."""
    if not tiles:
        raise LongbenchError("dpg: an image needs at least one tile")
    per_tile = []
    for raw in tiles:
        zeroed = dpg_zeroed(raw, dependency)
        per_tile.append(sum(zeroed.values()) / len(zeroed) if zeroed else math.nan)
    return sum(per_tile) / len(per_tile), dict(tiles[-1])


def dpg_levels(category: str) -> tuple[str, str]:
    """``(L1, L2)`` of a question's tuple or L2 category: "entity - whole (cat)" → ("entity", "entity - whole")."""
    l2 = category.split("(")[0].strip()
    return l2.split("-")[0].strip(), l2


def dpg_summary(image_scores: Sequence[float], category_scores: Sequence[tuple[str, float]]) -> dict[str, object]:
    """Final DPG-Bench numbers (×100): the mean image score and, pooled over every question of every image,
    the L1 and L2 category means. ``category_scores``: ``(tuple or L2 category, raw score)`` pairs."""
    l1: dict[str, list[float]] = {}
    l2: dict[str, list[float]] = {}
    for cat, s in category_scores:
        a, b = dpg_levels(cat)
        l1.setdefault(a, []).append(s)
        l2.setdefault(b, []).append(s)
    return {"score": 100.0 * mean(list(image_scores)),
            "l1": {k: 100.0 * mean(v) for k, v in l1.items()},
            "l2": {k: 100.0 * mean(v) for k, v in sorted(l2.items())}}
