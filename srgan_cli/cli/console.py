"""Terminal output: rich on a terminal, plain (no colour, no progress bars) otherwise.

`-q/--quiet` (on the root command or any subcommand, `QUIET_OPTION`) sets one flag here that
turns progress displays and `say` lines off; errors are always printed."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from srgan_cli.errors import StreamClosed
from srgan_cli.messages import render
from srgan_cli.options import no_color

_quiet = False


def set_quiet(value: bool) -> bool:
    """Turn quiet mode on (-q); once on it stays on for the process. Returns `value`."""
    global _quiet
    _quiet = _quiet or bool(value)
    return value


def reset_quiet() -> None:
    """Quiet off: each `cli.main` call starts with it off (tests run several in one process)."""
    global _quiet
    _quiet = False


def is_quiet() -> bool:
    """Whether -q/--quiet was given (on the root command or the subcommand)."""
    return _quiet


QUIET_OPTION: Any = typer.Option(
    False, "--quiet", "-q", callback=set_quiet, help="Print nothing but errors and the data "
    "asked for (tables, --json).")


def say(text: str) -> None:
    """A status line on stdout ('wrote ...'), unless -q."""
    if not _quiet:
        stdout_console().print(text, markup=False)


def _no_color() -> bool:
    return no_color()


class _Console(Console):
    """rich's Console, except that a broken pipe raises StreamClosed (cli exits 141) instead of
    rich's SystemExit(1), and that text it prints has its option names shown as flags
    (`messages.render`: no NUL marker of an engine's text reaches the terminal)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(render(o, as_flags=True) if isinstance(o, str) else o for o in objects),
                      **kwargs)

    def on_broken_pipe(self) -> None:
        if self.quiet:
            return
        with contextlib.suppress(OSError, ValueError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self.file.fileno())  # the final flush cannot fail again
            os.close(null)
        raise StreamClosed("stdout's reader went away")


def stdout_console(*, status: bool = False) -> Console:
    """A console on stdout; colour and markup styles only when stdout is a terminal.
    `status`: for status lines ('wrote ...'), which -q silences."""
    tty = sys.stdout.isatty()
    return _Console(file=sys.stdout, force_terminal=tty, no_color=_no_color() or not tty,
                   highlight=False, soft_wrap=not tty, quiet=status and _quiet)


def stderr_console() -> Console:
    """A console on stderr; colour only when stderr is a terminal."""
    tty = sys.stderr.isatty()
    return _Console(file=sys.stderr, force_terminal=tty, no_color=_no_color() or not tty,
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
    enabled = enabled and not _quiet
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


class _Remaining(TimeRemainingColumn):
    """rich's remaining time, or the task's own `eta` field (seconds) when it gives one: a
    video's from its average rate since it started, which rich's recent-speed estimate is not
    while frames come in bursts."""

    def render(self, task: Any) -> Any:
        eta = task.fields.get("eta")
        if eta is None or task.finished:
            return super().render(task)
        from rich.text import Text

        minutes, seconds = divmod(int(eta + 0.5), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"{hours}:{minutes:02d}:{seconds:02d}", style="progress.remaining")


def live_progress() -> Progress:
    """The one live display of a batch on stderr (a terminal): description, bar, percent,
    elapsed and remaining time. It takes no stdout or stderr writes over: print above it with
    its `console`."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        _Remaining(),
        console=stderr_console(),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
