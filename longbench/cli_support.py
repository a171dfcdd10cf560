"""Shared click plumbing for the ``longbench`` command groups (light: click only)."""

from __future__ import annotations

from typing import Any

import click

from longbench.errors import LongbenchError

EXIT_GATE = 1
EXIT_BAD_INPUT = 2


class ErrorExitGroup(click.Group):
    """A click group that turns LongbenchError into a one-line ``error:`` message and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LongbenchError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
