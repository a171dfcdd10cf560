"""Model adapters. ``BUILTIN`` maps spec kinds to lazy adapter classes.

Each entry declares what ``longbench models list`` shows (a summary and the ``--model-arg`` options
dataclass of :mod:`longbench.models.options`), so listing imports no adapter; ``tests/test_cli_listing.py``
checks every declaration against its class.

``BUILTIN_LONG_PROMPT_STRATEGIES``: how a ``diffusers:`` pipeline receives prompts longer than its text
encoder reads (``--model-arg long_prompt=NAME``; registry ``LONG_PROMPT_STRATEGIES``, entry-point group
``longbench.long_prompt_strategies``). A strategy is a callable ``(pipe, prompts, options) -> pipeline
keyword arguments`` (``options``: the given ``token_length`` / ``splitter`` / ``negative_prompt``).
"""

from longbench.models import options as O
from longbench.registry import Entry

BUILTIN = {
    "diffusers": Entry(
        "longbench.models.diffusers_model:DiffusersModel", "diffusers:ID|DIR - any diffusers pipeline, loaded "
        "offline (HF id, cache or local directory)",
        options=O.DiffusersOptions),
    "images": Entry(
        "longbench.models.images:ImagesModel", "images:DIR - score images made elsewhere, DIR/<item id>.png|jpg|..."),
    "cmd": Entry(
        "longbench.models.command:CommandModel", "cmd:TEMPLATE - an external program writes each image "
        "({prompt}, {prompt_file}, {seed}, {id}, {out})", options=O.CommandOptions),
    "python": Entry(
        "longbench.models.python_model:PythonModel", "python:MODULE:FN - fn(prompts, seeds, **model_args) returns "
        "images; every --model-arg is passed through"),
    "synth": Entry(
        "longbench.models.synth:SynthModel", "synth:NAME - the synthetic world's renderers (oracle, clip<N> "
        "such as clip77, corrupt-<K>, random)", options=O.SynthModelOptions),
    "mini": Entry(
        "longbench.models.mini:MiniModel", "mini:NAME - the miniature world: 32x32 scene renderers (oracle, clip<N> "
        "such as clip77, corrupt-<K>, random) and the trained zoo generators (sd, longsd, naive, reward-w0, "
        "reward-w03, reward-w1)", options=O.MiniModelOptions),
    "longsd": Entry(
        "longbench.models.longsd:LongSDModel", "longsd:DIR - a longSD checkpoint (longbench train, or the LongAlign "
        "release) on its base pipeline",
        options=O.LongSDOptions),
}

BUILTIN_LONG_PROMPT_STRATEGIES = {
    "truncate": "longbench.models.diffusers_model:truncate_prompts",
    "segment": "longbench.longsd.encoding:segment_prompt_embeds",
}
