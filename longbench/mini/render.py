"""Pixel-exact renderer of miniature scenes: palette colours only, no antialiasing.

Every object is its shape's 7×7 glyph pasted at integer coordinates. Inside a 16-pixel quadrant the
objects sit on slots whose glyphs start at offset 1 or 9 (a single object at offset 5, the middle), so
glyph centres lie on a fixed 4-pixel lattice and two objects are always separated by at least one
background pixel. Which slots a group of 2 or 3 uses is drawn from the seed (4 arrangements each); a
given (scene, seed) always gives the same pixels. ``scale`` enlarges the image by pixel repetition
(for viewing); the reader reads any such enlargement exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from longbench.errors import LongbenchError
from longbench.mini.world import CELL, GLYPH, IMAGE_SIZE, PALETTE, SHAPES, Scene, glyph_rows, region_cell

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

MAX_SCALE = 16
_LO, _HI, _MID = 1, 9, 5  # glyph offsets inside a quadrant: first slot, second slot, middle
_CORNERS = ((_LO, _LO), (_HI, _LO), (_LO, _HI), (_HI, _HI))  # (x, y) offsets, reading order
#: Slot arrangements per count, as (x, y) glyph offsets inside the quadrant.
LAYOUTS: dict[int, tuple[tuple[tuple[int, int], ...], ...]] = {
    1: (((_MID, _MID),),),
    2: (((_LO, _MID), (_HI, _MID)), ((_MID, _LO), (_MID, _HI)),
        ((_LO, _LO), (_HI, _HI)), ((_HI, _LO), (_LO, _HI))),
    3: tuple(tuple(c for j, c in enumerate(_CORNERS) if j != k) for k in range(4)),
    4: (_CORNERS,),
}


def glyph(shape: str) -> np.ndarray:
    """The 7×7 boolean mask of ``shape``."""
    import numpy as np

    return np.array([[c == "X" for c in row] for row in glyph_rows(shape)], dtype=bool)


def check_scale(scale: int, where: str = "scale") -> int:
    if not isinstance(scale, int) or isinstance(scale, bool) or not 1 <= scale <= MAX_SCALE:
        raise LongbenchError(f"{where} must be an integer in 1..{MAX_SCALE}, got {scale!r}")
    return scale


@dataclass(frozen=True)
class Placement:
    """One object: its group index, shape, colour and the top-left corner of its glyph (32-px grid)."""

    group: int
    shape: str
    colour: str
    x: int
    y: int


def layout(scene: Scene, seed: int = 0) -> list[Placement]:
    """Object positions: each group's arrangement drawn from ``seed`` (module docstring)."""
    rng = random.Random(f"mini-layout:{seed}")
    out = []
    for gi, g in enumerate(scene.groups):
        row, col = region_cell(g.region)
        for dx, dy in rng.choice(LAYOUTS[g.count]):
            out.append(Placement(gi, g.shape, g.colour, col * CELL + dx, row * CELL + dy))
    return out


class Renderer:
    """Draws scenes at 32×32 pixels times an integer ``scale``."""

    def __init__(self, scale: int = 1):
        self.scale = check_scale(scale)
        self._glyphs: dict[str, np.ndarray] = {s: glyph(s) for s in SHAPES}

    @property
    def image_size(self) -> int:
        return IMAGE_SIZE * self.scale

    def render_array(self, scene: Scene, seed: int = 0) -> np.ndarray:
        """The scene as an H×W×3 uint8 array."""
        import numpy as np

        scene.validate(strict=False)
        arr = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        arr[:] = PALETTE[scene.background]
        for p in layout(scene, seed):
            arr[p.y:p.y + GLYPH, p.x:p.x + GLYPH][self._glyphs[p.shape]] = PALETTE[p.colour]
        if self.scale > 1:
            arr = np.repeat(np.repeat(arr, self.scale, axis=0), self.scale, axis=1)
        return arr

    def entity_masks(self, scene: Scene, seed: int = 0) -> np.ndarray:
        """(groups, S, S) bool: per group of ``scene``, the pixels of its objects' glyphs in ``render_array(scene,
        seed)`` (at this renderer's scale)."""
        import numpy as np

        label = np.full((IMAGE_SIZE, IMAGE_SIZE), -1, dtype=np.int64)
        for p in layout(scene, seed):
            label[p.y:p.y + GLYPH, p.x:p.x + GLYPH][self._glyphs[p.shape]] = p.group
        if self.scale > 1:
            label = np.repeat(np.repeat(label, self.scale, axis=0), self.scale, axis=1)
        return label[None] == np.arange(len(scene.groups))[:, None, None]

    def render(self, scene: Scene, seed: int = 0) -> Image.Image:
        """The scene as an RGB PIL image."""
        from PIL import Image

        return Image.fromarray(self.render_array(scene, seed), "RGB")
