"""Shared click plumbing for the ``longbench`` command groups (light: click only).

The one error mapping of the command line. Every group and command of ``longbench`` (the top level,
``suites``, ``leaderboard``, ``train``) uses these classes, so an exception means the same exit code
and the same ``error: ...`` line wherever it is raised:

====  ==========================================================================================
0     ok
1     a gate failed (``--fail-under``, ``--max-regression``, ``leaderboard compare``) — nothing else
2     bad usage or bad input: a ``LongbenchError``, a click usage error, or an ``OSError`` on a path
      (missing, read-only, permission denied); one line naming the flag, file, line or path
3     an internal error (a bug): ``error: internal error (...)``; the traceback with ``--debug``
130   interrupted (Ctrl-C)
143   terminated (SIGTERM: a cancelled CI job, ``timeout``); ``finally`` blocks ran (a ``cmd:`` model's process
      group killed, temporary files removed)
141   the reader of the output went away (``| head``: a broken pipe, as 128 + SIGPIPE); nothing printed
====  ==========================================================================================
"""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, Any

import click

from longbench.errors import LongbenchError, Terminated

if TYPE_CHECKING:
    from longbench.registry import Entry, Registry

EXIT_GATE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_BROKEN_PIPE = 141


def one_line(text: str) -> str:
    """``text`` on one line (messages of foreign exceptions may span several)."""
    return " ".join(text.split())


def describe_os_error(e: OSError) -> str:
    """``PATH: reason`` of an OSError (both paths of a failed rename)."""
    reason = e.strerror or one_line(str(e)) or type(e).__name__
    if e.filename is None:
        return reason
    where = str(e.filename) + (f" -> {e.filename2}" if e.filename2 is not None else "")
    return f"{where}: {reason}"


def classify(e: BaseException, debug: bool = False) -> tuple[int, str]:
    """The exit code and the one-line message (without ``error: ``) for an exception that escaped a command."""
    if isinstance(e, LongbenchError):
        msg = str(e)
        return EXIT_BAD_INPUT, one_line(msg) if "\n" in msg or "\r" in msg else msg
    if isinstance(e, OSError):  # the environment or a user-given path, not a bug: name the path
        return EXIT_BAD_INPUT, describe_os_error(e)
    detail = one_line(str(e))
    detail = f"{type(e).__name__}: {detail}" if detail else type(e).__name__
    hint = "" if debug else " (run with --debug for the traceback)"
    return EXIT_INTERNAL, f"internal error ({detail[:300]}); this is a bug in longbench{hint}"


def debug_enabled(ctx: click.Context | None) -> bool:
    """Whether the top-level ``--debug`` flag was given."""
    return bool(ctx is not None and ctx.find_root().params.get("debug"))


def report(e: BaseException, ctx: click.Context | None) -> int:
    """Print the one-line ``error: ...`` of ``e`` (after its traceback with ``--debug``); the exit code."""
    debug = debug_enabled(ctx)
    code, message = classify(e, debug)
    if debug:
        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
    click.echo(f"error: {message}", err=True)
    return code


def show_click_error(e: click.ClickException) -> None:
    """click's own errors in our style: the usage line and hint as click prints them, then ``error: ...``."""
    if isinstance(e, click.UsageError) and e.ctx is not None:
        hint = ""
        if e.ctx.command.get_help_option(e.ctx) is not None:
            names = e.ctx.command.get_help_option_names(e.ctx)
            hint = f"Try '{e.ctx.command_path} {max(names, key=len)}' for help.\n"
        click.echo(f"{e.ctx.get_usage()}\n{hint}", err=True, color=e.ctx.color)
    click.echo(f"error: {one_line(e.format_message())}", err=True)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail on the closed pipe again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (e.g. captured in tests)
        pass


def _unwind_on_sigterm() -> Any:
    """Make SIGTERM end the command through Python's normal unwinding (``Terminated``, a ``SystemExit(143)``)
    instead of killing the interpreter on the spot, so ``finally`` blocks run: a ``cmd:`` model's process group
    (its own session, which a signal to ours does not reach) is killed instead of orphaned, temporary files
    are removed.

    Returns the previous handler to restore, or None when nothing was installed (not the main thread, or a
    handler other than the default is already set, e.g. by a launcher).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return None

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        raise Terminated(EXIT_TERMINATED)

    return signal.signal(signal.SIGTERM, handler)


class ErrorMapping:
    """Mixin for click commands and groups: exceptions → exit code and one ``error:`` line (module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise  # click's own control flow and usage errors (shown by ``main``)
        except BrokenPipeError:  # the reader went away (`| head`): not an error of ours, and not a gate
            _silence_stdout()
            ctx.exit(EXIT_BROKEN_PIPE)
        except SystemExit as e:
            # rich answers a broken pipe with SystemExit(1), which would read as a failed gate
            if isinstance(e.__context__, BrokenPipeError):
                _silence_stdout()
                ctx.exit(EXIT_BROKEN_PIPE)
            raise
        except Exception as e:  # noqa: BLE001 - this is the one place that maps every error
            ctx.exit(report(e, ctx))

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)  # type: ignore[misc]
        previous = _unwind_on_sigterm()
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)  # type: ignore[misc]
        except click.ClickException as e:
            show_click_error(e)
            sys.exit(e.exit_code)
        except click.Abort:  # Ctrl-C (click turns KeyboardInterrupt into Abort)
            click.echo("Aborted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        finally:
            if previous is not None:
                import signal

                signal.signal(signal.SIGTERM, previous)
        # Without standalone mode click returns the code given to ctx.exit, or the command's return value
        # (None for every longbench command).
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)


