"""The ``<world>:<name>`` model adapter of a scene world: renders (part of) an item's scene exactly.

Names: ``oracle`` (the whole scene), ``clip<N>`` (what an N-position text encoder can know,
``World.known_scene``), ``corrupt-K`` (K facts broken, ``World.corrupt_scene``; ``corrupt-0`` equals
``oracle``) and ``random`` (a scene of the world drawn from the request seed, ignoring the prompt:
``World.random_scene``, the chance level). A world's adapter subclasses :class:`SceneModel` with its
``world``, ``kind``, options, ``render_version`` and renderer.
"""

from __future__ import annotations

import difflib
import re
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from longbench.errors import LongbenchError
from longbench.models.base import Model, Request

if TYPE_CHECKING:
    from PIL import Image

    from longbench.text.tokenizer import TokenCounter
    from longbench.worlds.world import World

_NAME_RE = re.compile(r"^(?:(oracle)|clip(\d+)|corrupt-(\d+)|(random))$")


class SceneModel(Model):
    """A scene world's "text-to-image model" that renders (part of) an item's scene.

    Subclasses set ``world``, ``kind``, ``Options``, ``render_version`` (bumped whenever the drawing of
    a given (scene, seed) changes, so cached images are not reused), ``examples`` (names offered by the
    "did you mean" hint) and build their renderer in :meth:`make_renderer`.
    """

    world: ClassVar[World]
    render_version: ClassVar[str]
    examples: ClassVar[tuple[str, ...]]

    def __init__(self, arg: str, args: dict[str, Any] | None = None):
        super().__init__(arg, args)
        m = _NAME_RE.match(arg)
        if not m:
            kind = self.kind
            close = difflib.get_close_matches(arg, self.examples, n=2, cutoff=0.4)
            hint = f"; did you mean {' or '.join(repr(f'{kind}:{c}') for c in close)}?" if close else ""
            raise LongbenchError(f"unknown {kind} model {arg!r}{hint} (use {kind}:oracle, {kind}:clip<N> "
                                 f"such as {kind}:clip77, {kind}:corrupt-<K>, or {kind}:random)")
        self.window = int(m.group(2)) if m.group(2) is not None else None
        self.k = int(m.group(3)) if m.group(3) is not None else None
        self.random = m.group(4) is not None
        if self.window is not None and self.window < 3:
            raise LongbenchError(f"{self.kind}:{arg}: the window must hold at least 3 positions "
                                 f"(start, one token, end)")
        self.renderer = self.make_renderer()
        self._counter: TokenCounter | None = None  # clip<N>: CLIP tokens of the prompts, built on first use

    @abstractmethod
    def make_renderer(self) -> Any:
        """The world's renderer, configured from ``self.args`` (errors name the option)."""

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "render_version": self.render_version}

    def _tokens(self) -> TokenCounter:
        if self._counter is None:
            from longbench.text.tokenizer import TokenCounter

            self._counter = TokenCounter()
        return self._counter

    def scene_for(self, request: Request) -> Any:
        """The scene this model draws for one request."""
        if self.window is not None:
            return self.world.known_scene(request.item, request.seed, self.window, self._tokens())
        if self.k is not None:
            return self.world.corrupt_scene(request.item, self.k, request.seed)
        if self.random:  # drawn like the item's scene (its layout), whatever the prompt says
            return self.world.random_scene(request.seed, like=self.world.item_scene(request.item))
        scene = self.world.item_scene(request.item)
        self.world.check_facts(request.item, scene)
        return scene

    def prepare(self, requests: Sequence[Request]) -> None:
        from longbench.worlds.tokens import fact_last_tokens

        for r in requests:  # fail before generating anything when the suite is not of this world
            self.world.check_facts(r.item, self.world.item_scene(r.item))
            if self.window is not None:  # clip<N> also needs where each fact's tokens end
                fact_last_tokens(r.item, self._tokens())

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        return [self.renderer.render(self.scene_for(r), r.seed) for r in requests]
