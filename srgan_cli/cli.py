"""The `srgan` command line: parse arguments, call one function per command, print.

Every `SrganError` becomes a one-line message on stderr and its exit code; no tracebacks
(set SRGAN_DEBUG=1 to see one)."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

from srgan_cli import __version__
from srgan_cli.console import stderr_console
from srgan_cli.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, SrganError, internal_error_line

app = typer.Typer(
    name="srgan",
    help="Single-image super-resolution with SRResNet / SRGAN: upscale, evaluate, train.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich" if sys.stdout.isatty() else None,
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
) -> None:
    """Single-image super-resolution with SRResNet / SRGAN: upscale, evaluate, train."""


def _register() -> None:
    from srgan_cli.commands import register_all

    register_all(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `srgan` console script; exits with a stable code."""
    debug = os.environ.get("SRGAN_DEBUG") == "1"
    try:
        _register()
        rv = app(args=argv, standalone_mode=False)
        if isinstance(rv, int) and rv != 0:  # typer.Exit(n) is returned, not raised, here
            if rv == EXIT_INTERRUPTED:  # typer turns Ctrl-C into a silent Exit(130)
                stderr_console().print("interrupted", markup=False)
            sys.exit(rv)
    except SrganError as e:
        stderr_console().print(f"error: {e}", markup=False, highlight=False)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        stderr_console().print("interrupted", markup=False)
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except SystemExit:
        raise
    except typer.Abort:
        stderr_console().print("aborted", markup=False)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as e:  # click usage errors and anything unexpected: one line, no traceback
        if isinstance(e, _click_exception()):
            usage: Any = e  # a ClickException: it prints itself
            usage.show()
            sys.exit(usage.exit_code)
        if debug:
            raise
        stderr_console().print(
            f"{internal_error_line(e)} (set SRGAN_DEBUG=1 for a traceback)", markup=False
        )
        sys.exit(EXIT_INTERNAL)


def _click_exception() -> type[Exception]:
    """Click's exception base: vendored by newer typer, the click package for older ones."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # typer < 0.22 uses click itself
        from click.exceptions import ClickException  # type: ignore[import-not-found,no-redef]
    return ClickException
