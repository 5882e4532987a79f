"""The `srgan` command line: parse arguments, call one function per command, print.

Every `SrganError` becomes a one-line message on stderr and its exit code; no tracebacks
(set SRGAN_DEBUG=1 to see one). Streams: a stdout or stderr closed before the start
(`srgan models >&-`) is replaced by /dev/null and the command runs as usual; a stdout whose
reader goes away (`--json | head -c1`) stops the run quietly with exit 141 (128 + SIGPIPE, as a
shell reports a pipe writer killed by SIGPIPE), never counted as an image failure."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

from srgan_cli import options
from srgan_cli.cli import help_format
from srgan_cli.cli.console import QUIET_OPTION, reset_quiet, stderr_console
from srgan_cli.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    SrganError,
    StreamClosed,
    internal_error_line,
    is_closed_stdout,
)
from srgan_cli.messages import options_as_flags
from srgan_cli.version import __version__

help_format.install()

app = typer.Typer(
    name="srgan",
    help="Single-image super-resolution with SRResNet / SRGAN: upscale, evaluate, train.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich" if sys.stdout is not None and sys.stdout.isatty() else None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

def _version(value: bool) -> None:
    if value:
        print(f"srgan-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the version."
    ),
    quiet: bool = QUIET_OPTION,
) -> None:
    """Single-image super-resolution with SRResNet / SRGAN: upscale, evaluate, train."""


def _register() -> None:
    from srgan_cli.cli.commands import register_all

    register_all(app)


def open_closed_streams() -> None:
    """Put /dev/null on fds 0-2 where they are closed, so no file this run opens gets them,
    and give Python's sys.stdin/stdout/stderr objects for them."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, mode, closefd=False))
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, closefd=False))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):
        sys.stdout = open(os.devnull, "w")


def _broken_pipe() -> None:
    _silence_stdout()
    sys.exit(EXIT_BROKEN_PIPE)


def _error(text: str) -> None:
    """One line on stderr; nothing when stderr itself is gone."""
    try:
        stderr_console().print(text, markup=False, highlight=False)
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `srgan` console script; exits with a stable code. Messages name
    options by their flags while it runs (`messages.options_as_flags`); the setting is put back
    after it (tests run the command line in-process, then call engines directly)."""
    as_flags = options_as_flags(True)
    try:
        _main(argv)
    finally:
        options_as_flags(as_flags)


def _main(argv: list[str] | None) -> None:
    open_closed_streams()
    reset_quiet()
    try:
        _run(argv)
        sys.stdout.flush()  # a broken pipe shows here, not at interpreter exit
    except SystemExit as e:
        try:
            sys.stdout.flush()
        except OSError:
            _broken_pipe()
        raise e from None
    except OSError as e:
        if not is_closed_stdout(e):
            raise
        _broken_pipe()


def _run(argv: list[str] | None) -> None:
    """Run the command; every outcome is a SystemExit (or a pipe error for `main`)."""
    debug = options.debug()
    try:
        _register()
        rv = app(args=argv, standalone_mode=False)
        if isinstance(rv, int) and rv != 0:  # typer.Exit(n) is returned, not raised, here
            if rv == EXIT_INTERRUPTED:  # typer turns Ctrl-C into a silent Exit(130): say it
                _error("interrupted")
            sys.exit(rv)
    except SrganError as e:
        _error(f"error: {e}")
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _error("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except StreamClosed:
        _broken_pipe()
    except SystemExit:  # passes through typer and here untouched: how a command that has said
        raise  # why it stopped (train: where its checkpoint is) exits 130 without 'interrupted'
    except typer.Abort:
        _error("aborted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:  # click usage errors and anything unexpected: one line, no traceback
        if is_closed_stdout(e):
            raise
        if isinstance(e, _click_exception()):
            usage: Any = e  # a ClickException: it prints itself
            try:
                usage.show()
            except (OSError, ValueError):
                pass
            sys.exit(usage.exit_code)
        if debug:
            raise
        _error(f"{internal_error_line(e)} (set SRGAN_DEBUG=1 for a traceback)")
        sys.exit(EXIT_INTERNAL)


def _click_exception() -> type[Exception]:
    """Click's exception base: vendored by newer typer, the click package for older ones."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # typer < 0.22 uses click itself
        from click.exceptions import ClickException  # type: ignore[no-redef]
    return ClickException
