"""The data model of a scene world: a background colour and groups of identical objects.

A world subclasses :class:`GroupBase` (a frozen dataclass whose fields are the group's properties, e.g.
shape, colour, size, region, count) and :class:`SceneBase` (declaring its vocabulary as class
attributes); both get their JSON form, validation and canonical order from here. Pure Python.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from longbench.errors import LongbenchError

if TYPE_CHECKING:
    from typing_extensions import Self


@dataclass(frozen=True)
class GroupBase(ABC):
    """``count`` identical objects; subclasses declare the fields (``shape``, ``colour``, ``region``, …)."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The entity name facts use for the group (unique within a scene)."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class SceneBase:
    """A background colour and groups, groups ordered by region (reading order).

    Subclasses declare: ``GROUP`` (their group class), ``BACKGROUNDS`` (allowed background colours),
    ``VOCABULARY`` (group field → allowed values, checked in this order; ``region`` lists the regions in
    reading order), ``COUNTS`` (allowed counts), ``GROUPS`` (min, max number of groups), ``DISTINCT``
    (group attributes no two groups share: ``(attribute, what the message calls it, strict only)``),
    and ``LOOKUP`` (the group attribute :meth:`group` looks up).
    """

    background: str
    groups: tuple[Any, ...]

    GROUP: ClassVar[type[GroupBase]]
    BACKGROUNDS: ClassVar[Collection[str]]
    VOCABULARY: ClassVar[dict[str, tuple[str, ...]]]
    COUNTS: ClassVar[tuple[int, ...]]
    GROUPS: ClassVar[tuple[int, int]]
    DISTINCT: ClassVar[tuple[tuple[str, str, bool], ...]]
    LOOKUP: ClassVar[str]

    @classmethod
    def values(cls, field: str) -> tuple[Any, ...]:
        """The values a group field may take (``count`` included)."""
        return cls.COUNTS if field == "count" else cls.VOCABULARY[field]

    def to_dict(self) -> dict[str, Any]:
        return {"background": self.background, "groups": [g.to_dict() for g in self.groups]}

    @classmethod
    def from_dict(cls, d: Any, where: str = "scene") -> Self:
        """Parse and validate the JSON form; errors are LongbenchErrors naming ``where``."""
        if not isinstance(d, dict) or not isinstance(d.get("groups"), list):
            raise LongbenchError(f"{where}: expected an object with 'background' and a 'groups' list")
        names = [f.name for f in dataclasses.fields(cls.GROUP)]
        try:
            groups = tuple(cls.GROUP(**{k: g[k] for k in names}) for g in d["groups"])
        except (KeyError, TypeError) as e:
            raise LongbenchError(f"{where}: malformed group ({e})") from e
        scene = cls(background=d.get("background"), groups=groups, **cls.extra_fields(d))
        scene.validate(where)
        return scene

    @classmethod
    def extra_fields(cls, d: dict[str, Any]) -> dict[str, Any]:
        """Scene fields besides background and groups, from the JSON form (a world with more overrides it)."""
        return {}

    def home(self, group: Any) -> str | None:
        """The region ``group`` must lie in, when the world fixes it; None: any free region."""
        return None

    def sampler_args(self) -> dict[str, Any]:
        """Keyword arguments of the world's ``sample_scene`` that draw scenes of this one's kind."""
        return {}

    def validate(self, where: str = "scene", strict: bool = True) -> None:
        """Check vocabulary, counts, that no group has the background's colour and the ``DISTINCT``
        attributes; with ``strict`` also the number of groups and the strict-only ``DISTINCT`` ones."""
        if self.background not in self.BACKGROUNDS:
            raise LongbenchError(f"{where}: unknown background colour {self.background!r} "
                                 f"(known: {', '.join(self.BACKGROUNDS)})")
        lo, hi = self.COUNTS[0], self.COUNTS[-1]
        for g in self.groups:
            for what, allowed in self.VOCABULARY.items():
                value = getattr(g, what)
                if value not in allowed:
                    raise LongbenchError(f"{where}: unknown {what} {value!r} (known: {', '.join(allowed)})")
            if not isinstance(g.count, int) or isinstance(g.count, bool) or g.count not in self.COUNTS:
                raise LongbenchError(f"{where}: group {g.name!r} count must be an int in {lo}..{hi}")
            if g.colour == self.background:
                raise LongbenchError(f"{where}: group {g.name!r} has the background colour")
        for attr, what, strict_only in self.DISTINCT:
            values = [getattr(g, attr) for g in self.groups]
            if (strict or not strict_only) and len(set(values)) != len(values):
                raise LongbenchError(f"{where}: two groups share a {what}")
        lo, hi = self.GROUPS
        if strict and not lo <= len(self.groups) <= hi:
            raise LongbenchError(f"{where}: {len(self.groups)} groups, expected {lo}..{hi}")

    def sorted(self) -> Self:
        """The same scene with groups in reading order of their regions (the canonical order)."""
        regions = self.VOCABULARY["region"]
        return dataclasses.replace(self, groups=tuple(sorted(self.groups, key=lambda g: regions.index(g.region))))

    def group(self, key: str) -> Any:
        """The group whose ``LOOKUP`` attribute is ``key``, or None."""
        return next((g for g in self.groups if getattr(g, self.LOOKUP) == key), None)

    def named(self, entity: str | None) -> Any:
        """The group a fact's entity name stands for, or None."""
        return next((g for g in self.groups if g.name == entity), None)

    def key(self) -> tuple[tuple[Any, ...], ...]:
        """What the picture shows besides the background: the sorted groups. A world's train and test
        splits never share a key."""
        return tuple(sorted(dataclasses.astuple(g) for g in self.groups))
