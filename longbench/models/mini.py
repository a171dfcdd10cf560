"""``mini:<name>`` — models of the miniature world that draw scenes exactly (``longbench.worlds.model``).

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

from typing import TYPE_CHECKING, ClassVar

from longbench.mini.world import MINI
from longbench.models.options import MiniModelOptions
from longbench.worlds.model import SceneModel

if TYPE_CHECKING:
    from longbench.mini.render import Renderer

#: Bumped whenever the drawing of a given (scene, seed) changes, so cached images are not reused.
RENDER_VERSION = "1"


class MiniModel(SceneModel):
    """A miniature "text-to-image model" that renders (part of) an item's scene."""

    kind: ClassVar[str] = "mini"
    Options = MiniModelOptions
    world = MINI
    render_version = RENDER_VERSION
    examples = ("oracle", "clip77", "clip248", "corrupt-1", "corrupt-2", "corrupt-4")

    def make_renderer(self) -> Renderer:
        from longbench.mini.render import Renderer, check_scale

        return Renderer(check_scale(self.options.scale, where=f"--model-arg scale for mini:{self.arg}"))
