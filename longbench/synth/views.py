"""What a synthetic model draws for an item: the full scene, the part a truncating text encoder can
read, or a scene with K facts broken — the synthetic world's binding of the generic rules
(``longbench.worlds.world.World``; which tokens state a fact: ``longbench.worlds.tokens``).

* ``known_scene`` (``synth:clip77``): facts whose every token (the words naming the group and the words
  giving the value, located by ``meta.fact_spans``) lies inside the window are known; groups introduced
  later are omitted; an unknown count is guessed from 1-4, then an unknown size from small/large, an
  unknown region from the free ones; a background whose colour word lies beyond is drawn white.
* ``corrupt_scene`` (``synth:corrupt-K``): K facts broken in a seed-shuffled order (presence → group
  dropped, count → another count, attribute → the other size, spatial → a free region), nested in K.

Items without character spans (hand-written ones) fall back to a rule that is never more generous than
the truth: a fact counts as inside only when its whole sentence is.
"""

from __future__ import annotations

from longbench.synth.world import SYNTH
from longbench.worlds.tokens import background_last_token, fact_last_tokens, last_tokens

__all__ = ["background_last_token", "check_facts", "corrupt_scene", "fact_last_tokens", "item_scene",
           "known_scene", "last_tokens"]

#: The scene of a synthetic item (``item.meta["scene"]``); a clear error for any other item.
item_scene = SYNTH.item_scene
#: Every fact must name a group of the scene and carry a value of the synthetic world that it shows.
check_facts = SYNTH.check_facts
known_scene = SYNTH.known_scene
corrupt_scene = SYNTH.corrupt_scene
