"""Short complete captions of miniature scenes: every fact in one compact wording, well inside 77 tokens.

``"three red circles in the top left corner. one blue square in the bottom right corner. gray background."``
— groups in scene order, each with its count word, colour, shape noun (singular for one) and quadrant (none
in a ``homes`` scene, where the shape fixes it: ``"three red squares. gray background."``).
The base generator of the miniature reproduction learns to draw scenes from these before ``align``
teaches it the long prompts (docs/mini.md). At most 3 groups of ≤ 9 tokens plus the background: under 32
content tokens, so a 77-token encoder reads every fact.
"""

from __future__ import annotations

from longbench.mini.grammar import SHAPE_WORDS
from longbench.mini.world import Scene

_COUNT = {1: "one", 2: "two", 3: "three", 4: "four"}


def short_caption(scene: Scene) -> str:
    """The short complete caption of ``scene`` (module docstring)."""
    parts = []
    for g in scene.groups:
        noun = SHAPE_WORDS[g.shape][0 if g.count == 1 else 1]
        place = "" if scene.layout == "homes" else f" in the {g.region.replace('-', ' ')} corner"
        parts.append(f"{_COUNT[g.count]} {g.colour} {noun}{place}.")
    parts.append(f"{scene.background} background.")
    return " ".join(parts)
