"""An example metric that lives outside the package and registers through an entry point
(``docs/architecture.md``, "A metric"): one module plus, in the plugin's packaging::

    [project.entry-points."longbench.metrics"]
    brightness = "lb_brightness_metric:BrightnessMetric"

after which ``longbench eval --metric brightness --metric-arg brightness.channel=r`` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from longbench.images import as_image_batch
from longbench.metrics.base import PerSampleMetric
from longbench.options import option

CHANNELS = {"r": 0, "g": 1, "b": 2}


@dataclass
class BrightnessOptions:
    channel: Literal["all", "r", "g", "b"] = option("all", "channel to average (all: R, G and B together)")
    device: str | None = option(None, "torch device (the run's --device when not set)")


class BrightnessMetric(PerSampleMetric):
    """Mean pixel value of each image, from 0 (black) to 100 (white)."""

    name: ClassVar[str] = "brightness"
    version: ClassVar[str] = "1"
    columns: ClassVar[dict[str, bool]] = {"brightness": True}
    Options = BrightnessOptions

    def __init__(self, channel: str = "all", device: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.channel = channel
        self.image_device = device or "cpu"

    def score(self, images: Sequence[Any], items: Sequence[Any]) -> dict[str, list[float]]:
        batch = as_image_batch(images, device=self.image_device, where="brightness image")
        scores = [0.0] * len(batch)
        for indices, pixels in batch.groups():  # (b, 3, H, W) uint8, one group per image size
            if self.channel != "all":
                pixels = pixels[:, CHANNELS[self.channel]]
            means = pixels.double().flatten(1).mean(dim=1) * (100.0 / 255.0)
            for i, value in zip(indices, means.tolist()):
                scores[i] = value
        return {"brightness": scores}

    def protocol(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "channel": self.channel,
                "scale": "mean uint8 value x 100/255"}
