"""Question-answering judges: something that answers yes/no questions about an image.

``BUILTIN`` maps a spec kind to a judge class with ``from_spec(arg, options)`` (registry
``longbench.registry.JUDGES``); every kind takes the same options, :class:`~longbench.judges.base.JudgeOptions`:

* ``synth`` — the exact judge of the synthetic world (answers from the exact scene reader);
* ``python:MODULE:FN`` — a Python callable;
* ``transformers:ID|DIR`` — a local transformers VLM: BLIP question answering, or a chat VLM through
  ``AutoModelForImageTextToText`` and its chat template (a bare HF id or directory means the same).

Plugins register more kinds through the ``longbench.judges`` entry-point group. See ``longbench.judges.base``.
"""

BUILTIN = {
    "synth": "longbench.judges.synth:SynthJudge",
    "python": "longbench.judges.python:PythonJudge",
    "transformers": "longbench.judges.transformers:TransformersJudge",
}
