"""The vocabulary and data model of the miniature world: a 32×32 canvas, four quadrants, five 7-pixel
shapes, five colours, counts 1-4.

A scene is a neutral background (white, gray or black) and 2-3 object *groups*. A group is ``count``
objects of one shape and one colour inside one quadrant. Groups have distinct shapes (the shape names
the group: "the circles") and distinct quadrants, so at least one quadrant is always empty; colours may
repeat, so colour is a fact of its own (bound to a shape). Pure Python, no heavy imports.

Why 32 px: a ×2 VAE gives 16² latents, where a training step of a 3.2 M-parameter UNet measured 2.4×
cheaper than on the 24² latents of 48 px, and 32 px still holds a 2×2 grid of 8-pixel slots per quadrant,
each with a 7-pixel glyph and a 1-pixel gap, so up to four objects per quadrant stay separate components.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from longbench.errors import LongbenchError
from longbench.worlds.scene import GroupBase, SceneBase
from longbench.worlds.tokens import CLIP_WINDOW, visible  # noqa: F401  (re-exported: the world's window rule)
from longbench.worlds.world import World

IMAGE_SIZE = 32
#: Side of a quadrant and of an object slot inside it, in pixels.
CELL, SLOT = 16, 8
#: Side of every object glyph (one glyph per shape, always drawn at this size).
GLYPH = 7

#: Object colours (exact RGB), saturated, never neutral; any two palette colours are ≥ 110 apart in RGB.
OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "yellow": (240, 210, 20),
    "green": (20, 160, 60),
    "blue": (30, 70, 230),
    "purple": (150, 40, 190),
}
#: Backgrounds are neutral, so an object never has the background's colour.
BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (250, 250, 250),
    "gray": (128, 128, 128),
    "black": (15, 15, 15),
}
PALETTE: dict[str, tuple[int, int, int]] = {**OBJECT_COLOURS, **BACKGROUND_COLOURS}
#: Background drawn by models that were never told it.
DEFAULT_BACKGROUND = "white"

# 7×7 glyphs, chosen so that every pair differs in ≥ 12 of 49 pixels and each is one solid
# 8-connected component (no 1-pixel strokes a blurry generator would lose).
_GLYPH_ROWS: dict[str, tuple[str, ...]] = {
    "square": ("XXXXXXX",) * 7,
    "circle": ("..XXX..", ".XXXXX.", "XXXXXXX", "XXXXXXX", "XXXXXXX", ".XXXXX.", "..XXX.."),
    "triangle": ("...X...", "..XXX..", "..XXX..", ".XXXXX.", ".XXXXX.", "XXXXXXX", "XXXXXXX"),
    "diamond": ("...X...", "..XXX..", ".XXXXX.", "XXXXXXX", ".XXXXX.", "..XXX..", "...X..."),
    "cross": ("XX...XX", "XXX.XXX", ".XXXXX.", "..XXX..", ".XXXXX.", "XXX.XXX", "XX...XX"),
}
SHAPES: tuple[str, ...] = tuple(_GLYPH_ROWS)
SHAPE_PLURALS: dict[str, str] = {"square": "squares", "circle": "circles", "triangle": "triangles",
                                 "diamond": "diamonds", "cross": "crosses"}
REGIONS: tuple[str, ...] = ("top-left", "top-right", "bottom-left", "bottom-right")
MIN_GROUPS, MAX_GROUPS = 2, 3
MIN_COUNT, MAX_COUNT = 1, 4
#: Scene layouts: ``free`` (``mini-v0``: any distinct quadrants, stated by the prompt) or ``homes`` (``mini-v1``:
#: each shape always in its home quadrant, so the prompt states no places; crosses have no home)
LAYOUTS: tuple[str, ...] = ("free", "homes")
HOMES: dict[str, str] = {"square": "top-left", "circle": "top-right", "triangle": "bottom-left",
                         "diamond": "bottom-right"}


def glyph_rows(shape: str) -> tuple[str, ...]:
    """The 7 rows of ``shape``'s glyph, ``X`` = object pixel."""
    if shape not in _GLYPH_ROWS:
        raise LongbenchError(f"unknown mini shape {shape!r} (known: {', '.join(SHAPES)})")
    return _GLYPH_ROWS[shape]


def entity_name(shape: str) -> str:
    """The entity name of a group: its plural shape noun (``"circles"``)."""
    return SHAPE_PLURALS[shape]


def shape_of(entity: str) -> str | None:
    """The shape an entity name (``"circles"``) stands for, or None."""
    for shape, plural in SHAPE_PLURALS.items():
        if entity == plural:
            return shape
    return None


def region_cell(region: str) -> tuple[int, int]:
    """(row, column) of a quadrant."""
    return divmod(REGIONS.index(region), 2)


@dataclass(frozen=True)
class Group(GroupBase):
    """``count`` objects of one shape and colour inside one quadrant."""

    shape: str
    colour: str
    region: str
    count: int

    @property
    def name(self) -> str:
        return entity_name(self.shape)


@dataclass(frozen=True)
class Scene(SceneBase):
    """A neutral background and 2-3 groups of distinct shapes in distinct quadrants, ordered by quadrant
    (reading order). ``key()`` (the sorted groups) is what train and test splits never share. ``layout``
    ``homes`` puts every group in its shape's home quadrant (``HOMES``)."""

    layout: str = "free"

    GROUP = Group
    BACKGROUNDS = tuple(BACKGROUND_COLOURS)  # neutral, so an object never has the background's colour
    VOCABULARY: ClassVar[dict[str, tuple[str, ...]]] = {
        "shape": SHAPES, "colour": tuple(OBJECT_COLOURS), "region": REGIONS}
    COUNTS = tuple(range(MIN_COUNT, MAX_COUNT + 1))
    GROUPS = (MIN_GROUPS, MAX_GROUPS)
    DISTINCT = (("region", "region", False), ("shape", "shape", False))
    LOOKUP = "shape"  # scene.group("circle")

    def home(self, group: Group) -> str | None:
        """The quadrant ``group`` must lie in: its shape's home in a ``homes`` layout, else None (any free one)."""
        return HOMES.get(group.shape) if self.layout == "homes" else None

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if self.layout != "free":  # a free scene's JSON is mini-v0's, unchanged
            d["layout"] = self.layout
        return d

    @classmethod
    def extra_fields(cls, d: dict[str, Any]) -> dict[str, Any]:
        return {"layout": d.get("layout", "free")}

    def sampler_args(self) -> dict[str, Any]:
        return {"layout": self.layout}

    def validate(self, where: str = "scene", strict: bool = True) -> None:
        super().validate(where, strict)
        if self.layout not in LAYOUTS:
            raise LongbenchError(f"{where}: unknown layout {self.layout!r} (known: {', '.join(LAYOUTS)})")
        if self.layout == "homes":
            for g in self.groups:
                if g.shape not in HOMES:
                    raise LongbenchError(f"{where}: a homes layout has no {g.name} (shapes: {', '.join(HOMES)})")
                if g.region != HOMES[g.shape]:
                    raise LongbenchError(f"{where}: the {g.name} lie {g.region}, not in their home "
                                         f"{HOMES[g.shape]}")


#: The miniature world as the generic layer (``longbench.worlds``) sees it.
MINI = World(name="mini", adjective="miniature", suite="mini-v0", scene_key="mini_scene", scene_type=Scene,
             fact_fields={"attribute": "colour", "count": "count", "spatial": "region"},
             default_background=DEFAULT_BACKGROUND, rng_prefix="mini-", sampler="longbench.mini.sampler")
