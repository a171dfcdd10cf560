"""The generic layer of the scene worlds (``synth``, ``mini``): what both share, parameterised by each.

A *scene world* is a background plus groups of identical objects, long prompts whose sentences state
facts about the groups with exact character spans, an exact renderer and reader, the ``<world>:``
models (oracle, clip<N>, corrupt-K) and a fact-checking metric. This package holds the parts that do not
depend on a world's vocabulary or pixels:

* ``tokens`` — where a fact sits in CLIP's token sequence (character spans → content-token index) and
  whether a ``window``-position encoder reads it;
* ``scene`` — the scene/group data model (JSON form, validation, canonical order);
* ``world`` — ``World``, what a world declares (its scene type, how facts map to group fields), and what
  is done with it: a scene from an item, checking facts against it or against what a reader saw, and
  the scenes the ``clip<N>`` / ``corrupt-K`` models draw;
* ``grammar`` — the sentence plan (introductions, pairs, detail sentences) and the realiser base;
* ``suite`` — seeded drafts (scene, prompt) of items and built-in split specs;
* ``metric`` — the per-fact metric (fact recall, count, binding, position; per sentence);
* ``model`` — the ``<world>:<name>`` model adapter.

``longbench.synth`` and ``longbench.mini`` supply vocabulary, grammar wording, renderer and reader.
Pure Python except ``metric`` and ``model`` (torch / the adapter base); importing the package is cheap.
"""
