"""``synth`` metric: exact fact checking of synthetic images (``longbench.worlds.metric``).

For each image the exact detector reads the objects back, and each of the item's facts is checked
(``longbench.synth.check.fact_holds``). Columns, per image the fraction of that image's facts of the
kind that hold (NaN when it has none), averaged over images:

* ``fact_recall`` — all facts; ``count_acc`` — count facts; ``binding_acc`` — attribute facts (colour,
  shape and size of a group right together); ``position_acc`` — spatial facts;
* each also as ``<column>@<=77`` / ``<column>@>77``: only the facts a 77-position CLIP context reads /
  does not read — a fact is inside when every token stating it (its group's name and its value words) is
  one of the 75 content tokens between the start and end tokens (``longbench.worlds.tokens``), the same
  rule by which ``synth:clip77`` decides what to draw.

``per_segment()`` gives, per image, the fraction of each sentence's facts that hold (NaN for sentences
without facts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from longbench.synth.check import fact_holds
from longbench.synth.detect import DETECTOR_VERSION, MAX_COLOUR_DISTANCE, Detector
from longbench.synth.render import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, object_px
from longbench.synth.world import BASE_SIZE, CLIP_WINDOW, PALETTE, REGIONS, SHAPES, SIZES, SYNTH
from longbench.worlds.metric import SceneFactsMetric

if TYPE_CHECKING:
    from longbench.suites.base import Fact
    from longbench.synth.detect import Detection
    from longbench.synth.world import Scene


class SynthFactsMetric(SceneFactsMetric):
    """Fact recall, count accuracy, attribute binding and position accuracy of synthetic images, overall
    and split by whether every token of the fact lies within CLIP's 77 positions or not.

    Args:
        image_size: side to which non-square images are resized before detection.
    """

    name = "synth"
    version = "1"  # 1: the @<=77 / @>77 split is decided per fact (0: by where its sentence starts)
    world = SYNTH

    def __init__(self, image_size: int = BASE_SIZE, **kwargs: Any):
        super().__init__(**kwargs)
        self.detector = Detector(image_size)

    def read(self, image: Any) -> Detection:
        return self.detector.detect(image)

    def holds(self, fact: Fact, scene: Scene, reading: Detection) -> bool:
        return fact_holds(fact, scene, reading)

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
