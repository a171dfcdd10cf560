"""An example model adapter that lives outside the package and registers through an entry point
(``docs/architecture.md``, "A model adapter"): one module plus, in the plugin's packaging::

    [project.entry-points."longbench.models"]
    gray = "lb_gray_model:GrayModel"

after which ``longbench eval --model gray:64 --model-arg step=2`` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from longbench.errors import LongbenchError
from longbench.models.base import Model, Request
from longbench.options import option


@dataclass
class GrayOptions:
    size: int = option(8, "image side in pixels")
    step: int = option(0, "added to the gray level per word of the prompt (capped at 255)")


class GrayModel(Model):
    """gray:LEVEL - flat gray images, LEVEL (0..255) plus step per prompt word."""

    kind = "gray"
    Options = GrayOptions

    def __init__(self, arg: str, args: dict[str, Any] | None = None):
        super().__init__(arg, args)
        try:
            self.level = int(arg)
        except ValueError:
            raise LongbenchError(f"model gray:{arg}: LEVEL must be an integer in 0..255") from None
        if not 0 <= self.level <= 255:
            raise LongbenchError(f"model gray:{arg}: LEVEL must be an integer in 0..255")
        if self.options.size < 1 or self.options.step < 0:
            raise LongbenchError(f"model gray:{arg}: size must be >= 1 and step >= 0")

    def generate(self, requests: Sequence[Request]) -> list[Any]:
        from PIL import Image

        side = self.options.size
        out = []
        for r in requests:  # deterministic: no random draw, so the seed is not needed
            v = min(255, self.level + self.options.step * len(r.prompt.split()))
            out.append(Image.new("RGB", (side, side), (v, v, v)))
        return out
