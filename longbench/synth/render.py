"""PIL renderer: draws a scene exactly (hard edges, palette colours only, no antialiasing).

Each (shape, pixel size) is rasterised once into a binary template (analytic coverage of sub-samples
per pixel, thresholded at one half, so small shapes stay symmetric) and pasted at integer positions:
an object's pixels are identical wherever it is placed, which is what lets the detector read scenes
back exactly. Object positions inside a region come from fixed slots plus integer jitter drawn from
the seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from longbench.errors import LongbenchError
from longbench.synth.world import BASE_SIZE, PALETTE, SHAPES, SIZE_PX, Scene, region_cell

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 128, 2048
_SUPERSAMPLE = 8
#: Star: ratio of inner to outer radius (a thin star keeps it far from the other shapes' features).
STAR_INNER = 0.42
#: Cross: arm thickness as a fraction of the object size.
CROSS_ARM = 1 / 3

_QUADRANTS = ((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75))
# Slot centres inside a region, as fractions of the cell (x, y), per object count.
_LAYOUTS: dict[int, tuple[tuple[tuple[float, float], ...], ...]] = {
    1: (((0.5, 0.5),),),
    2: (((0.25, 0.5), (0.75, 0.5)), ((0.5, 0.25), (0.5, 0.75)),
        ((0.25, 0.25), (0.75, 0.75)), ((0.75, 0.25), (0.25, 0.75))),
    3: tuple(tuple(s for j, s in enumerate(_QUADRANTS) if j != k) for k in range(4)),
    4: (_QUADRANTS,),
}


def check_image_size(size: int, where: str = "image size") -> int:
    if not isinstance(size, int) or isinstance(size, bool) or not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
        raise LongbenchError(
            f"{where} must be an integer in {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}, got {size!r}")
    return size


def object_px(size_name: str, image_size: int) -> int:
    """Bounding-box side in pixels of an object of ``size_name`` in an image of ``image_size``."""
    return max(3, round(SIZE_PX[size_name] * image_size / BASE_SIZE))


def shape_polygon(shape: str) -> list[tuple[float, float]] | None:
    """Vertices of a polygonal shape in the unit box [0, 1]² (y down); None for circle/square/cross."""
    if shape == "triangle":
        return [(0.5, 0.0), (1.0, 1.0), (0.0, 1.0)]
    if shape == "diamond":
        return [(0.5, 0.0), (1.0, 0.5), (0.5, 1.0), (0.0, 0.5)]
    if shape == "star":
        r = 1 / (2 * math.sin(math.radians(72)))  # the star's width equals the box side
        top = (1 - r * (1 + math.cos(math.radians(36)))) / 2  # centred vertically
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * STAR_INNER
            a = math.radians(-90 + 36 * k)
            pts.append((0.5 + rad * math.cos(a), top + r + rad * math.sin(a)))
        return pts
    return None


def _inside_polygon(x: np.ndarray, y: np.ndarray, poly: list[tuple[float, float]]) -> np.ndarray:
    """Even-odd rule point-in-polygon test, vectorised over points."""
    import numpy as np

    inside = np.zeros(x.shape, dtype=bool)
    n = len(poly)
    for i in range(n):
        (x0, y0), (x1, y1) = poly[i], poly[(i + 1) % n]
        if y0 == y1:
            continue
        crosses = (y0 > y) != (y1 > y)
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < x_at)
    return inside


def shape_mask(shape: str, d: int) -> np.ndarray:
    """Binary (bool) d×d mask of ``shape``: a pixel is on when over half of its sub-samples (8×8 for
    objects up to 32 px, fewer for bigger ones) are inside the ideal shape. Computed analytically, so
    masks are exactly mirror-symmetric."""
    import numpy as np

    if shape not in SHAPES:
        raise LongbenchError(f"unknown shape {shape!r} (known: {', '.join(SHAPES)})")
    ss = max(2, min(_SUPERSAMPLE, 256 // d))  # fewer sub-samples for big objects: same cost, same quality
    n = ss * d
    c = (np.arange(n) + 0.5) / n  # sub-sample centres in [0, 1]
    x, y = np.meshgrid(c, c)
    if shape == "circle":
        inside = (x - 0.5) ** 2 + (y - 0.5) ** 2 <= 0.25
    elif shape == "square":
        inside = np.ones_like(x, dtype=bool)
    elif shape == "cross":
        lo, hi = (1 - CROSS_ARM) / 2, (1 + CROSS_ARM) / 2
        inside = ((x >= lo) & (x <= hi)) | ((y >= lo) & (y <= hi))
    else:
        inside = _inside_polygon(x, y, shape_polygon(shape))
    # Average with the mirror images the ideal shape has, so that sub-samples lying exactly on an edge
    # cannot break the symmetry; a pixel cut exactly in half stays off.
    cover = inside.astype(np.float64)
    cover = (cover + cover[:, ::-1]) / 2
    if shape != "triangle" and shape != "star":
        cover = (cover + cover[::-1, :]) / 2
    cover = cover.reshape(d, ss, d, ss).mean(axis=(1, 3))
    return cover > 0.5 + 1e-9


@dataclass(frozen=True)
class Placement:
    """One object on the canvas: its group index, shape, colour and top-left corner."""

    group: int
    shape: str
    colour: str
    size: str
    x: int
    y: int
    d: int


class Renderer:
    """Draws scenes at a fixed square image size.

    Args:
        image_size: side of the square image in pixels (128..2048; objects scale with it).
    """

    def __init__(self, image_size: int = BASE_SIZE):
        self.image_size = check_image_size(image_size)
        self._templates: dict[tuple[str, str], np.ndarray] = {}

    def template(self, shape: str, size: str) -> np.ndarray:
        key = (shape, size)
        if key not in self._templates:
            self._templates[key] = shape_mask(shape, object_px(size, self.image_size))
        return self._templates[key]

    def layout(self, scene: Scene, seed: int = 0) -> list[Placement]:
        """Object positions: fixed slots of the group's region plus integer jitter from ``seed``."""
        rng = random.Random(seed)
        s = self.image_size
        cell = s / 3
        margin = max(1, round(2 * s / BASE_SIZE))
        out = []
        for gi, g in enumerate(scene.groups):
            d = object_px(g.size, s)
            row, col = region_cell(g.region)
            slots = rng.choice(_LAYOUTS[g.count])
            for fx, fy in slots:
                pos = []
                for frac, base in ((fx, col), (fy, row)):
                    half_extent = cell / 2 if frac == 0.5 else cell / 4
                    jit = max(0, math.floor(half_extent - d / 2 - margin) - 1)  # -1: rounding slack
                    pos.append(round((base + frac) * cell - d / 2) + rng.randint(-jit, jit))
                out.append(Placement(gi, g.shape, g.colour, g.size, pos[0], pos[1], d))
        return out

    def render_array(self, scene: Scene, seed: int = 0) -> np.ndarray:
        """The scene as an H×W×3 uint8 array."""
        import numpy as np

        scene.validate(strict=False)
        s = self.image_size
        arr = np.empty((s, s, 3), dtype=np.uint8)
        arr[:] = PALETTE[scene.background]
        for p in self.layout(scene, seed):
            view = arr[p.y:p.y + p.d, p.x:p.x + p.d]
            view[self.template(p.shape, p.size)] = PALETTE[p.colour]
        return arr

    def entity_masks(self, scene: Scene, seed: int = 0) -> np.ndarray:
        """(groups, S, S) bool: per group of ``scene``, the pixels its objects cover in ``render_array(scene,
        seed)`` (drawn in the same order, so an object painted over is not in its group's mask)."""
        import numpy as np

        s = self.image_size
        label = np.full((s, s), -1, dtype=np.int64)
        for p in self.layout(scene, seed):
            label[p.y:p.y + p.d, p.x:p.x + p.d][self.template(p.shape, p.size)] = p.group
        return label[None] == np.arange(len(scene.groups))[:, None, None]

    def render(self, scene: Scene, seed: int = 0) -> Image.Image:
        """The scene as an RGB PIL image; the same (scene, seed) always gives the same pixels."""
        from PIL import Image

        return Image.fromarray(self.render_array(scene, seed), "RGB")
