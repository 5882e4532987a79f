"""How typer shows an option's value in `--help`: a flag shows none, every other option a
metavar (N, X, TEXT, PATH or its choices), never typer's raw type label (`<bool>`, `<int>`,
`<list[str]>`).

Typer's rich help prints `display_type_rich` beside every option, flags and `--help` included
(its plain help skips flags); `install` replaces that method once, at import of `cli.app`."""

from __future__ import annotations

import inspect
from typing import Any

from typer import core

# typer's type label -> the metavar shown for an option that declares none
_PLAIN = {"int": "N", "float": "X", "str": "TEXT", "path": "PATH", "int range": "N",
          "float range": "X"}


def metavar_for(label: str) -> str:
    """'N' for '<int>', 'TEXT' for '<list[str]>', 'a|b' for '<a|b>': the name of one value."""
    inner = label.strip("<>")
    if inner.startswith("list[") and inner.endswith("]"):
        inner = inner[5:-1]
    if "|" in inner:
        return inner
    return _PLAIN.get(inner, inner.upper())


def _option_type(self: Any, ctx: Any) -> str | None:
    if self.is_flag or self.count:
        return None
    if self.metavar is not None:
        return str(self.metavar)
    return metavar_for(str(self.display_type(ctx)))


def _argument_type(self: Any, ctx: Any) -> str | None:
    if self.metavar is not None:  # the argument's name column shows it already
        return None
    return metavar_for(str(self.display_type(ctx)))


def install() -> None:
    """Replace typer's help type column for options and arguments (idempotent)."""
    core.TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign]


EXAMPLES = "Examples:"


def command_help(doc: str, *, rich: bool) -> str:
    """A command's help text from its docstring: each paragraph on one line (the terminal wraps
    it: a docstring's own line breaks would show), except an 'Examples:' paragraph, whose
    lines stay one per line (click's plain help rewraps a paragraph unless it starts with \\b)."""
    paragraphs = []
    for paragraph in inspect.cleandoc(doc).split("\n\n"):
        if paragraph.startswith(EXAMPLES):
            lines = [line.strip() for line in paragraph.splitlines()]
            lines = [lines[0]] + ["  " + line for line in lines[1:]]
            paragraphs.append("\n".join(lines) if rich else "\b\n" + "\n".join(lines))
        else:
            paragraphs.append(" ".join(line.strip() for line in paragraph.splitlines()))
    return "\n\n".join(paragraphs)
