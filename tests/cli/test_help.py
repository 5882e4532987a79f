"""`--help` guides: a metavar for every option that takes a value (none for flags), choices
listed, checked by the parser and completed, train's options in groups, examples one per line."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from helpers import RunCli

from srgan_cli.cli.app import _register, app
from srgan_cli.cli.help_format import command_help, metavar_for

COMMANDS = ("upscale", "eval", "train", "export", "models", "sample", "doctor")


def _command() -> Any:
    _register()
    return typer.main.get_command(app)


def _param(command: str, flag: str) -> tuple[Any, Any]:
    group = _command()
    sub = group.commands[command]
    ctx = typer.Context(sub, info_name=command, parent=typer.Context(group, info_name="srgan"))
    return ctx, next(p for p in sub.params if flag in p.opts)


def test_no_raw_type_labels_and_no_metavar_on_flags() -> None:
    group = _command()
    root = typer.Context(group, info_name="srgan")
    for name, sub in [("srgan", group), *group.commands.items()]:
        ctx = typer.Context(sub, info_name=name, parent=root)
        for p in [*sub.params, sub.get_help_option(ctx)]:
            shown = p.display_type_rich(ctx)
            if getattr(p, "is_flag", False):
                assert shown is None, (name, p.opts)
            else:
                assert shown is None or "<" not in shown, (name, p.opts, shown)


def test_metavar_for_typer_labels() -> None:
    assert [metavar_for(x) for x in ("<int>", "<float>", "<str>", "<list[str]>", "<path>",
                                     "<a|b>")] == ["N", "X", "TEXT", "TEXT", "PATH", "a|b"]


@pytest.mark.parametrize(("command", "flag", "typed", "expected"), [
    ("upscale", "--device", "cuda:", ["cuda:0"]),
    ("upscale", "--device", "m", ["mps"]),
    ("eval", "--precision", "f", ["fp32", "fp16"]),
    ("train", "--stage", "g", ["gan"]),
    ("train", "--amp", "o", ["off"]),
    ("train", "--device", "c", ["cpu", "cuda", "cuda:0"]),
    ("eval", "--metric", "l", ["lpips"]),
    ("upscale", "--ext", "jp", ["jpeg", "jpg"]),
    ("eval", "--dataset", "set", ["set5", "set14"]),
    ("eval", "--model", "bicu", ["bicubic"]),
    ("upscale", "--model", "realesrgan-x4p", ["realesrgan-x4plus"]),
])
def test_choices_are_completed(command: str, flag: str, typed: str, expected: list[str],
                               tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no file of the working folder completes
    ctx, param = _param(command, flag)
    got = [item.value for item in param.shell_complete(ctx, typed)]
    assert got[:len(expected)] == expected if flag != "--device" else set(expected) <= set(got)


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["train", "--stage", "foo"], 2, "error: --stage 'foo': must be one of psnr, gan"),
    (["train", "--schedule", "linear"], 2, "error: --schedule 'linear': must be one of auto, "
     "constant, cosine, step, halve"),
    (["train", "--device", "tpu"], 2, "error: --device 'tpu': unknown device"),
    (["upscale", "x.png", "--precision", "fp64"], 10, "error: unknown precision 'fp64'"),
    (["eval", "--device", "tpu"], 2, "error: --device 'tpu': unknown device"),
    (["eval", "--metric", "fid"], 2, "error: --metric 'fid': unknown metric"),
    (["eval", "--split", "test"], 2, "error: --split 'test': must be one of valid, train"),
    (["eval", "--lpips-net", "squeeze"], 2, "error: --lpips-net 'squeeze': must be one of"),
    (["upscale", "x.png", "--ext", "gif"], 4, "error: --ext gif: unknown output extension"),
])
def test_choices_are_checked_while_parsing(run_cli: RunCli, argv: list[str], code: int,
                                           message: str) -> None:
    """Before anything runs (x.png does not exist): one line with the option and the values."""
    got, out, err = run_cli(argv)
    assert got == code and err.startswith(message) and len(err.splitlines()) == 1, err


def test_choice_ignores_case_and_spaces() -> None:
    from srgan_cli.cli.params import choice
    assert choice(("psnr", "gan"), "--stage")(" GAN ") == "gan"


def test_train_help_groups_and_defaults(run_cli: RunCli) -> None:
    code, out, _ = run_cli(["train", "--help"])
    assert code == 0 and "(default: )" not in out
    from srgan_cli.cli.train_cmd import PANEL_OF
    from srgan_cli.training.config import FIELD_NAMES
    assert set(FIELD_NAMES) <= set(PANEL_OF), set(FIELD_NAMES) - set(PANEL_OF)
    assert "--stage psnr|gan" in out and "--device auto|cpu|cuda[:N]|mps" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_examples_one_per_line(run_cli: RunCli, command: str) -> None:
    code, out, _ = run_cli([command, "--help"])
    lines = out.splitlines()
    assert code == 0 and "Examples:" in [line.strip() for line in lines], out
    start = [line.strip() for line in lines].index("Examples:") + 1
    examples = []
    for line in lines[start:]:
        if not line.strip():
            break
        examples.append(line.strip())
    assert len(examples) >= 2 and all(e.startswith(f"srgan {command}") for e in examples), out


def test_command_help_joins_paragraphs_and_keeps_examples() -> None:
    doc = """Score models (Y channel, border =
    scale).

    Examples:
    srgan eval
    srgan eval -d set14"""
    assert command_help(doc, rich=True) == ("Score models (Y channel, border = scale).\n\n"
                                            "Examples:\n  srgan eval\n  srgan eval -d set14")
    assert command_help(doc, rich=False).split("\n\n")[1].startswith("\b\nExamples:")
