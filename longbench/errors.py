"""Exception types. Every user-facing failure is a LongbenchError with a one-line message."""


class LongbenchError(Exception):
    """Bad input or configuration; the CLI prints the message on one line and exits 2."""


class UnknownNameError(LongbenchError, KeyError):
    """A registry name that does not exist (message carries 'did you mean' suggestions)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class MissingWeightsError(LongbenchError):
    """Model weights that cannot be found offline."""


class Terminated(SystemExit):
    """SIGTERM reached the command line (exit 143): raised by its signal handler so that ``finally`` blocks run.
    Code that turns a user callable's ``SystemExit`` into an error must let this one through."""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type name when empty), for one-line errors that wrap it."""
    return str(e).splitlines()[0] if str(e).strip() else type(e).__name__


def describe_exception(e: BaseException, limit: int = 300) -> str:
    """``Type: message`` of an exception on one line (at most ``limit`` characters of message), for the error
    that wraps a failure of user code (a ``python:`` model or judge); the CLI shows the traceback with --debug."""
    msg = " ".join(str(e).split())
    return f"{type(e).__name__}: {msg[:limit]}" if msg else type(e).__name__
