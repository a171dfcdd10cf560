"""The miniature world (``mini``): a sibling of ``synth`` small enough to train models in.

Scenes of two or three groups of 7-pixel shapes in the quadrants of a 32×32 image (``world``,
``sampler``), a grammar that writes long prompts and records the character span of every fact
(``grammar``), a pixel-exact renderer and reader (``render``, ``read``), what the ``mini:`` models draw
(``views``), the ``mini`` metric (``metric``) and the ``mini-v0`` test suite plus a seeded train generator
(``suite``), short complete captions (``captions``) and the compact CLIP tokenizer of
the world's words (``tokenizer``). What it shares with ``synth`` (per-fact visibility through CLIP's 77-token window, the views,
metric, model adapter and sentence plan) is the generic layer ``longbench.worlds``, parameterised here.
Submodules import numpy/PIL/torch lazily or only when used; importing this package is cheap.
"""
