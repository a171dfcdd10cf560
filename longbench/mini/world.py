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
from typing import Any

from longbench.errors import LongbenchError

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
#: CLIP's context: 77 positions = start token + 75 content tokens + end token.
CLIP_WINDOW = 77


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


def visible(last_token: int, window: int = CLIP_WINDOW) -> bool:
    """Whether a fact whose last token is content token ``last_token`` (0-based, start token not counted)
    is read by a ``window``-position CLIP context: every token stating it must fit, ``last < window - 2``."""
    return last_token < window - 2


@dataclass(frozen=True)
class Group:
    """``count`` objects of one shape and colour inside one quadrant."""

    shape: str
    colour: str
    region: str
    count: int

    @property
    def name(self) -> str:
        return entity_name(self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {"shape": self.shape, "colour": self.colour, "region": self.region, "count": self.count}


@dataclass(frozen=True)
class Scene:
    """A background colour and groups, ordered by quadrant (reading order)."""

    background: str
    groups: tuple[Group, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"background": self.background, "groups": [g.to_dict() for g in self.groups]}

    @classmethod
    def from_dict(cls, d: Any, where: str = "scene") -> Scene:
        """Parse and validate the JSON form; errors are LongbenchErrors naming ``where``."""
        if not isinstance(d, dict) or not isinstance(d.get("groups"), list):
            raise LongbenchError(f"{where}: expected an object with 'background' and a 'groups' list")
        try:
            groups = tuple(Group(shape=g["shape"], colour=g["colour"], region=g["region"], count=g["count"])
                           for g in d["groups"])
        except (KeyError, TypeError) as e:
            raise LongbenchError(f"{where}: malformed group ({e})") from e
        scene = cls(background=d.get("background"), groups=groups)
        scene.validate(where)
        return scene

    def validate(self, where: str = "scene", strict: bool = True) -> None:
        """Check vocabulary, one group per quadrant and per shape; with ``strict`` also 2-3 groups."""
        if self.background not in BACKGROUND_COLOURS:
            raise LongbenchError(f"{where}: background must be one of {', '.join(BACKGROUND_COLOURS)}, "
                                 f"got {self.background!r}")
        for g in self.groups:
            for value, allowed, what in ((g.shape, SHAPES, "shape"), (g.colour, OBJECT_COLOURS, "colour"),
                                         (g.region, REGIONS, "region")):
                if value not in allowed:
                    raise LongbenchError(f"{where}: unknown {what} {value!r} (known: {', '.join(allowed)})")
            if not isinstance(g.count, int) or isinstance(g.count, bool) or not MIN_COUNT <= g.count <= MAX_COUNT:
                raise LongbenchError(f"{where}: group {g.name!r} count must be an int in {MIN_COUNT}..{MAX_COUNT}")
        for what, values in (("region", [g.region for g in self.groups]), ("shape", [g.shape for g in self.groups])):
            if len(set(values)) != len(values):
                raise LongbenchError(f"{where}: two groups share a {what}")
        if strict and not MIN_GROUPS <= len(self.groups) <= MAX_GROUPS:
            raise LongbenchError(f"{where}: {len(self.groups)} groups, expected {MIN_GROUPS}..{MAX_GROUPS}")

    def sorted(self) -> Scene:
        """The same scene with groups in reading order of their quadrants (the canonical order)."""
        return Scene(self.background, tuple(sorted(self.groups, key=lambda g: REGIONS.index(g.region))))

    def group(self, shape: str) -> Group | None:
        for g in self.groups:
            if g.shape == shape:
                return g
        return None

    def key(self) -> tuple[tuple[str, str, str, int], ...]:
        """What the picture shows besides the background: the sorted groups. Train and test splits
        never share a key."""
        return tuple(sorted((g.shape, g.colour, g.region, g.count) for g in self.groups))
