"""Checking an item's facts against what the detector read from an image (one definition, shared by
the ``synth`` metric and anything that rewards synthetic images)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from longbench.suites.base import Fact
from longbench.synth.world import Scene

if TYPE_CHECKING:
    from longbench.synth.detect import Detection


def fact_holds(fact: Fact, scene: Scene, detection: Detection) -> bool:
    """Whether ``fact`` (about a group of ``scene``) holds in ``detection``.

    With ``objs`` the detected objects of the group's colour and shape, anywhere in the image:
    presence — at least one; count — exactly ``value`` of them; attribute (binding) — at least one and
    all have the stated size, so colour, shape and size are bound together; spatial — at least one and
    all lie in the stated region.
    """
    g = scene.group(fact.entity)
    if g is None:
        return False
    objs = detection.entity(g.colour, g.shape)
    if fact.type == "presence":
        return bool(objs)
    if fact.type == "count":
        return len(objs) == fact.value
    if fact.type == "attribute":
        return bool(objs) and all(o.size == fact.value for o in objs)
    if fact.type == "spatial":
        return bool(objs) and all(o.region == fact.value for o in objs)
    return False
