"""One module per subcommand; each exposes `register(app)`. Keep argument parsing here thin."""

from __future__ import annotations

import importlib

import typer

# Order is the order in `srgan --help`.
COMMAND_MODULES = ("upscale", "eval", "train", "export", "models", "sample", "doctor")


def register_all(app: typer.Typer) -> None:
    """Register every subcommand module."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"srgan_cli.commands.{name}_cmd").register(app)
