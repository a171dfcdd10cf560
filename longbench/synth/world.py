"""The vocabulary and data model of the synthetic world: colours, shapes, sizes, regions, scenes.

A scene is a background colour and 3-8 object *groups*. A group is ``count`` (1-4) objects of one
shape, colour and size, all inside one cell of a 3×3 grid. No two groups share a region and no two
groups share a (colour, shape) pair, so every group has a unique name ("red circles") and position
and attribute binding are decidable from pixels. Pure Python, no heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from longbench.worlds.scene import GroupBase, SceneBase
from longbench.worlds.tokens import CLIP_WINDOW, visible  # noqa: F401  (re-exported: the world's window rule)
from longbench.worlds.world import World

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
MIN_COUNT, MAX_COUNT = 1, 4
BASE_SIZE = 256


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
class Group(GroupBase):
    """``count`` objects of one shape, colour and size inside one grid region."""

    shape: str
    colour: str
    size: str
    region: str
    count: int

    @property
    def name(self) -> str:
        return group_name(self.colour, self.shape)


@dataclass(frozen=True)
class Scene(SceneBase):
    """A background colour and 3-8 groups, groups ordered by region (reading order). Any two groups
    differ in region and (strictly) in colour and shape; no group has the background's colour."""

    GROUP = Group
    BACKGROUNDS = BACKGROUND_COLOURS
    VOCABULARY: ClassVar[dict[str, tuple[str, ...]]] = {
        "shape": SHAPES, "colour": tuple(OBJECT_COLOURS), "size": SIZES, "region": REGIONS}
    COUNTS = tuple(range(MIN_COUNT, MAX_COUNT + 1))
    GROUPS = (MIN_GROUPS, MAX_GROUPS)
    DISTINCT = (("region", "region", False), ("name", "colour and shape", True))
    LOOKUP = "name"  # scene.group("red circles")


#: The synthetic world as the generic layer (``longbench.worlds``) sees it.
SYNTH = World(name="synth", adjective="synthetic", suite="synth-v0", scene_key="scene", scene_type=Scene,
              fact_fields={"count": "count", "attribute": "size", "spatial": "region"},
              default_background=DEFAULT_BACKGROUND, sampler="longbench.synth.sampler")
