"""messages: file names and exception texts made safe for one-line messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from srgan_cli.messages import escape, one_line, show_path


def test_show_path_escapes_what_breaks_a_line_or_a_terminal() -> None:
    assert show_path("a\nb.png") == "a\\nb.png"
    assert show_path(Path("dir/x\r\t.png")) == "dir/x\\r\\t.png"
    assert show_path("red\x1b[31m.png") == "red\\x1b[31m.png"
    assert show_path("x\x7f\x85.png") == "x\\x7f\\x85.png"
    assert show_path("evil\u202egnp.exe") == "evil\\u202egnp.exe"
    assert show_path("line\u2028sep.png") == "line\\u2028sep.png"


def test_show_path_keeps_readable_unicode_and_backslashes() -> None:
    for name in ("café.png", "日本語/写真.jpg", "🙂 smile.webp", "a b.png", "C:\\x\\y.png"):
        assert show_path(name) == name


def test_show_path_undecodable_bytes() -> None:
    raw = b"x\xff\xfe.png"
    assert show_path(raw) == "x\\xff\\xfe.png"
    assert show_path(os.fsdecode(raw)) == "x\\xff\\xfe.png"  # surrogateescape'd str


def test_one_line() -> None:
    assert one_line(ValueError("first\n  second\tthird ")) == "first second third"
    assert one_line(ValueError("bell\x07 here")) == "bell\\x07 here"
    assert one_line(KeyError()) == "KeyError"
    assert one_line(OSError("")) == "OSError"
    assert one_line(ValueError("x" * 50), limit=10) == "xxxxxxx..."
    assert one_line(ValueError("short"), limit=10) == "short"
    assert "\n" not in one_line(RuntimeError("a\n" * 100))


def test_escape_is_identity_on_printable_text() -> None:
    text = "PSNR 31.2 dB, Set5 ×4 — ok"
    assert escape(text) is text


def test_options_are_python_names_for_the_api_and_flags_for_the_cli() -> None:
    from srgan_cli.errors import UsageError
    from srgan_cli.messages import option, options_as_flags, render

    err = UsageError(f"{option('memory_budget')} 5: below 1 MiB; use {option('tile')}")
    assert str(err) == "memory_budget 5: below 1 MiB; use tile"
    old = options_as_flags(True)
    try:
        assert str(err) == "--memory-budget 5: below 1 MiB; use --tile"
        assert one_line(err) == "--memory-budget 5: below 1 MiB; use --tile"
        assert escape(f"see {option('crf')}") == "see --crf"
    finally:
        options_as_flags(old)
    assert render(f"{option('crf')}") == "crf"
    assert render("no option here") == "no option here"
    with pytest.raises(ValueError, match="not an option name"):
        option("--tile")


def test_a_flag_that_differs_from_its_name_and_a_metavar_show_only_on_the_command_line() -> None:
    from srgan_cli.messages import flag, option, render

    text = f"use {option('output_dir', 'DIR')} or {option('suffix', 'TEXT')}; {option('y_channel')}"
    assert render(text) == "use output_dir or suffix; y_channel"
    assert render(text, as_flags=True) == "use -o DIR or --suffix TEXT; --rgb"
    assert render(text, as_flags=False) == render(text)
    assert (flag("metrics"), flag("report_dir"), flag("tile_pad")) == (
        "--metric", "--report", "--tile-pad")
