"""The DPG-Bench columns of the ``vqa`` metric (:mod:`longbench.metrics.vqa`): the reference's per-image score
×100 (``dpg``) and its L1/L2 category scores ×100 (``dpg-l1:<L1>``, ``dpg-l2:<L2>``), pooled over every
question of the selected images. The pure rules (dependency zeroing, category levels, pooling) are in
:mod:`longbench.metrics.functional.vqa`; this module applies them to the metric's questions and answers,
with the reference's quirks when ``compat`` is on (see the ``vqa`` module docstring)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from longbench.errors import LongbenchError
from longbench.judges.questions import VQAQuestion
from longbench.metrics.functional import vqa as F
from longbench.metrics.functional.vqa import category_slug


def is_dpg_item(item: Any) -> bool:
    """Whether an item was imported from DPG-Bench (it carries ``meta.dpg_bench``)."""
    meta = getattr(item, "meta", None)
    return isinstance(meta, dict) and isinstance(meta.get("dpg_bench"), dict)


class DPGColumns:
    """Scores images the way DPG-Bench's reference script does.

    Args:
        categories: the suite's question categories (the L2 columns; L1 derived from them). A category met
            later is added as it comes, so a run only misses a column the suite did not declare.
        compat: reproduce the reference's first-row skip and image drop.
    """

    def __init__(self, categories: Sequence[str] | None, compat: bool):
        self.compat = bool(compat)
        self.l2 = list(dict.fromkeys(F.dpg_levels(c)[1] for c in (categories or ())))
        self.l1 = list(dict.fromkeys(F.dpg_levels(c)[0] for c in self.l2))

    def columns(self) -> dict[str, bool]:
        """The pooled category columns (column → higher is better), known at construction."""
        cols = {f"dpg-l1:{category_slug(c)}": True for c in self.l1}
        cols.update({f"dpg-l2:{category_slug(c)}": True for c in self.l2})
        return cols

    def image(self, item_id: str, item: Any, qs: Sequence[VQAQuestion], kinds_t: Sequence[Sequence[str]]
              ) -> tuple[float, list[tuple[int, float]], str | None]:
        """One image's reference score ×100, its category records (L2 index, last tile's raw score) and, when
        the reference would drop the image (``compat`` only), NaN, no records and the reason."""
        skipped = None
        if self.compat and not isinstance(item, str):
            meta = item.meta.get("dpg_bench") if isinstance(item.meta, dict) else None
            skipped = meta.get("first_row_question") if isinstance(meta, dict) else None
        keep = [k for k, q in enumerate(qs) if q.id != skipped]
        dependency = {qs[k].id: list(qs[k].depends_on) for k in keep}
        tiles = [{qs[k].id: (1.0 if kinds[k] == "yes" else 0.0) for k in keep} for kinds in kinds_t]
        try:
            score, last = F.dpg_image(tiles, dependency)
        except F.DPGMissingParent as e:
            if not self.compat:  # only the compat switch's skipped question can be missing (suites are validated)
                raise LongbenchError(f"vqa: item {item_id!r}: {e}") from None
            return math.nan, [], (f"{e}: the reference skips the first data row of the CSV and then raises "
                                  f"KeyError for this image, dropping it from its scores")
        l2_index = {c: i for i, c in enumerate(self.l2)}
        cats = []
        for k in keep:
            l2 = F.dpg_levels(qs[k].category)[1]
            if l2 not in l2_index:  # a category the suite did not declare at construction
                self.l2.append(l2)
                l2_index[l2] = len(self.l2) - 1
            cats.append((l2_index[l2], last[qs[k].id]))
        return 100.0 * score, cats, None

    def pooled(self, l2_indexes: Sequence[int], scores: Sequence[float]) -> dict[str, float]:
        """The category columns over the given question records (NaN for a category without any)."""
        records = [(self.l2[i], s) for i, s in zip(l2_indexes, scores)]
        summary = F.dpg_summary([], records)
        out = {}
        for c in dict.fromkeys(self.l1 + [F.dpg_levels(c)[0] for c in self.l2]):
            out[f"dpg-l1:{category_slug(c)}"] = summary["l1"].get(c, math.nan)  # type: ignore[union-attr]
        for c in self.l2:
            out[f"dpg-l2:{category_slug(c)}"] = summary["l2"].get(c, math.nan)  # type: ignore[union-attr]
        return out

    def protocol(self) -> dict[str, Any]:
        return {"compat": self.compat, "reference": "ELLA dpg_bench/compute_dpg_bench.py",
                "category": "L2 = tuple up to '(' ; L1 = L2 up to '-'; last tile's answers before "
                            "dependency zeroing, pooled over questions",
                "scale": 100}
