"""``cmd:<template>`` — an external program makes each image.

The template is split like a shell command line (no shell is involved) and these placeholders are
substituted in each argument: ``{prompt}``, ``{prompt_file}`` (a UTF-8 file holding the prompt),
``{seed}``, ``{id}`` and ``{out}`` (the PNG path the program must write). Example::

    --model 'cmd:python gen.py --prompt-file {prompt_file} --seed {seed} --out {out}'
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.models.base import Model, Request, to_rgb

if TYPE_CHECKING:
    from PIL import Image

PLACEHOLDERS = ("{prompt}", "{prompt_file}", "{seed}", "{id}", "{out}")


class CommandModel(Model):
    kind = "cmd"
    arg_types = {"timeout": float}

    def __init__(self, arg: str, args: dict[str, Any] | None = None):
        super().__init__(arg, args)
        try:
            self.argv = shlex.split(arg)
        except ValueError as e:
            raise LongbenchError(f"cmd: cannot parse the command template ({e})") from None
        if not self.argv:
            raise LongbenchError("cmd: empty command template")
        if not any("{out}" in a for a in self.argv):
            raise LongbenchError("cmd: the template must contain {out}, the image path the command writes")

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        from PIL import Image

        images = []
        timeout = self.args.get("timeout", 600.0)
        with tempfile.TemporaryDirectory(prefix="longbench-cmd-") as tmp:
            for r in requests:
                out = Path(tmp) / f"{r.item_id}.png"
                prompt_file = Path(tmp) / f"{r.item_id}.txt"
                prompt_file.write_text(r.prompt, encoding="utf-8")
                values = {"{prompt}": r.prompt, "{prompt_file}": str(prompt_file), "{seed}": str(r.seed),
                          "{id}": r.item_id, "{out}": str(out)}
                argv = []
                for a in self.argv:
                    for k, v in values.items():
                        a = a.replace(k, v)
                    argv.append(a)
                try:
                    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
                except FileNotFoundError:
                    raise LongbenchError(f"cmd: program {argv[0]!r} not found") from None
                except PermissionError:
                    raise LongbenchError(f"cmd: program {argv[0]!r} is not executable") from None
                except ValueError as e:  # e.g. a NUL character in a substituted argument
                    raise LongbenchError(f"cmd: cannot run the command for item {r.item_id!r}: {e}") from None
                except subprocess.TimeoutExpired:
                    raise LongbenchError(f"cmd: timed out after {timeout:g}s on item {r.item_id!r}") from None
                if proc.returncode != 0:
                    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
                    raise LongbenchError(
                        f"cmd: exited with {proc.returncode} on item {r.item_id!r}: {tail[0][:300]}")
                if not out.is_file():
                    raise LongbenchError(f"cmd: command succeeded but wrote no image to {{out}} for item {r.item_id!r}")
                try:
                    with Image.open(out) as im:
                        im.load()  # read now: the temporary directory goes away
                        images.append(to_rgb(im, f"cmd output for {r.item_id}"))
                except OSError as e:
                    raise LongbenchError(f"cmd: output for item {r.item_id!r} is not an image ({e})") from None
        return images
