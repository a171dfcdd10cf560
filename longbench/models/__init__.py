"""Model adapters. ``BUILTIN`` maps spec kinds to lazy adapter classes."""

BUILTIN = {
    "diffusers": "longbench.models.diffusers_model:DiffusersModel",
    "images": "longbench.models.images:ImagesModel",
    "cmd": "longbench.models.command:CommandModel",
    "python": "longbench.models.python_model:PythonModel",
    "synth": "longbench.models.synth:SynthModel",
    "longsd": "longbench.models.longsd:LongSDModel",
}