class ErrorExitGroup(ErrorMapping, click.Group):
    """A click group with the shared error mapping (module docstring); also right for a group run on its
    own (``python -m longalign.commands`` under ``accelerate launch``)."""


def describe(registry: Registry, name: str) -> tuple[Entry | None, Any]:
    """What a ``list`` command shows for ``name``: ``(declaration, None)`` without importing anything, or, for
    an entry that declares nothing (an undeclared plugin, an object registered in-process), ``(None, object)``
    with the object imported. Raises LongbenchError when that import fails."""
    declared = registry.declaration(name)  # a plugin's entry point may name an Entry
    return (declared, None) if declared is not None else (None, registry.get(name))


class RegistryChoice(click.Choice):
    """A ``click.Choice`` among the names of a registry (built-ins and plugins), read when click first needs
    them, so defining a command neither resolves the registry nor scans entry points."""

    def __init__(self, registry: Registry, case_sensitive: bool = True):
        self.registry = registry
        super().__init__((), case_sensitive)

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        return tuple(self.registry.names())

    @choices.setter
    def choices(self, value: Any) -> None:
        """``click.Choice.__init__`` assigns the choices; they come from the registry instead."""


def option_flags(options: type) -> Any:
    """A decorator adding one click option per field of the options dataclass ``options`` (``--id-field`` for
    ``id_field``, ``--x/--no-x`` for a boolean), with the field's help: the dataclass stays the one declaration.
    The command receives the fields as keyword arguments (build the dataclass with ``options(**kwargs)``)."""
    import dataclasses
    import typing

    from longbench.options import dataclass_fields

    def click_type(typ: Any) -> Any:
        args = [t for t in typing.get_args(typ) if t is not type(None)]
        if typing.get_origin(typ) is typing.Literal:
            return click.Choice([str(a) for a in args])
        return click_type(args[0]) if len(args) == 1 else typ  # ``X | None`` → X

    types = dataclass_fields(options)

    def decorate(fn: Any) -> Any:
        for f in reversed(dataclasses.fields(options)):  # click shows options in decoration order, inner first
            flag, text = "--" + f.name.replace("_", "-"), f.metadata.get("help", "")
            text = text[:1].upper() + text[1:] + "."
            if types[f.name] is bool:
                fn = click.option(f"{flag}/--no-{flag[2:]}", f.name, default=f.default, show_default=True,
                                  help=text)(fn)
            else:
                fn = click.option(flag, f.name, type=click_type(types[f.name]), default=f.default,
                                  show_default=f.default is not None, help=text)(fn)
        return fn

    return decorate


def echo_options(options: type | None, header: str, indent: int) -> None:
    """What the ``list`` commands show of an options dataclass: ``header``, then ``name (type, default X): help``
    per option (nothing when there are none)."""
    from longbench.options import describe_options

    infos = [] if options is None else describe_options(options)
    if infos:
        click.echo(f"{'':{indent}s} {header}")
    for info in infos:
        click.echo(f"{'':{indent + 2}s} {info.line()}")


def first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0]


class RichProgress:
    """The command line's progress bars, drawn with rich on stderr (nothing when disabled): the runner's
    hooks (``start`` / ``advance`` / ``finish``, see ``longbench.runner.Progress``) and the trainer's step
    bar (``start`` at the resumed step, ``update`` with the latest logged values)."""

    def __init__(self, enabled: bool):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                 console=Console(stderr=True), disable=not enabled, transient=False)

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start(self, description: str, total: int, completed: int = 0) -> Any:
        return self.progress.add_task(description, total=total, completed=completed, info="")

    def advance(self, task: Any, n: int = 1) -> None:
        self.progress.advance(task, n)

    def update(self, task: Any, completed: int, info: str = "") -> None:
        self.progress.update(task, completed=completed, info=info)

    def finish(self, task: Any) -> None:
        self.progress.update(task, completed=self.progress.tasks[task].total)
