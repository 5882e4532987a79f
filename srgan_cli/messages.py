"""Text for one-line messages: file names shown safely and exceptions squeezed onto one line.

Every error message is one line (see `errors`), but file names may hold newlines, terminal
escapes, bidi overrides or bytes that are not UTF-8, and exception texts (torch's above all)
span many lines. `show_path` and `one_line` are the one place that makes them printable.

Engines name an option in a message with `option("memory_budget")`, never as a flag: the
Python API shows it as `memory_budget`, the command line (which calls `options_as_flags`) as
`--memory-budget`. The marker is NUL-delimited, and NUL cannot occur in a file name or argument.
An exception's text is rendered when it is shown (`errors.SrganError`); any other text an engine
hands out (a log line, a note) is rendered where it is made.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

# Unicode categories that are never shown as they are: controls, surrogates (bytes of a name
# that is not UTF-8, as os.fsdecode gives them), line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_BIDI = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SPACES = re.compile(r"\s+")
_OPTION = re.compile("\x00([a-z][a-z0-9_]*)(?:\x01([^\x00]*))?\x00")
_as_flags = False
# Options whose flag is not `--` and the Python name with dashes: the short flag messages use
# for -o/--output-dir, and flags named from the command line's side of the option.
_FLAGS = {"output_dir": "-o", "report_dir": "--report", "metrics": "--metric",
          "y_channel": "--rgb"}


def option(name: str, metavar: str = "") -> str:
    """An option named inside a message, by its Python name (see the module docstring);
    `metavar` ("DIR", "N") follows the flag on the command line, never the Python name."""
    if not re.fullmatch("[a-z][a-z0-9_]*", name) or "\x00" in metavar:
        raise ValueError(f"not an option name: {name!r}")
    return f"\x00{name}\x01{metavar}\x00" if metavar else f"\x00{name}\x00"


def flag(name: str) -> str:
    """The command-line flag of the option `name`: `--memory-budget` for `memory_budget`
    (`-o` for `output_dir`, `--rgb` for `y_channel`, ...: the table above)."""
    return _FLAGS.get(name) or "--" + name.replace("_", "-")


def options_as_flags(on: bool = True) -> bool:
    """Show options in messages as command-line flags (`on`) or Python names; returns the old
    setting so that the caller can put it back."""
    global _as_flags
    old, _as_flags = _as_flags, on
    return old


def render(text: str, *, as_flags: bool | None = None) -> str:
    """`text` with every `option()` marker shown as a flag (and its metavar) or a Python name:
    as `options_as_flags` says, unless `as_flags` does (help texts of the command line)."""
    if "\x00" not in text:
        return text
    flags = _as_flags if as_flags is None else as_flags

    def shown(m: re.Match[str]) -> str:
        if not flags:
            return m.group(1)
        return flag(m.group(1)) + (f" {m.group(2)}" if m.group(2) else "")

    return _OPTION.sub(shown, text)


def _escape_char(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the raw byte of a non-UTF-8 name
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def escape(text: str) -> str:
    """`text` with control characters, separators, bidi overrides and stray surrogates written
    as ``\\n``, ``\\x1b``, ``\\u202e`` ...; printable Unicode (accents, CJK, emoji) is kept.
    Option markers are rendered first (`render`)."""
    text = render(text)
    if text.isprintable():
        return text
    return "".join(
        _escape_char(ch)
        if ch in _BIDI or unicodedata.category(ch) in _HIDDEN_CATEGORIES
        else ch
        for ch in text
    )


def show_path(path: str | os.PathLike[str] | bytes) -> str:
    """A file name for a message: on one line and harmless in a terminal (see `escape`).

    Bytes are decoded as the file system does (undecodable bytes become ``\\xNN``); a literal
    backslash is kept as it is, so ordinary Windows-style names stay readable."""
    text = os.fsdecode(path) if isinstance(path, bytes) else str(Path(path))
    return escape(text)


def one_line(exc: BaseException, *, limit: int | None = None, first_line: bool = False) -> str:
    """An exception's text on one line: whitespace runs (newlines included) become one space,
    other control characters are escaped, and an empty text gives the exception's type name.
    `first_line` keeps only the first non-empty line (for errors whose first line says it all:
    internal errors, decoder and loader messages). With `limit`, longer texts are cut to
    `limit` characters ending in "..."."""
    raw = str(exc)
    if first_line:
        raw = next((line for line in raw.splitlines() if line.strip()), "")
    text = escape(_SPACES.sub(" ", raw).strip()) or type(exc).__name__
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    return text
