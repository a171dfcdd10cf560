"""``mini`` metric: exact fact checking of miniature images (``longbench.worlds.metric``).

The exact reader reads each image back and each of the item's facts is checked
(``longbench.mini.read.fact_holds``). The columns are those of the ``synth`` metric, computed by the same
code: per image the fraction of its facts of a kind that hold (NaN when it has none), averaged over
images — ``fact_recall`` (all facts), ``count_acc``, ``binding_acc`` (colour bound to shape) and
``position_acc`` (quadrant), each also as ``@<=77`` / ``@>77``: only the facts whose every token lies
inside / not inside CLIP's 77 positions (per fact, from ``meta.fact_last_tokens``). ``per_segment()``
gives, per image, the fraction of each sentence's facts that hold (NaN for sentences without facts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from longbench.mini.read import MAX_COLOUR_DISTANCE, MIN_AREA, READER_VERSION, Reader, Reading, fact_holds
from longbench.mini.world import CLIP_WINDOW, IMAGE_SIZE, MINI, PALETTE, REGIONS, SHAPES
from longbench.worlds.metric import SceneFactsMetric

if TYPE_CHECKING:
    from longbench.suites.base import Fact


class MiniFactsMetric(SceneFactsMetric):
    """Fact recall, count, colour-binding and quadrant accuracy of miniature images, overall and split by
    whether a fact lies within CLIP's 77 tokens."""

    name = "mini"
    version = "0"
    world = MINI

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.reader = Reader()

    def read(self, image: Any) -> Reading:
        return self.reader.read(image)

    def holds(self, fact: Fact, scene: Any, reading: Reading) -> bool:
        return fact_holds(fact, reading)

    def protocol(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "reader_version": READER_VERSION,
            "palette": {k: list(v) for k, v in PALETTE.items()}, "shapes": list(SHAPES), "regions": list(REGIONS),
            "image_size": f"{IMAGE_SIZE}x{IMAGE_SIZE}; other sizes are box-filtered to it",
            "max_colour_distance": MAX_COLOUR_DISTANCE, "min_area": MIN_AREA,
            "split": f"every token of the fact's span at content index < {CLIP_WINDOW - 2} "
                     f"(within {CLIP_WINDOW} positions)",
        }
