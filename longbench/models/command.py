"""``cmd:<template>`` — an external program makes each image.

The template is split like a shell command line (no shell is involved) and these placeholders are
substituted in each argument: ``{prompt}``, ``{prompt_file}`` (a UTF-8 file holding the prompt),
``{seed}``, ``{id}`` and ``{out}`` (the PNG path the program must write). Example::

    --model 'cmd:python gen.py --prompt-file {prompt_file} --seed {seed} --out {out}'
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbench.errors import LongbenchError
from longbench.images import open_image
from longbench.models.base import Model, Request
from longbench.models.options import CommandOptions

if TYPE_CHECKING:
    from PIL import Image

PLACEHOLDERS = ("{prompt}", "{prompt_file}", "{seed}", "{id}", "{out}")
DEFAULT_TIMEOUT_S = CommandOptions.timeout


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the command's whole process group (its children and grandchildren too), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone
    proc.wait()


def _tail(path: Path, limit: int = 1 << 16) -> str:
    """The last ``limit`` bytes of a captured stream, decoded with undecodable bytes replaced."""
    with open(path, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
        return f.read().decode("utf-8", "replace")


def run_command(argv: list[str], timeout: float, item_id: str, log_dir: Path) -> tuple[int, str, str]:
    """Run one command in its own session and process group; return (exit code, stdout, stderr).

    The streams go to files in ``log_dir`` (not pipes: a background child keeping a pipe open cannot
    stall us) and are decoded as UTF-8 with undecodable bytes replaced: they only serve error
    messages, so a program printing other bytes never fails an item. On timeout, on an error, and
    once the command has exited, the whole group is killed, so nothing it started outlives it
    (``sh -c 'sleep 600'``).
    """
    out_path, err_path = log_dir / f"{item_id}.stdout", log_dir / f"{item_id}.stderr"
    proc = None
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        try:
            try:
                with _signals_held():
                    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                            start_new_session=True)
            except FileNotFoundError:
                raise LongbenchError(f"cmd: program {argv[0]!r} not found") from None
            except PermissionError:
                raise LongbenchError(f"cmd: program {argv[0]!r} is not executable") from None
            except (ValueError, OSError) as e:  # e.g. a NUL character in a substituted argument
                raise LongbenchError(f"cmd: cannot run the command for item {item_id!r}: {e}") from None
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LongbenchError(f"cmd: timed out after {timeout:g}s on item {item_id!r}") from None
        finally:
            if proc is not None:
                _kill_group(proc)  # also children left running in the background, on timeout and on Ctrl-C
    return proc.returncode, _tail(out_path), _tail(err_path)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGTERM and SIGINT while a command starts. Raised inside ``Popen`` after the fork (a loaded machine
    makes that window wide), they would leave the child running with nothing to kill it; held, they are
    delivered once ``proc`` is bound, and unwind through the ``finally`` that kills its group. Only the main
    thread can swap handlers; elsewhere nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    held = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.getsignal(s) for s in held}

    def hold(signum: int, frame: Any) -> None:
        pending.append(signum)

    for s in held:
        signal.signal(s, hold)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        for s in dict.fromkeys(pending):
            signal.raise_signal(s)


class CommandModel(Model):
    kind = "cmd"
    Options = CommandOptions

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
        timeout = self.options.timeout
        if not (math.isfinite(timeout) and timeout > 0):
            raise LongbenchError(f"--model-arg timeout={timeout!r}: must be a positive, finite number of seconds")
        self.timeout = float(timeout)

    def generate(self, requests: Sequence[Request]) -> list[Image.Image]:
        images = []
        timeout = self.timeout
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
                returncode, stdout, stderr = run_command(argv, timeout, r.item_id, Path(tmp))
                if returncode != 0:
                    tail = (stderr or stdout).strip().splitlines()[-1:] or [""]
                    raise LongbenchError(
                        f"cmd: exited with {returncode} on item {r.item_id!r}: {tail[0][:300]}")
                if not out.is_file():
                    raise LongbenchError(f"cmd: command succeeded but wrote no image to {{out}} for item {r.item_id!r}")
                # read completely now: the temporary directory goes away
                images.append(open_image(out, f"cmd: output of item {r.item_id!r}"))
        return images
