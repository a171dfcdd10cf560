"""``mini:<name>`` — the miniature world's models: exact scene renderers and the trained generators of the zoo.

One spec kind, dispatched by name (:class:`MiniModel`):

* scene models (``longbench.worlds.model``), no weights:

  * ``oracle`` — draws the item's whole scene (every fact holds);
  * ``clip77`` — draws what a text encoder that reads only CLIP's 77 positions can know: facts whose every
    token lies inside the window; groups introduced later are missing, and unknown colours, counts and
    quadrants are guessed (``longbench.mini.views.known_scene``). ``clip<N>`` uses an N-position window;
  * ``corrupt-K`` — the oracle with K of the item's facts broken, chosen with the request seed
    (``longbench.mini.views.corrupt_scene``); ``corrupt-0`` equals ``oracle``;
  * ``random`` — a scene drawn by the world's sampler from the request seed, whatever the prompt: the chance
    level of the exact metric.

  The request seed also picks the slot arrangement of each group, so an image is a pure function of
  (name, item, seed, scale).

* trained generators (:data:`longbench.mini.zoo.GENERATORS`: ``sd``, ``longsd``, ``naive``, ``reward-w0``,
  ``reward-w03``, ``reward-w1``): that longSD checkpoint of the zoo on the zoo's ``base`` pipeline (the
  ``longsd:`` adapter underneath). ``--model-arg zoo=DIR`` names another zoo than the shipped weights (e.g.
  the ``--out`` of ``longbench train mini-reproduce``). Sampler defaults: the base pipeline's own scheduler
  (DDIM) with the steps and guidance of the base stage's check (``base/manifest.json``: 10 steps, guidance 3.0
  for the shipped zoo), not the align stage's SD-1.5 defaults (UniPC, 25 steps, 7.5);
  ``steps``/``guidance``/``scheduler`` override them.

Images are 32×32; ``--model-arg scale=N`` enlarges them N× by pixel repetition.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from longbench.errors import LongbenchError
from longbench.mini import zoo
from longbench.mini.world import MINI
from longbench.models.base import Model, Request
from longbench.models.longsd import LongSDModel
from longbench.models.options import MiniModelOptions
from longbench.worlds.model import SceneModel

if TYPE_CHECKING:
    from PIL import Image

    from longbench.mini.render import Renderer

#: Bumped whenever the drawing of a given (scene, seed) changes, so cached images are not reused.
RENDER_VERSION = "1"
#: the options a scene model reads (the others are the generators'; see MiniModelOptions)
SCENE_OPTIONS = ("scale",)
#: sampler of a zoo whose base manifest records no check (the base stage's defaults, docs/examples/mini/base.yaml)
FALLBACK_SAMPLING = {"steps": 10, "guidance": 3.0}


class MiniModel:
    """``mini:NAME``: a scene renderer (oracle, clip<N>, corrupt-K) or a trained generator of the zoo (sd, longsd,
    naive, reward-w0, reward-w03, reward-w1); constructing it returns the adapter for NAME."""

    kind: ClassVar[str] = "mini"
    Options = MiniModelOptions

    def __new__(cls, arg: str, args: dict[str, Any] | None = None) -> Model:  # type: ignore[misc]
        if arg in zoo.GENERATORS:
            return MiniGeneratorModel(arg, args)
        if arg in zoo.NAMES:  # a scorer or the base: weights, not a text-to-image model of its own
            raise LongbenchError(f"mini:{arg} is not a generator: the zoo's {arg!r} is used as metric weights "
                                 f"(mini:clip, mini:denscore) or as the generators' base; generators: "
                                 f"{', '.join('mini:' + g for g in zoo.GENERATORS)}")
        try:
            return MiniSceneModel(arg, args)
        except LongbenchError as e:
            if not str(e).startswith("unknown mini model"):
                raise
            # the scene models' own hint knows nothing of the zoo: name both families, the closest first
            close = difflib.get_close_matches(arg, [*zoo.GENERATORS, "oracle", "random"], n=1, cutoff=0.6)
            hint = f"; did you mean 'mini:{close[0]}'?" if close else ""
            raise LongbenchError(f"unknown mini model {'mini:' + arg!r}{hint} (generators: "
                                 f"{', '.join(zoo.GENERATORS)}; scene models: oracle, clip<N>, corrupt-<K>, random)"
                                 ) from None


class MiniSceneModel(SceneModel):
    """A miniature "text-to-image model" that renders (part of) an item's scene."""

    kind: ClassVar[str] = "mini"
    Options = MiniModelOptions
    world = MINI
    render_version = RENDER_VERSION
    examples = ("oracle", "clip77", "clip248", "corrupt-1", "corrupt-2", "corrupt-4", "random")

    def make_renderer(self) -> Renderer:
        from longbench.mini.render import Renderer, check_scale

        return Renderer(check_scale(self.options.scale, where=f"--model-arg scale for mini:{self.arg}"))

    def __init__(self, arg: str, args: dict[str, Any] | None = None):
        super().__init__(arg, args)
        # the generators' options do not change a drawing: kept out of the identity (cache key, results)
        self.args = {k: v for k, v in self.args.items() if k in SCENE_OPTIONS}


class MiniGeneratorModel(LongSDModel):
    """A trained generator of the miniature zoo (``mini:longsd`` ...): its longSD checkpoint on the zoo's base."""

    kind = "mini"
    Options = MiniModelOptions

    def __init__(self, arg: str, args: dict[str, Any] | None = None, pipeline: Any = None):
        from longbench.mini.render import check_scale

        super().__init__(arg, args, pipeline)
        self.scale = check_scale(self.options.scale, where=f"--model-arg scale for mini:{arg}")
        # the sampler of the base stage's check, with the base's saved scheduler (see the module docstring)
        self.manifest["inference"] = self.sampling_defaults()

    def checkpoint_path(self) -> str:
        return str(zoo.model_dir(self.arg, self.options.zoo))

    @property
    def base_spec(self) -> str:
        return str(zoo.model_dir(zoo.BASE, self.options.zoo))

    def base_path(self) -> str:
        return self.base_spec

    def sampling_defaults(self) -> dict[str, Any]:
        """``{"steps", "guidance"}`` of the base stage's check (its ``manifest.json``), else the stage defaults."""
        from pathlib import Path

        from longbench import jsonio

        manifest = Path(self.base_spec) / "manifest.json"
        check = (jsonio.read_json(manifest).get("eval") or {}) if manifest.is_file() else {}
        return {k: check.get(k, v) for k, v in FALLBACK_SAMPLING.items()}

    def identity(self) -> dict[str, Any]:
        from longbench.weights import dir_fingerprint

        ident = super().identity()
        ident["args"] = {k: v for k, v in ident["args"].items() if k not in ("device", "zoo")}
        ident["weights_fingerprint"] = dir_fingerprint(self.base_spec)  # the base pipeline, not the name's path
        ident["base"] = zoo.PREFIX + zoo.BASE  # where the zoo lies is no part of what the images are
        ident["sampling"] = dict(self.manifest["inference"])
        return ident

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        images = super().generate(requests)
        s = self.scale
        if s == 1:
            return images
        from PIL import Image

        return [im.resize((im.width * s, im.height * s), Image.Resampling.NEAREST) for im in images]
