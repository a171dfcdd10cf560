"""The synthetic long-text world (DESIGN §6).

Scenes of coloured shapes on a 3×3 grid (``world``, ``sampler``), a grammar that writes long prompts
whose sentences carry known facts (``grammar``), an exact renderer and detector (``render``,
``detect``), what each synthetic model draws (``views``), fact checking (``check``), the ``synth``
metric (``metric``) and the ``synth-v0`` suite (``suite``). The parts shared with the miniature world
(per-fact visibility, views, metric, model adapter, sentence plan) live in ``longbench.worlds``, which
this package parameterises. Submodules import numpy/PIL/torch lazily or only when used; importing this
package is cheap.
"""
