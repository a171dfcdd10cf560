"""The vocabulary and data model of the synthetic world: colours, shapes, sizes, regions, scenes.

A scene is a background colour and 3-8 object *groups*. A group is ``count`` (1-4) objects of one
shape, colour and size, all inside one cell of a 3×3 grid. No two groups share a region and no two
groups share a (colour, shape) pair, so every group has a unique name ("red circles") and position
and attribute binding are decidable from pixels. Pure Python, no heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from longbench.errors import LongbenchError

#: Palette (exact RGB). Object colours are far apart (≥ 80 in RGB distance) so nearest-colour
#: segmentation survives mild noise and JPEG.
OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (250, 140, 0),
    "yellow": (245, 225, 20),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "purple": (135, 40, 175),
    "pink": (250, 120, 200),
    "brown": (115, 70, 25),
}
NEUTRAL_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (250, 250, 250),
    "gray": (135, 135, 135),
    "black": (15, 15, 15),
}
PALETTE: dict[str, tuple[int, int, int]] = {**OBJECT_COLOURS, **NEUTRAL_COLOURS}
#: A background is a neutral colour or an object colour; objects never take the background's colour.
BACKGROUND_COLOURS: tuple[str, ...] = tuple(PALETTE)
#: Background used by models that were never told the background colour (never an object colour).
DEFAULT_BACKGROUND = "white"

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "star", "cross")
SIZES: tuple[str, ...] = ("small", "large")
#: Bounding-box side of an object, in pixels of a 256×256 image (scaled with the image).
SIZE_PX: dict[str, int] = {"small": 18, "large": 32}
REGIONS: tuple[str, ...] = (
    "top-left", "top", "top-right",
    "left", "center", "right",
    "bottom-left", "bottom", "bottom-right",
)
MIN_GROUPS, MAX_GROUPS = 3, 8
#: CLIP's context: 77 positions = start token + 75 content tokens + end token (a truncating tokenizer
#: keeps the end token, as transformers' CLIP tokenizer and the diffusers pipelines do).
CLIP_WINDOW = 77
MIN_COUNT, MAX_COUNT = 1, 4
BASE_SIZE = 256


def visible(last_token: int, window: int = CLIP_WINDOW) -> bool:
    """Whether a fact whose last token is content token ``last_token`` is read by a ``window``-position
    CLIP context.

    Positions count from the start token (position 0), so content token ``k`` (0-based) sits at position
    ``k + 1``; the truncated sequence keeps its end token in the last position ``window - 1``, leaving
    positions ``1 .. window - 2`` for content. Every token stating the fact must fit, so the fact is
    visible iff ``last_token + 1 <= window - 2``, i.e. ``last_token < window - 2`` (content tokens 0-74
    for 77 positions).
    """
    return last_token < window - 2


def plural(shape: str) -> str:
    return shape + "es" if shape.endswith(("s", "x", "ch", "sh")) else shape + "s"


def group_name(colour: str, shape: str) -> str:
    """The entity name of a group, e.g. ``"red circles"``."""
    return f"{colour} {plural(shape)}"


def region_cell(region: str) -> tuple[int, int]:
    """(row, column) of a region in the 3×3 grid."""
    i = REGIONS.index(region)
    return divmod(i, 3)


@dataclass(frozen=True)
class Group:
    """``count`` objects of one shape, colour and size inside one grid region."""

    shape: str
    colour: str
    size: str
    region: str
    count: int

    @property
    def name(self) -> str:
        return group_name(self.colour, self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {"shape": self.shape, "colour": self.colour, "size": self.size,
                "region": self.region, "count": self.count}


@dataclass(frozen=True)
class Scene:
    """A background colour and object groups, groups ordered by region (reading order)."""

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
            groups = tuple(Group(shape=g["shape"], colour=g["colour"], size=g["size"],
                                 region=g["region"], count=g["count"]) for g in d["groups"])
        except (KeyError, TypeError) as e:
            raise LongbenchError(f"{where}: malformed group ({e})") from e
        scene = cls(background=d.get("background"), groups=groups)
        scene.validate(where)
        return scene

    def validate(self, where: str = "scene", strict: bool = True) -> None:
        """Check vocabulary; with ``strict`` also the world's invariants (unique regions and names,
        3-8 groups, background never an object colour)."""
        if self.background not in PALETTE:
            raise LongbenchError(f"{where}: unknown background colour {self.background!r}")
        for g in self.groups:
            for value, allowed, what in ((g.shape, SHAPES, "shape"), (g.colour, OBJECT_COLOURS, "colour"),
                                         (g.size, SIZES, "size"), (g.region, REGIONS, "region")):
                if value not in allowed:
                    raise LongbenchError(f"{where}: unknown {what} {value!r} (known: {', '.join(allowed)})")
            count_ok = isinstance(g.count, int) and not isinstance(g.count, bool)
            if not count_ok or not MIN_COUNT <= g.count <= MAX_COUNT:
                raise LongbenchError(
                    f"{where}: group {g.name!r} count must be an int in {MIN_COUNT}..{MAX_COUNT}")
            if g.colour == self.background:
                raise LongbenchError(f"{where}: group {g.name!r} has the background colour")
        regions = [g.region for g in self.groups]
        if len(set(regions)) != len(regions):
            raise LongbenchError(f"{where}: two groups share a region")
        if strict:
            names = [g.name for g in self.groups]
            if len(set(names)) != len(names):
                raise LongbenchError(f"{where}: two groups share a colour and shape")
            if not MIN_GROUPS <= len(self.groups) <= MAX_GROUPS:
                raise LongbenchError(
                    f"{where}: {len(self.groups)} groups, expected {MIN_GROUPS}..{MAX_GROUPS}")

    def sorted(self) -> Scene:
        """The same scene with groups in reading order of their regions (the canonical order)."""
        return Scene(self.background, tuple(sorted(self.groups, key=lambda g: REGIONS.index(g.region))))

    def group(self, name: str) -> Group | None:
        for g in self.groups:
            if g.name == name:
                return g
        return None
