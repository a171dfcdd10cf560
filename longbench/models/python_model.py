"""``python:<module>:<callable>`` — a Python function makes the images.

The callable is called as ``fn(prompts: list[str], seeds: list[int], **model_args)`` and returns one
image per prompt (PIL image, HWC numpy array, or CHW tensor in [0, 1]). ``--model-arg`` values are
passed through as strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError, Terminated, describe_exception
from longbench.images import to_rgb
from longbench.models.base import Model, Request
from longbench.registry import import_string

if TYPE_CHECKING:
    from PIL import Image


class PythonModel(Model):
    kind = "python"
    Options = None  # free-form: the user's function decides what it accepts

    def __init__(self, arg: str, args: dict[str, Any] | None = None):
        super().__init__(arg, args)
        if arg.count(":") != 1:
            raise LongbenchError(f"python:{arg}: expected python:MODULE:CALLABLE")
        try:
            self.fn = import_string(arg)
        except (LongbenchError, Terminated):
            raise
        except (Exception, SystemExit) as e:  # their module failed (or called sys.exit) while importing: not a gate
            raise LongbenchError(f"python:{arg}: importing the module raised {describe_exception(e)}") from e
        if not callable(self.fn):
            raise LongbenchError(f"python:{arg} is not callable")

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        try:
            out = list(self.fn([r.prompt for r in requests], [r.seed for r in requests], **self.args))
        except (LongbenchError, Terminated):
            raise
        except (Exception, SystemExit) as e:  # the user's function failed (sys.exit(1) too: it is not a failed gate)
            raise LongbenchError(f"python:{self.arg} raised {describe_exception(e)}") from e
        if len(out) != len(requests):
            raise LongbenchError(f"python:{self.arg} returned {len(out)} images for {len(requests)} prompts")
        return [to_rgb(im, f"python:{self.arg} image {i}") for i, im in enumerate(out)]
