"""``synth:<name>`` — models of the synthetic world that draw scenes exactly (``longbench.worlds.model``).

Names:

* ``oracle`` — draws the item's whole scene (every fact holds);
* ``clip77`` — draws what a text encoder that reads only CLIP's 77 positions (start token, 75 content
  tokens, end token) can know: the facts all of whose tokens (the group's name and the value words) are
  content tokens 0-74; groups introduced later are missing, and unknown counts, sizes and regions are
  guessed (``longbench.synth.views.known_scene``). ``clip<N>`` uses an N-position window (e.g.
  ``clip248`` for a Long-CLIP-sized encoder);
* ``random`` — a scene drawn by the world's sampler from the request seed, whatever the prompt (chance).
* ``corrupt-K`` — the oracle with K of the item's facts dropped or altered, chosen with the request
  seed (``longbench.synth.views.corrupt_scene``); ``corrupt-0`` equals ``oracle``.

The request seed also drives the placement jitter of objects inside their regions, so an image is a
pure function of (name, item, seed, size). ``--model-arg size=N`` sets the image side (default 256).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from longbench.models.options import SynthModelOptions
from longbench.synth.world import SYNTH
from longbench.worlds.model import SceneModel

if TYPE_CHECKING:
    from longbench.synth.render import Renderer

#: Bumped whenever the drawing of a given (scene, seed) changes, so cached images are not reused
#: (2: ``clip<N>`` decides per fact from the tokens stating it, not from where its sentence starts).
RENDER_VERSION = "2"


class SynthModel(SceneModel):
    """A synthetic "text-to-image model" that renders (part of) an item's scene."""

    kind: ClassVar[str] = "synth"
    Options = SynthModelOptions
    world = SYNTH
    render_version = RENDER_VERSION
    examples = ("oracle", "clip77", "clip248", "corrupt-1", "corrupt-2", "corrupt-4", "corrupt-8", "random")

    def make_renderer(self) -> Renderer:
        from longbench.synth.render import Renderer, check_image_size

        return Renderer(check_image_size(self.options.size, where=f"--model-arg size for synth:{self.arg}"))
