"""The `srgan` entry point: help, version, module form, plain output when piped, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import RunCli, child_env
from PIL import Image

from srgan_cli.version import __version__

ANSI = "\x1b["


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "srgan_cli", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=120,
    )


def test_version() -> None:
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"srgan-cli {__version__}"


def test_help_lists_commands_without_colour_when_piped() -> None:
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("upscale", "eval", "train", "export", "models", "sample"):
        assert cmd in r.stdout
    assert ANSI not in r.stdout and ANSI not in r.stderr


@pytest.mark.slow
def test_every_subcommand_has_help() -> None:
    for cmd in ("upscale", "eval", "train", "export", "models", "sample"):
        r = run(cmd, "--help")
        assert r.returncode == 0, (cmd, r.stderr)
        assert "Usage:" in r.stdout
        assert ANSI not in r.stdout


def test_unknown_command_is_a_usage_error() -> None:
    r = run("frobnicate")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "frobnicate" in r.stderr


def test_export_lists_every_model_suffix(tmp_path: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli(["export", "bicubic", str(tmp_path / "out.txt")])
    assert code == 4 and err.count("\n") == 1, err
    assert "out.txt: unknown output extension '.txt' (expected one of .onnx, .safetensors)" in err
    assert not (tmp_path / "out.txt").exists()


def test_bad_option_value_is_one_line_usage_error() -> None:
    r = run("train", "--steps", "many")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "--steps" in r.stderr


def test_console_script_is_installed() -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "srgan")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and __version__ in r.stdout


@pytest.mark.slow
def test_sample_command_writes_an_image(tmp_path) -> None:
    from srgan_cli.media.decode import read_image

    out, hr = tmp_path / "lr.png", tmp_path / "hr.png"
    r = run("sample", str(out), "--hr-out", str(hr), "--shrink", "4")
    assert r.returncode == 0, r.stderr
    lr_img, hr_img = read_image(out), read_image(hr)
    assert lr_img.size == (128, 128) and hr_img.size == (512, 512)
    r = run("sample", str(out))  # exists, no --overwrite
    assert r.returncode == 4 and "exists" in r.stderr and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- closed streams


def _closing(fd: int) -> Callable[[], None]:
    """A preexec_fn closing `fd` in the child."""
    return lambda: os.close(fd)


def test_closed_stdout_is_quiet() -> None:
    r = subprocess.run([sys.executable, "-m", "srgan_cli", "models"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, env=child_env(), timeout=120,
                       preexec_fn=_closing(1))
    assert r.returncode == 0 and r.stderr == ""


@pytest.mark.slow
def test_closed_stderr_keeps_the_exit_code(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "srgan_cli", "upscale", "missing.png", "o.png"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                       env=child_env(), timeout=120, cwd=tmp_path, preexec_fn=_closing(2))
    assert r.returncode == 3 and r.stdout == ""
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_broken_pipe_stops_quietly_with_141(tmp_path: Path) -> None:
    """Deterministic: 300 records with long names are ~170 KB, more than a pipe holds (64 KB),
    so writes go on after `head` has gone, whatever the scheduling."""
    folder = tmp_path / "in"
    folder.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    for i in range(300):
        Image.fromarray(pixels).save(folder / f"i{i:03d}{'n' * 180}.png")
    srgan = f"{sys.executable} -m srgan_cli"
    r = subprocess.run(["bash", "-c", f"{srgan} upscale in -o out -m bicubic --json | head -c1; "
                        'echo " rc=${PIPESTATUS[0]}"'], capture_output=True, text=True,
                       env=child_env(), cwd=tmp_path, timeout=300)
    assert r.stdout == "{ rc=141\n", r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    assert "failed" not in r.stderr  # a broken pipe is not an image failure
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []


def test_the_console_shows_an_engines_option_as_its_flag(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Text an engine made (`messages.option` markers) prints with flags, never a NUL."""
    from srgan_cli.cli.console import stderr_console, stdout_console
    from srgan_cli.messages import option

    stdout_console().print(f"use {option('tile_pad')} or {option('output_dir', 'DIR')}")
    stderr_console().print(f"see {option('memory_budget')}", markup=False)
    assert capsys.readouterr() == ("use --tile-pad or -o DIR\n", "see --memory-budget\n")
