"""An example count detector that lives outside the package and registers through an entry point
(``docs/architecture.md``, "A count detector"): one module plus, in the plugin's packaging::

    [project.entry-points."longbench.detectors"]
    colour-blobs = "lb_blob_detector:ColourBlobDetector"

after which ``longbench eval --metric count --metric-arg count.detector=colour-blobs`` runs it.

It answers a query such as ``"red circles"`` with one box per 8-connected blob of exactly the colour its first
word names (the synthetic world's palette), whatever the shape: on clean synthetic renders it counts every
object of that colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from longbench.metrics.count import Detector

PALETTE = {"red": (220, 30, 30), "orange": (250, 140, 0), "yellow": (245, 225, 20), "green": (30, 160, 50),
           "blue": (30, 70, 220), "purple": (135, 40, 175), "pink": (250, 120, 200), "brown": (115, 70, 25)}


class ColourBlobDetector(Detector):
    name = "colour-blobs"

    @classmethod
    def load(cls, model: str | None = None, processor: str | None = None, **options: Any) -> ColourBlobDetector:
        return cls()

    def detect(self, images: Sequence[Any], queries: Sequence[Sequence[str]]
               ) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
        from scipy import ndimage

        out = []
        for image, qs in zip(images, queries):
            pixels = np.asarray(image)  # RGB PIL image → (H, W, 3) uint8
            per_query = []
            for q in qs:
                colour = PALETTE.get(q.split()[0]) if q.split() else None
                boxes = torch.zeros((0, 4))
                if colour is not None:
                    labels, _ = ndimage.label((pixels == colour).all(axis=2), structure=np.ones((3, 3)))
                    slices = ndimage.find_objects(labels)
                    boxes = torch.tensor([[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in slices],
                                         dtype=torch.float32).reshape(-1, 4)
                per_query.append((boxes, torch.ones(boxes.shape[0])))
            out.append(per_query)
        return out

    def protocol(self) -> dict[str, Any]:
        return {"detector": self.name, "rule": "8-connected blobs of the exact palette colour of the query's first word"}
