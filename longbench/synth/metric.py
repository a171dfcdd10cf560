"""``synth`` metric: exact fact checking of synthetic images.

For each image the exact detector reads the objects back, and each of the item's facts is checked
(``longbench.synth.check.fact_holds``). Columns, per image the fraction of that image's facts of the
kind that hold (NaN when it has none), averaged over images:

* ``fact_recall`` — all facts; ``count_acc`` — count facts; ``binding_acc`` — attribute facts (colour,
  shape and size of a group right together); ``position_acc`` — spatial facts;
* each also as ``<column>@<=77`` / ``<column>@>77``: only the facts a 77-position CLIP context reads /
  does not read — a fact is inside when every token stating it (its group's name and its value words) is
  one of the 75 content tokens between the start and end tokens (``views.fact_last_tokens``,
  ``world.visible``), the same rule by which ``synth:clip77`` decides what to draw.

``per_segment()`` gives, per image, the fraction of each sentence's facts that hold (NaN for sentences
without facts).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from longbench.metrics.base import PerSampleMetric
from longbench.metrics.functional.synth import COLUMNS, fact_scores, sentence_scores
from longbench.synth.check import fact_holds
from longbench.synth.detect import DETECTOR_VERSION, MAX_COLOUR_DISTANCE, Detector
from longbench.synth.render import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, object_px
from longbench.synth.views import check_facts, fact_last_tokens, item_scene
from longbench.synth.world import BASE_SIZE, CLIP_WINDOW, PALETTE, REGIONS, SHAPES, SIZES, visible

if TYPE_CHECKING:
    from longbench.text.tokenizer import TokenCounter

logger = logging.getLogger(__name__)

class SynthFactsMetric(PerSampleMetric):
    """Fact recall, count accuracy, attribute binding and position accuracy of synthetic images, overall
    and split by whether every token of the fact lies within CLIP's 77 positions or not.

    Args:
        image_size: side to which non-square images are resized before detection.
    """

    name = "synth"
    version = "1"  # 1: the @<=77 / @>77 split is decided per fact (0: by where its sentence starts)
    columns: ClassVar[dict[str, bool]] = {col: True for col in COLUMNS}

    def __init__(self, image_size: int = BASE_SIZE, **kwargs: Any):
        super().__init__(**kwargs)
        self.detector = Detector(image_size)
        self._counter: TokenCounter | None = None  # CLIP tokens of the prompts, built on first use
        self.add_state("segment_scores", default=[], dist_reduce_fx="cat")
        self.add_state("segment_counts", default=[], dist_reduce_fx="cat")

    def _last_tokens(self, item: Any) -> list[int]:
        if self._counter is None:
            from longbench.text.tokenizer import TokenCounter

            self._counter = TokenCounter()
        return fact_last_tokens(item, self._counter)

    def score(self, images: Sequence[Any], items: Sequence[Any]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {col: [] for col in self.columns}
        seg_scores: list[float] = []
        seg_counts: list[int] = []
        for image, item in zip(images, items):
            scene = item_scene(item)
            check_facts(item, scene)
            last = self._last_tokens(item)
            detection = self.detector.detect(image)
            holds = [fact_holds(f, scene, detection) for f in item.facts]
            inside = [visible(t) for t in last]
            for col, value in fact_scores([f.type for f in item.facts], holds, inside).items():
                out[col].append(value)
            n_seg = len(item.segments) if item.segments is not None else 0
            seg_scores.extend(sentence_scores([f.sentence for f in item.facts], holds, n_seg))
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
            "split": f"every token stating the fact (group name, value words) is content token < "
                     f"{CLIP_WINDOW - 2} (within {CLIP_WINDOW} positions: start, {CLIP_WINDOW - 2} content, end)",
        }
