"""``mini`` metric: exact fact checking of miniature images.

The exact reader reads each image back and each of the item's facts is checked
(``longbench.mini.read.fact_holds``). The columns are those of the ``synth`` metric, computed by the same
functions (``longbench.metrics.functional.synth``): per image the fraction of its facts of a kind that
hold (NaN when it has none), averaged over images — ``fact_recall`` (all facts), ``count_acc``,
``binding_acc`` (colour bound to shape) and ``position_acc`` (quadrant), each also as ``@<=77`` /
``@>77``: only the facts whose every token lies inside / not inside CLIP's 77 positions (per fact, from
``meta.fact_last_tokens``). ``per_segment()`` gives, per image, the fraction of each sentence's facts
that hold (NaN for sentences without facts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from longbench.metrics.base import PerSampleMetric
from longbench.metrics.functional.synth import COLUMNS, fact_scores, sentence_scores
from longbench.mini.read import MAX_COLOUR_DISTANCE, MIN_AREA, READER_VERSION, Reader, fact_holds
from longbench.mini.views import check_facts, fact_last_tokens, item_scene
from longbench.mini.world import CLIP_WINDOW, IMAGE_SIZE, PALETTE, REGIONS, SHAPES, visible
from longbench.synth.metric import SynthFactsMetric


class MiniFactsMetric(PerSampleMetric):
    """Fact recall, count, colour-binding and quadrant accuracy of miniature images, overall and split by
    whether a fact lies within CLIP's 77 tokens."""

    name = "mini"
    version = "0"
    columns: ClassVar[dict[str, bool]] = {col: True for col in COLUMNS}

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.reader = Reader()
        self.add_state("segment_scores", default=[], dist_reduce_fx="cat")
        self.add_state("segment_counts", default=[], dist_reduce_fx="cat")

    def score(self, images: Sequence[Any], items: Sequence[Any]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {col: [] for col in self.columns}
        seg_scores: list[float] = []
        seg_counts: list[int] = []
        for image, item in zip(images, items):
            check_facts(item, item_scene(item))
            inside = [visible(last) for last in fact_last_tokens(item)]
            reading = self.reader.read(image)
            holds = [fact_holds(f, reading) for f in item.facts]
            for col, value in fact_scores([f.type for f in item.facts], holds, inside).items():
                out[col].append(value)
            n_seg = len(item.segments) if item.segments is not None else 0
            seg_scores.extend(sentence_scores([f.sentence for f in item.facts], holds, n_seg))
            seg_counts.append(n_seg)
        self.segment_scores.append(torch.tensor(seg_scores, dtype=torch.float64))
        self.segment_counts.append(torch.tensor(seg_counts, dtype=torch.int64))
        return out

    # Same segment states as the synth metric, so its reader of them is reused as is.
    per_segment = SynthFactsMetric.per_segment

    def protocol(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "reader_version": READER_VERSION,
            "palette": {k: list(v) for k, v in PALETTE.items()}, "shapes": list(SHAPES), "regions": list(REGIONS),
            "image_size": f"{IMAGE_SIZE}x{IMAGE_SIZE}; other sizes are box-filtered to it",
            "max_colour_distance": MAX_COLOUR_DISTANCE, "min_area": MIN_AREA,
            "split": f"every token of the fact's span at content index < {CLIP_WINDOW - 2} "
                     f"(within {CLIP_WINDOW} positions)",
        }
