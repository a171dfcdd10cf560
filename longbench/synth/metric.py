"""``synth`` metric: exact fact checking of synthetic images.

For each image the exact detector reads the objects back, and each of the item's facts is checked
(``longbench.synth.check.fact_holds``). Columns, per image the fraction of that image's facts of the
kind that hold (NaN when it has none), averaged over images:

* ``fact_recall`` — all facts; ``count_acc`` — count facts; ``binding_acc`` — attribute facts (colour,
  shape and size of a group right together); ``position_acc`` — spatial facts;
* each also as ``<column>@<=77`` / ``<column>@>77``: only the facts whose sentence starts inside /
  beyond the 77 positions CLIP reads (content-token index < 75 / ≥ 75).

``per_segment()`` gives, per image, the fraction of each sentence's facts that hold (NaN for sentences
without facts).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from longbench.metrics.base import PerSampleMetric
from longbench.synth.check import fact_holds
from longbench.synth.detect import DETECTOR_VERSION, MAX_COLOUR_DISTANCE, Detector
from longbench.synth.render import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, object_px
from longbench.synth.views import check_facts, fact_starts, item_scene, needs_tokens
from longbench.synth.world import BASE_SIZE, CLIP_WINDOW, PALETTE, REGIONS, SHAPES, SIZES, within_window

if TYPE_CHECKING:
    from longbench.text.tokenizer import TokenCounter

logger = logging.getLogger(__name__)

#: column stem → fact type it averages over (None: every fact)
KINDS: dict[str, str | None] = {
    "fact_recall": None, "count_acc": "count", "binding_acc": "attribute", "position_acc": "spatial",
}
SPLITS = ("", f"@<={CLIP_WINDOW}", f"@>{CLIP_WINDOW}")


def _mean(values: list[bool]) -> float:
    return sum(values) / len(values) if values else math.nan


class SynthFactsMetric(PerSampleMetric):
    """Fact recall, count accuracy, attribute binding and position accuracy of synthetic images, overall
    and split by whether the fact's sentence starts within or beyond CLIP's 77 tokens.

    Args:
        image_size: side to which non-square images are resized before detection.
    """

    name = "synth"
    version = "0"
    columns: ClassVar[dict[str, bool]] = {f"{stem}{split}": True for stem in KINDS for split in SPLITS}

    def __init__(self, image_size: int = BASE_SIZE, **kwargs: Any):
        super().__init__(**kwargs)
        self.detector = Detector(image_size)
        self._counter: TokenCounter | None = None  # only for items without stored token positions
        self.add_state("segment_scores", default=[], dist_reduce_fx="cat")
        self.add_state("segment_counts", default=[], dist_reduce_fx="cat")

    def _starts(self, item: Any) -> list[int]:
        if needs_tokens(item) and self._counter is None:
            from longbench.text.tokenizer import TokenCounter

            self._counter = TokenCounter()
        return fact_starts(item, self._counter)

    def score(self, images: Sequence[Any], items: Sequence[Any]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {col: [] for col in self.columns}
        seg_scores: list[float] = []
        seg_counts: list[int] = []
        for image, item in zip(images, items):
            scene = item_scene(item)
            check_facts(item, scene)
            starts = self._starts(item)
            detection = self.detector.detect(image)
            holds = [fact_holds(f, scene, detection) for f in item.facts]
            inside = [within_window(s) for s in starts]
            for stem, ftype in KINDS.items():
                sel = [i for i, f in enumerate(item.facts) if ftype is None or f.type == ftype]
                out[stem].append(_mean([holds[i] for i in sel]))
                out[stem + SPLITS[1]].append(_mean([holds[i] for i in sel if inside[i]]))
                out[stem + SPLITS[2]].append(_mean([holds[i] for i in sel if not inside[i]]))
            n_seg = len(item.segments) if item.segments is not None else 0
            for si in range(n_seg):
                seg_scores.append(_mean([h for f, h in zip(item.facts, holds) if f.sentence == si]))
            seg_counts.append(n_seg)
        self.segment_scores.append(torch.tensor(seg_scores, dtype=torch.float64))
        self.segment_counts.append(torch.tensor(seg_counts, dtype=torch.int64))
        return out

    def per_segment(self) -> list[list[float]] | None:
        scores, counts = self.segment_scores, self.segment_counts
        if isinstance(scores, list):
            scores = torch.cat(scores) if scores else torch.zeros(0, dtype=torch.float64)
            counts = torch.cat(counts) if counts else torch.zeros(0, dtype=torch.int64)
        out, k = [], 0
        for n in counts.tolist():
            out.append(scores[k:k + n].tolist())
            k += n
        return out

    def protocol(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "detector_version": DETECTOR_VERSION,
            "palette": {k: list(v) for k, v in PALETTE.items()}, "shapes": list(SHAPES),
            "sizes_px_at_256": {s: object_px(s, BASE_SIZE) for s in SIZES}, "regions": list(REGIONS),
            "image_size": f"square {MIN_IMAGE_SIZE}-{MAX_IMAGE_SIZE} px read as is, else resized (nearest) "
                          f"to {self.detector.image_size}x{self.detector.image_size}",
            "max_colour_distance": MAX_COLOUR_DISTANCE,
            "split": f"fact sentence starts at content token < {CLIP_WINDOW - 2} "
                     f"(within {CLIP_WINDOW} positions)",
        }
