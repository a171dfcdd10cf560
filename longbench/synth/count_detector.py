"""The synthetic world's detector for the ``count`` metric (``--metric-arg count.detector=synth``).

Synthetic suites declare it as the default detector of ``count`` (``Suite.metric_args``), so a synth run
needs no weights. It answers an entity query (a group name such as ``"red circles"``) with the objects of
that colour and shape that the exact reader (:class:`longbench.synth.detect.Detector`) reads from the
image. The counts are exact: :meth:`SynthCountDetector.count` does not go through score thresholds or
non-maximum suppression, which only learned detectors need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from longbench.errors import LongbenchError
from longbench.metrics.count import Detector
from longbench.synth.detect import DETECTOR_VERSION, Detection
from longbench.synth.detect import Detector as Reader
from longbench.synth.world import BASE_SIZE, OBJECT_COLOURS, SHAPES, group_name


class SynthCountDetector(Detector):
    """Exact counts of synthetic groups.

    Args:
        image_size: side to which non-square images are resized before reading (see the reader).
    """

    name = "synth"

    def __init__(self, image_size: int | None = None):
        self.reader = Reader(image_size or BASE_SIZE)
        self._groups = {group_name(c, s): (c, s) for c in OBJECT_COLOURS for s in SHAPES}

    @classmethod
    def load(cls, model: str | None = None, processor: str | None = None, *, image_size: int | None = None,
             **unused: Any) -> SynthCountDetector:
        """From the ``count`` options: only ``synth_image_size`` (``image_size``) applies; there are no weights."""
        return cls(image_size)

    def _objects(self, detection: Detection, query: str) -> list[Any]:
        target = self._groups.get(query)
        if target is None:
            raise LongbenchError(f"count: entity {query!r} is not a group of the synthetic world (a colour and a "
                                 f"plural shape, e.g. 'red circles'); use another detector for other suites")
        return detection.entity(*target)

    def detect(self, images: Sequence[Any], queries: Sequence[Sequence[str]]
               ) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
        """The boxes of each queried group's objects, each with score 1."""
        out = []
        for image, qs in zip(images, queries):
            detection = self.reader.detect(image)
            per_query = []
            for q in qs:
                boxes = torch.tensor([o.box for o in self._objects(detection, q)], dtype=torch.float32).reshape(-1, 4)
                per_query.append((boxes, torch.ones(boxes.shape[0])))
            out.append(per_query)
        return out

    def count(self, images: Sequence[Any], queries: Sequence[Sequence[str]], *, score_threshold: float,
              nms_iou: float) -> list[list[int]]:
        """The number of objects of each queried group (thresholds do not apply to an exact reader)."""
        out = []
        for image, qs in zip(images, queries):
            detection = self.reader.detect(image)
            out.append([len(self._objects(detection, q)) for q in qs])
        return out

    def protocol(self) -> dict[str, Any]:
        return {"detector": self.name, "detector_version": DETECTOR_VERSION,
                "image_size": f"read as is when square in range, else resized to {self.reader.image_size}",
                "counts": "exact: objects of the group's colour and shape read back from the image"}
