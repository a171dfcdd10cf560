"""Exact detector: reads a synthetic scene back from pixels.

Pipeline: every pixel gets the nearest palette colour (a 32,768-entry lookup table over 5-bit RGB;
pixels far from every palette colour are left unlabelled); the most frequent colour is the
background; each other colour is split into 8-connected components (scipy.ndimage); components that
are too small, or thin rims without an interior (anti-aliasing/JPEG fringes), are dropped; each kept
component is classified as the (shape, size) whose rendered template is nearest in a small feature
space (fill ratios of a 3×3 split of its box, aspect ratio, log scale) and assigned to
the grid region holding its centre.

On a clean render the features of an object equal those of its template exactly (objects are pasted
templates), so ``detect(render(scene))`` returns the scene itself; on noisy, resized or compressed
images the nearest-template rule degrades gradually instead of failing.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from longbench.synth.render import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, object_px, shape_mask
from longbench.synth.world import BASE_SIZE, PALETTE, REGIONS, SHAPES, SIZES, Group, Scene

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

DETECTOR_VERSION = "1"
_COLOUR_NAMES: tuple[str, ...] = tuple(PALETTE)
_UNLABELLED = 255
#: Pixels farther than this (RGB Euclidean) from every palette colour are left unlabelled.
MAX_COLOUR_DISTANCE = 120.0
#: A component must cover at least this fraction of the smallest template's area ...
MIN_AREA_FRACTION = 0.3
#: ... and keep at least this fraction of its pixels after a 3×3 erosion (rejects 1-px rims).
MIN_CORE_FRACTION = 0.1
#: At most this many objects (largest components first) are read per image (bounds time on photos).
MAX_COMPONENTS = 256
# Weights of the aspect-ratio and scale features relative to the nine zone fill ratios.
_ASPECT_WEIGHT = 1.0
_SCALE_WEIGHT = 2.0


@dataclass(frozen=True)
class DetectedObject:
    """One connected component read as an object; ``box`` is (x0, y0, x1, y1), exclusive ends."""

    colour: str
    shape: str
    size: str
    region: str
    box: tuple[int, int, int, int]
    area: int
    distance: float  # feature distance to the chosen template (0 on clean renders)

    def to_dict(self) -> dict[str, Any]:
        return {"colour": self.colour, "shape": self.shape, "size": self.size, "region": self.region,
                "box": list(self.box), "area": self.area, "distance": round(self.distance, 6)}


@dataclass(frozen=True)
class Detection:
    """What the detector read: the background colour (None if no pixel matched the palette) and objects."""

    background: str | None
    objects: tuple[DetectedObject, ...]
    image_size: int

    def to_scene(self) -> Scene:
        """Group objects by (shape, colour, size, region) into a scene (not validated: a noisy image may
        yield two groups in one region or counts above 4)."""
        counts = Counter((o.shape, o.colour, o.size, o.region) for o in self.objects)
        groups = [Group(shape=s, colour=c, size=z, region=r, count=n) for (s, c, z, r), n in counts.items()]
        groups.sort(key=lambda g: (REGIONS.index(g.region), g.colour, g.shape, g.size))
        return Scene(self.background or "white", tuple(groups))

    def entity(self, colour: str, shape: str) -> list[DetectedObject]:
        return [o for o in self.objects if o.colour == colour and o.shape == shape]


def _features(mask: np.ndarray, image_size: int) -> np.ndarray:
    """Weighted scale-free features of a cropped binary mask (its bounding box): the fill ratio of
    each cell of a 3×3 split of the box (a coarse picture of the shape), log aspect ratio and log
    size relative to the image."""
    import numpy as np

    h, w = mask.shape
    rb = [0, round(h / 3), round(2 * h / 3)]
    cb = [0, round(w / 3), round(2 * w / 3)]
    sums = np.add.reduceat(np.add.reduceat(mask.astype(np.int32), rb, axis=0), cb, axis=1)
    areas = np.outer(np.diff([*rb, h]), np.diff([*cb, w]))
    zones = sums.ravel() / np.maximum(areas.ravel(), 1)
    return np.concatenate([zones, [_ASPECT_WEIGHT * math.log(h / w),
                                   _SCALE_WEIGHT * math.log(max(h, w) / image_size)]])


def _crop(mask: np.ndarray) -> np.ndarray:
    import numpy as np

    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    return mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


class Detector:
    """Reads scenes back from images.

    Args:
        image_size: side to which non-square images (or squares outside 128..2048 px) are resized
            (nearest neighbour) before detection; square images in that range are read at their size.
    """

    def __init__(self, image_size: int = BASE_SIZE):
        import numpy as np

        self.image_size = image_size
        palette = np.array([PALETTE[c] for c in _COLOUR_NAMES], dtype=np.float64)
        centres = (np.arange(32) * 8 + 4).astype(np.float64)
        grid = np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), axis=-1).reshape(-1, 3)
        dist = np.sqrt(((grid[:, None, :] - palette[None, :, :]) ** 2).sum(-1))
        lut = dist.argmin(axis=1).astype(np.uint8)
        lut[dist.min(axis=1) > MAX_COLOUR_DISTANCE] = _UNLABELLED
        # Exact palette colours always map to themselves, whatever their 5-bit bin.
        for i, rgb in enumerate(palette.astype(int)):
            lut[((rgb[0] >> 3) << 10) | ((rgb[1] >> 3) << 5) | (rgb[2] >> 3)] = i
        self._lut = lut
        self._templates: dict[int, tuple[np.ndarray, list[tuple[str, str]], int]] = {}

    def templates(self, size: int) -> tuple[np.ndarray, list[tuple[str, str]], int]:
        """(weighted feature matrix, (shape, size) labels, smallest template area) for an image side."""
        import numpy as np

        if size not in self._templates:
            feats, labels, areas = [], [], []
            for shape in SHAPES:
                for size_name in SIZES:
                    m = _crop(shape_mask(shape, object_px(size_name, size)))
                    feats.append(_features(m, size))
                    labels.append((shape, size_name))
                    areas.append(int(m.sum()))
            mat = np.array(feats)
            gaps = np.sqrt(((mat[:, None] - mat[None]) ** 2).sum(-1)) + np.eye(len(mat))
            if gaps.min() < 1e-6:  # two templates indistinguishable: clean detection would be ambiguous
                raise ValueError(f"synth detector: templates collide at image size {size}")
            self._templates[size] = (mat, labels, min(areas))
        return self._templates[size]

    def _prepare(self, image: Any) -> np.ndarray:
        import numpy as np
        from PIL import Image

        from longbench.images import to_rgb

        if isinstance(image, Image.Image):  # the common case, without to_rgb's torch import
            im = image if image.mode == "RGB" else image.convert("RGB")
        else:
            im = to_rgb(image, where="synth detector input")
        w, h = im.size
        if w != h or not MIN_IMAGE_SIZE <= w <= MAX_IMAGE_SIZE:
            im = im.resize((self.image_size, self.image_size), Image.Resampling.NEAREST)
        return np.asarray(im)

    def labels(self, arr: np.ndarray) -> np.ndarray:
        """Palette index per pixel (255 = far from every palette colour)."""
        import numpy as np

        q = arr >> 3
        idx = (q[..., 0].astype(np.int32) << 10) | (q[..., 1].astype(np.int32) << 5) | q[..., 2]
        return self._lut[idx]

    def detect(self, image: Any) -> Detection:
        """Read the background and objects of one image (PIL, numpy HWC or torch CHW)."""
        import numpy as np
        from scipy import ndimage

        arr = self._prepare(image)
        size = arr.shape[0]
        mat, tlabels, min_area = self.templates(size)
        lab = self.labels(arr)
        hist = np.bincount(lab.ravel(), minlength=256)[:len(_COLOUR_NAMES)]
        if hist.sum() == 0:
            return Detection(None, (), size)
        bg = int(hist.argmax())
        min_pixels = max(4, int(MIN_AREA_FRACTION * min_area))
        # One labelling of all foreground pixels; only components holding several colours (never in a
        # clean render, where differently coloured objects never touch) are split again per colour.
        eight = np.ones((3, 3), dtype=bool)  # 8-connectivity
        comp, n = ndimage.label((lab != bg) & (lab != _UNLABELLED), structure=eight)
        if n == 0:
            return Detection(_COLOUR_NAMES[bg], (), size)
        areas = np.bincount(comp.ravel(), minlength=n + 1)
        keep = np.nonzero(areas[1:] >= min_pixels)[0] + 1
        if keep.size > MAX_COMPONENTS:
            keep = keep[np.argsort(-areas[keep], kind="stable")[:MAX_COMPONENTS]]
        slices = ndimage.find_objects(comp)
        found: list[DetectedObject] = []
        for i in keep.tolist():
            if len(found) >= MAX_COMPONENTS:
                break
            sy, sx = slices[i - 1]
            mask = comp[sy, sx] == i
            colours = lab[sy, sx][mask]
            k = int(colours[0])
            if (colours == k).all():
                self._classify(mask, k, sy.start, sx.start, size, mat, tlabels, min_pixels, found)
                continue
            sub_lab = lab[sy, sx]
            for k in np.unique(colours).tolist():
                sub, m = ndimage.label(mask & (sub_lab == k), structure=eight)
                sub_areas = np.bincount(sub.ravel(), minlength=m + 1)
                big = np.nonzero(sub_areas[1:] >= min_pixels)[0] + 1
                if big.size == 0:
                    continue
                sub_slices = ndimage.find_objects(sub)
                for j in big.tolist():
                    if len(found) >= MAX_COMPONENTS:
                        break
                    ssy, ssx = sub_slices[j - 1]
                    self._classify(sub[ssy, ssx] == j, k, sy.start + ssy.start, sx.start + ssx.start, size,
                                   mat, tlabels, min_pixels, found)
        found.sort(key=lambda o: (REGIONS.index(o.region), o.box[1], o.box[0]))
        return Detection(_COLOUR_NAMES[bg], tuple(found), size)

    @staticmethod
    def _classify(mask: np.ndarray, k: int, y0: int, x0: int, size: int, mat: np.ndarray,
                  tlabels: list[tuple[str, str]], min_pixels: int, out: list[DetectedObject]) -> None:
        """Classify one single-colour component (cropped to its box) and append it to ``out``."""
        import numpy as np
        from scipy import ndimage

        h, w = mask.shape
        area = int(mask.sum())
        if h < 3 or w < 3 or area < min_pixels:
            return
        core = ndimage.binary_erosion(mask, structure=np.ones((3, 3), dtype=bool), border_value=0)
        if core.sum() < MIN_CORE_FRACTION * area:
            return  # a thin rim (edge fringe), not an object
        d = np.sqrt(((mat - _features(mask, size)) ** 2).sum(axis=1))
        j = int(d.argmin())
        cell = size / 3
        cx, cy = x0 + w / 2, y0 + h / 2
        region = REGIONS[3 * min(2, int(cy / cell)) + min(2, int(cx / cell))]
        shape, size_name = tlabels[j]
        out.append(DetectedObject(_COLOUR_NAMES[k], shape, size_name, region, (x0, y0, x0 + w, y0 + h),
                                  area, float(d[j])))
