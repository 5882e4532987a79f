"""Terminal output: rich on a terminal, plain (no colour, no progress bars) otherwise."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def _no_color() -> bool:
    return "NO_COLOR" in os.environ


def stdout_console() -> Console:
    """A console on stdout; colour and markup styles only when stdout is a terminal."""
    tty = sys.stdout.isatty()
    return Console(file=sys.stdout, force_terminal=tty, no_color=_no_color() or not tty,
                   highlight=False, soft_wrap=not tty)


def stderr_console() -> Console:
    """A console on stderr; colour only when stderr is a terminal."""
    tty = sys.stderr.isatty()
    return Console(file=sys.stderr, force_terminal=tty, no_color=_no_color() or not tty,
                   highlight=False, soft_wrap=True)


class _NullProgress:
    """Stands in for rich.Progress when there is no terminal: every call is a no-op."""

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None

    def advance(self, *args: Any, **kwargs: Any) -> None:
        return None

    def remove_task(self, *args: Any, **kwargs: Any) -> None:
        return None


@contextlib.contextmanager
def progress(enabled: bool | None = None, *extra_columns: Any) -> Iterator[Any]:
    """A rich progress display on a terminal (stderr), else a no-op object with the same API."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield _NullProgress()
        return
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        *extra_columns,
    ]
    with Progress(*columns, console=stderr_console(), transient=True) as bar:
        yield bar
