"""What a miniature model draws for an item: the full scene, the part a truncating text encoder can
read, or a scene with K facts broken — the miniature world's binding of the generic rules
(``longbench.worlds.world.World``; token positions: ``longbench.worlds.tokens``).

* ``known_scene`` (``mini:clip77``): facts whose every token lies inside the window are known (from the
  positions the item stores, ``meta.fact_last_tokens``); a group whose shape noun lies beyond is omitted;
  an unknown colour is guessed from the object colours, then an unknown count from 1-4, an unknown
  quadrant from the free ones; an unstated background is white.
* ``corrupt_scene`` (``mini:corrupt-K``): K facts broken in a seed-shuffled order (presence → group
  dropped, count → another count, attribute → another colour, spatial → a free quadrant; a scene has at
  most 3 groups, so one is always free), nested in K.
"""

from __future__ import annotations

from longbench.mini.world import MINI
from longbench.worlds.tokens import fact_last_tokens

__all__ = ["check_facts", "corrupt_scene", "fact_last_tokens", "item_scene", "known_scene", "scene_holds"]

#: The scene of a miniature item (``item.meta["mini_scene"]``); a clear error for any other item.
item_scene = MINI.item_scene
#: Every fact must name a group of the scene and state what the scene shows.
check_facts = MINI.check_facts
known_scene = MINI.known_scene
corrupt_scene = MINI.corrupt_scene
#: Whether a fact holds in a scene (e.g. a corrupted one).
scene_holds = MINI.scene_holds
