"""Model adapters. ``BUILTIN`` maps spec kinds to lazy adapter classes.

Each entry declares what ``longbench models list`` shows (a summary and the accepted ``--model-arg`` keys),
so listing imports no adapter; ``tests/test_cli_listing.py`` checks every declaration against its class.
"""

from longbench.registry import Entry

BUILTIN = {
    "diffusers": Entry(
        "longbench.models.diffusers_model:DiffusersModel", "diffusers:ID|DIR - any diffusers pipeline, loaded "
        "offline (HF id, cache or local directory)",
        options=("device", "dtype", "guidance", "height", "long_prompt", "negative_prompt", "safety_checker",
                 "scheduler", "splitter", "steps", "token_length", "width")),
    "images": Entry(
        "longbench.models.images:ImagesModel", "images:DIR - score images made elsewhere, DIR/<item id>.png|jpg|..."),
    "cmd": Entry(
        "longbench.models.command:CommandModel", "cmd:TEMPLATE - an external program writes each image "
        "({prompt}, {prompt_file}, {seed}, {id}, {out})", options=("timeout",)),
    "python": Entry(
        "longbench.models.python_model:PythonModel", "python:MODULE:FN - fn(prompts, seeds, **model_args) returns "
        "images; every --model-arg is passed through"),
    "synth": Entry(
        "longbench.models.synth:SynthModel", "synth:NAME - the synthetic world's renderers (oracle, clip<N> "
        "such as clip77, corrupt-<K>)", options=("size",)),
    "mini": Entry(
        "longbench.models.mini:MiniModel", "mini:NAME - the miniature world's 32x32 renderers (oracle, clip<N> "
        "such as clip77, corrupt-<K>)", options=("scale",)),
    "longsd": Entry(
        "longbench.models.longsd:LongSDModel", "longsd:DIR - a longSD checkpoint (longbench train, or the LongAlign "
        "release) on its base pipeline",
        options=("align", "base", "device", "dtype", "fuse", "guidance", "height", "merge", "negative_prompt",
                 "scheduler", "steps", "t5", "width")),
}
