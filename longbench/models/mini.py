"""``mini:<name>`` — models of the miniature world that draw scenes exactly.

Names:

* ``oracle`` — draws the item's whole scene (every fact holds);
* ``clip77`` — draws what a text encoder that reads only CLIP's 77 positions can know: facts whose every
  token lies inside the window; groups introduced later are missing, and unknown colours, counts and
  quadrants are guessed (``longbench.mini.views.known_scene``). ``clip<N>`` uses an N-position window;
* ``corrupt-K`` — the oracle with K of the item's facts broken, chosen with the request seed
  (``longbench.mini.views.corrupt_scene``); ``corrupt-0`` equals ``oracle``.

The request seed also picks the slot arrangement of each group, so an image is a pure function of
(name, item, seed, scale). Images are 32×32; ``--model-arg scale=N`` enlarges them N× by pixel repetition.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from longbench.errors import LongbenchError
from longbench.models.base import Model, Request

if TYPE_CHECKING:
    from PIL import Image

    from longbench.mini.world import Scene

#: Bumped whenever the drawing of a given (scene, seed) changes, so cached images are not reused.
RENDER_VERSION = "1"
_NAME_RE = re.compile(r"^(?:(oracle)|clip(\d+)|corrupt-(\d+))$")
_EXAMPLES = ("oracle", "clip77", "clip248", "corrupt-1", "corrupt-2", "corrupt-4")


class MiniModel(Model):
    """A miniature "text-to-image model" that renders (part of) an item's scene."""

    kind: ClassVar[str] = "mini"
    arg_types: ClassVar[dict[str, Any]] = {"scale": int}

    def __init__(self, arg: str, args: dict[str, Any] | None = None):
        super().__init__(arg, args)
        m = _NAME_RE.match(arg)
        if not m:
            close = difflib.get_close_matches(arg, _EXAMPLES, n=2, cutoff=0.4)
            hint = f"; did you mean {' or '.join(repr(f'mini:{c}') for c in close)}?" if close else ""
            raise LongbenchError(f"unknown mini model {arg!r}{hint} (use mini:oracle, mini:clip<N> such as "
                                 f"mini:clip77, or mini:corrupt-<K>)")
        self.window = int(m.group(2)) if m.group(2) is not None else None
        self.k = int(m.group(3)) if m.group(3) is not None else None
        if self.window is not None and self.window < 3:
            raise LongbenchError(f"mini:{arg}: the window must hold at least 3 positions (start, one token, end)")
        from longbench.mini.render import Renderer, check_scale

        self.renderer = Renderer(check_scale(self.args.get("scale", 1), where=f"--model-arg scale for mini:{arg}"))

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "render_version": RENDER_VERSION}

    def scene_for(self, request: Request) -> Scene:
        """The scene this model draws for one request."""
        from longbench.mini import views

        if self.window is not None:
            return views.known_scene(request.item, request.seed, self.window)
        if self.k is not None:
            return views.corrupt_scene(request.item, self.k, request.seed)
        scene = views.item_scene(request.item)
        views.check_facts(request.item, scene)
        return scene

    def prepare(self, requests: Sequence[Request]) -> None:
        from longbench.mini import views

        for r in requests:  # fail before generating anything when the suite is not miniature
            views.check_facts(r.item, views.item_scene(r.item))
            views.fact_last_tokens(r.item)

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        return [self.renderer.render(self.scene_for(r), r.seed) for r in requests]
