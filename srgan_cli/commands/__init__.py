"""One module per subcommand; each exposes `register(app)`. Keep argument parsing here thin.

`register_all` also gives every subcommand that lacks it the shared `-q/--quiet` option
(`console.QUIET_OPTION`, which sets the process-wide quiet flag)."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import typer

# Order is the order in `srgan --help`.
COMMAND_MODULES = ("upscale", "eval", "train", "export", "models", "sample")


def with_quiet(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with a `-q/--quiet` parameter added to what typer sees, unless it has one."""
    from srgan_cli.console import QUIET_OPTION

    sig = inspect.signature(fn)
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


def register_all(app: typer.Typer) -> None:
    """Register every subcommand module; each gets -q/--quiet."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"srgan_cli.commands.{name}_cmd").register(app)
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = with_quiet(info.callback)
