"""Checking an item's facts against what the detector read from an image (one definition, shared by
the ``synth`` metric and anything that rewards synthetic images)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from longbench.suites.base import Fact
from longbench.synth.world import SYNTH, Scene

if TYPE_CHECKING:
    from longbench.synth.detect import Detection


def fact_holds(fact: Fact, scene: Scene, detection: Detection) -> bool:
    """Whether ``fact`` (about a group of ``scene``) holds in ``detection``.

    With ``objs`` the detected objects of the group's colour and shape, anywhere in the image:
    presence — at least one; count — exactly ``value`` of them; attribute (binding) — at least one and
    all have the stated size, so colour, shape and size are bound together; spatial — at least one and
    all lie in the stated region (``World.objects_hold``).
    """
    g = scene.group(fact.entity)
    return g is not None and SYNTH.objects_hold(fact, detection.entity(g.colour, g.shape))
