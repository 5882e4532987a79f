"""One module per subcommand; each exposes `register(app)`. Keep argument parsing here thin.

`register_all` also gives every subcommand that lacks it the shared `-q/--quiet` option
(`console.QUIET_OPTION`, which sets the process-wide quiet flag), and turns a write to a closed
stdout (`errors.is_closed_stdout`) into `StreamClosed`, which typer does not swallow (it would
exit 1)."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import typer

from srgan_cli.errors import StreamClosed, is_closed_stdout

# Order is the order in `srgan --help`.
COMMAND_MODULES = ("upscale", "eval", "train", "export", "models", "sample", "doctor")


def with_quiet(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with a `-q/--quiet` parameter added to what typer sees, unless it has one."""
    from srgan_cli.cli.console import QUIET_OPTION

    sig = inspect.signature(fn, eval_str=True)  # Annotated options keep their typer metadata
    if "quiet" in sig.parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return fn

    @functools.wraps(fn)
    def command(*args: Any, quiet: bool = False, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    quiet = inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=QUIET_OPTION,
                              annotation=bool)
    command.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[*sig.parameters.values(), quiet])
    command.__annotations__ = {**getattr(fn, "__annotations__", {}), "quiet": bool}
    return command


def pipe_safe(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, raising StreamClosed where a write to a closed stdout fails (`is_closed_stdout`)."""
    if getattr(fn, "pipe_safe", False):
        return fn

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OSError as e:
            if is_closed_stdout(e):
                raise StreamClosed(str(e)) from e
            raise

    command.pipe_safe = True  # type: ignore[attr-defined]
    return command


def register_all(app: typer.Typer) -> None:
    """Register every subcommand module; each gets -q/--quiet, `pipe_safe` and its help text
    laid out for the terminal (`help_format.command_help`)."""
    from srgan_cli.cli.help_format import command_help

    for name in COMMAND_MODULES:
        importlib.import_module(f"srgan_cli.cli.{name}_cmd").register(app)
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = pipe_safe(with_quiet(info.callback))
            doc = info.help or info.callback.__doc__
            if doc:
                info.help = command_help(doc, rich=app.rich_markup_mode == "rich")
