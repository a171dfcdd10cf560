"""``synth:<name>`` — models of the synthetic world that draw scenes exactly.

Names:

* ``oracle`` — draws the item's whole scene (every fact holds);
* ``clip77`` — draws what a text encoder that reads only CLIP's 77 positions (start token, 75 content
  tokens, end token) can know: the facts all of whose tokens (the group's name and the value words) are
  content tokens 0-74; groups introduced later are missing, and unknown counts, sizes and regions are
  guessed (``longbench.synth.views.known_scene``). ``clip<N>`` uses an N-position window (e.g.
  ``clip248`` for a Long-CLIP-sized encoder);
* ``corrupt-K`` — the oracle with K of the item's facts dropped or altered, chosen with the request
  seed (``longbench.synth.views.corrupt_scene``); ``corrupt-0`` equals ``oracle``.

The request seed also drives the placement jitter of objects inside their regions, so an image is a
pure function of (name, item, seed, size). ``--model-arg size=N`` sets the image side (default 256).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from longbench.errors import LongbenchError
from longbench.models.base import Model, Request

if TYPE_CHECKING:
    from PIL import Image

    from longbench.synth.world import Scene
    from longbench.text.tokenizer import TokenCounter

logger = logging.getLogger(__name__)

#: Bumped whenever the drawing of a given (scene, seed) changes, so cached images are not reused
#: (2: ``clip<N>`` decides per fact from the tokens stating it, not from where its sentence starts).
RENDER_VERSION = "2"
_NAME_RE = re.compile(r"^(?:(oracle)|clip(\d+)|corrupt-(\d+))$")
_EXAMPLES = ("oracle", "clip77", "clip248", "corrupt-1", "corrupt-2", "corrupt-4", "corrupt-8")


class SynthModel(Model):
    """A synthetic "text-to-image model" that renders (part of) an item's scene."""

    kind: ClassVar[str] = "synth"
    arg_types: ClassVar[dict[str, Any]] = {"size": int}

    def __init__(self, arg: str, args: dict[str, Any] | None = None):
        super().__init__(arg, args)
        m = _NAME_RE.match(arg)
        if not m:
            close = difflib.get_close_matches(arg, _EXAMPLES, n=2, cutoff=0.4)
            hint = f"; did you mean {' or '.join(repr(f'synth:{c}') for c in close)}?" if close else ""
            raise LongbenchError(f"unknown synth model {arg!r}{hint} (use synth:oracle, synth:clip<N> such "
                                 f"as synth:clip77, or synth:corrupt-<K>)")
        self.window = int(m.group(2)) if m.group(2) is not None else None
        self.k = int(m.group(3)) if m.group(3) is not None else None
        if self.window is not None and self.window < 3:
            raise LongbenchError(f"synth:{arg}: the window must hold at least 3 positions "
                                 f"(start, one token, end)")
        from longbench.synth.render import Renderer, check_image_size

        size = self.args.get("size", 256)
        check_image_size(size, where=f"--model-arg size for synth:{arg}")
        self.renderer = Renderer(size)
        self._counter: TokenCounter | None = None  # clip<N>: CLIP tokens of the prompts, built on first use

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "render_version": RENDER_VERSION}

    def scene_for(self, request: Request) -> Scene:
        """The scene this model draws for one request."""
        from longbench.synth import views

        if self.window is not None:
            if self._counter is None:
                from longbench.text.tokenizer import TokenCounter

                self._counter = TokenCounter()
            return views.known_scene(request.item, request.seed, self.window, self._counter)
        if self.k is not None:
            return views.corrupt_scene(request.item, self.k, request.seed)
        scene = views.item_scene(request.item)
        views.check_facts(request.item, scene)
        return scene

    def prepare(self, requests: Sequence[Request]) -> None:
        from longbench.synth import views

        for r in requests:  # fail before generating anything when the suite is not synthetic
            views.check_facts(r.item, views.item_scene(r.item))

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        return [self.renderer.render(self.scene_for(r), r.seed) for r in requests]
