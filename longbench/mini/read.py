"""Exact reader: reads a miniature scene back from pixels, and checks facts against what it read.

Pipeline: an image that is not 32×32 is box-filtered down to 32×32 (exact for the renderer's pixel
enlargements); every pixel gets the nearest palette colour (none when it is farther than
``MAX_COLOUR_DISTANCE`` from all); the background is the most frequent neutral colour; the pixels of
each object colour are split into 8-connected components; components smaller than ``MIN_AREA`` are
dropped; each kept component's box is sampled onto a 7×7 grid and classified as the glyph with the
fewest differing pixels; its quadrant is the one holding the centre of its box.

On a clean render every object is one component equal to its glyph (distance 0), so
``read(render(scene)).to_scene() == scene``. Objects that touch (impossible in a render) are read as
one object; on generated images the reading degrades gradually rather than failing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from longbench.mini.world import (
    CELL,
    GLYPH,
    IMAGE_SIZE,
    MINI,
    OBJECT_COLOURS,
    PALETTE,
    REGIONS,
    SHAPES,
    Group,
    Scene,
    shape_of,
)

if TYPE_CHECKING:
    import numpy as np

    from longbench.suites.base import Fact

READER_VERSION = "1"
_COLOUR_NAMES: tuple[str, ...] = tuple(PALETTE)
_UNLABELLED = -1
#: Pixels farther than this (RGB Euclidean) from every palette colour get no colour.
MAX_COLOUR_DISTANCE = 120.0
#: Smallest component read as an object, in pixels (the smallest glyph, the diamond, has 25).
MIN_AREA = 8


@dataclass(frozen=True)
class ReadObject:
    """One component read as an object; ``box`` is (x0, y0, x1, y1) on the 32-px grid, exclusive ends."""

    shape: str
    colour: str
    region: str
    box: tuple[int, int, int, int]
    area: int
    distance: int  # pixels differing from the chosen glyph on the 7×7 grid (0 on clean renders)

    def to_dict(self) -> dict[str, Any]:
        return {"shape": self.shape, "colour": self.colour, "region": self.region, "box": list(self.box),
                "area": self.area, "distance": self.distance}


@dataclass(frozen=True)
class Reading:
    """What the reader saw: the background (None when no pixel is neutral) and the objects."""

    background: str | None
    objects: tuple[ReadObject, ...]

    def to_scene(self) -> Scene:
        """Objects grouped by (shape, colour, quadrant) into a scene (not validated: a generated image
        may show two groups of one shape or in one quadrant)."""
        counts = Counter((o.shape, o.colour, o.region) for o in self.objects)
        groups = [Group(shape=s, colour=c, region=r, count=n) for (s, c, r), n in counts.items()]
        groups.sort(key=lambda g: (REGIONS.index(g.region), SHAPES.index(g.shape), g.colour))
        return Scene(self.background or "white", tuple(groups))

    def of_shape(self, shape: str) -> list[ReadObject]:
        return [o for o in self.objects if o.shape == shape]


class Reader:
    """Reads scenes back from images (PIL, numpy HWC or torch CHW; any size, see module docstring)."""

    def __init__(self) -> None:
        import numpy as np

        from longbench.mini.render import glyph

        self._palette = np.array([PALETTE[c] for c in _COLOUR_NAMES], dtype=np.float64)
        self._glyphs = np.stack([glyph(s) for s in SHAPES])  # (n_shapes, 7, 7)

    def _prepare(self, image: Any) -> np.ndarray:
        import numpy as np
        from PIL import Image

        from longbench.images import to_rgb

        im = to_rgb(image, where="mini reader input")
        if im.size != (IMAGE_SIZE, IMAGE_SIZE):
            im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
        return np.asarray(im)

    def labels(self, arr: np.ndarray) -> np.ndarray:
        """Palette index per pixel of a 32×32×3 array (-1 = far from every palette colour)."""
        import numpy as np

        d = np.sqrt(((arr[..., None, :].astype(np.float64) - self._palette) ** 2).sum(-1))
        lab = d.argmin(-1)
        lab[d.min(-1) > MAX_COLOUR_DISTANCE] = _UNLABELLED
        return lab

    def classify(self, mask: np.ndarray) -> tuple[str, int]:
        """(shape, distance) of a component cropped to its box: the box is sampled at 7×7 cell centres
        and compared with every glyph (ties go to the earlier shape in ``SHAPES``)."""
        import numpy as np

        h, w = mask.shape
        rows = ((np.arange(GLYPH) + 0.5) * h / GLYPH).astype(int)
        cols = ((np.arange(GLYPH) + 0.5) * w / GLYPH).astype(int)
        grid = mask[np.ix_(rows, cols)]
        dist = (self._glyphs != grid).sum(axis=(1, 2))
        j = int(dist.argmin())
        return SHAPES[j], int(dist[j])

    def read(self, image: Any) -> Reading:
        import numpy as np
        from scipy import ndimage

        lab = self.labels(self._prepare(image))
        n_obj = len(OBJECT_COLOURS)
        hist = np.bincount(lab[lab >= 0].ravel(), minlength=len(_COLOUR_NAMES))
        neutral = hist[n_obj:]
        background = _COLOUR_NAMES[n_obj + int(neutral.argmax())] if neutral.sum() else None
        eight = np.ones((3, 3), dtype=bool)
        found: list[ReadObject] = []
        for k, colour in enumerate(_COLOUR_NAMES[:n_obj]):
            if not hist[k]:
                continue
            comp, _ = ndimage.label(lab == k, structure=eight)
            for i, (sy, sx) in enumerate(ndimage.find_objects(comp), start=1):
                mask = comp[sy, sx] == i
                area = int(mask.sum())
                if area < MIN_AREA:
                    continue
                shape, dist = self.classify(mask)
                cx, cy = (sx.start + sx.stop) / 2, (sy.start + sy.stop) / 2
                region = REGIONS[2 * min(1, int(cy // CELL)) + min(1, int(cx // CELL))]
                found.append(ReadObject(shape, colour, region, (sx.start, sy.start, sx.stop, sy.stop), area, dist))
        found.sort(key=lambda o: (REGIONS.index(o.region), o.box[1], o.box[0]))
        return Reading(background, tuple(found))


def fact_holds(fact: Fact, reading: Reading) -> bool:
    """Whether ``fact`` holds in ``reading``. With ``objs`` the objects read with the fact's shape,
    anywhere: presence — at least one; count — exactly ``value``; attribute (colour bound to shape) — at
    least one and all of colour ``value``; spatial — at least one and all in quadrant ``value``
    (``World.objects_hold``)."""
    shape = shape_of(fact.entity or "")
    return shape is not None and MINI.objects_hold(fact, reading.of_shape(shape))
