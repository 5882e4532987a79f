"""The upscale display on a real terminal (a pseudo-terminal) and piped: every result line and
the summary come out whole, no stale bars; piped output is plain; -q prints only errors."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import child_env, noise_pngs, tiny_set5
from PIL import Image

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SUMMARY = re.compile(r"^(\d+) upscaled, (\d+) skipped, (\d+) failed, [\d.]+ s, [\d.]+ MP/s$")


def _env(columns: int = 100) -> dict[str, str]:
    env = child_env(COLUMNS=str(columns), LINES="30", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    return env


def run_in_pty(args: list[str], cwd: Path, columns: int = 100) -> tuple[int, str]:
    """`python -m srgan_cli ARGS` with stdout and stderr on one pseudo-terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: never returns
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "srgan_cli", *args], _env(columns))
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def images(folder: Path, n: int) -> list[str]:
    names = []
    for i in range(n):
        rng = np.random.default_rng(i)
        pixels = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"i{i}.png")
        names.append(f"i{i}.png")
    return names


@pytest.mark.slow
def test_terminal_shows_every_line_and_a_summary(tmp_path: Path) -> None:
    names = images(tmp_path, 6)
    (tmp_path / "bad.png").write_text("not an image")
    code, raw = run_in_pty(["upscale", *names, "bad.png", "-o", "out", "-m", "bicubic"],
                           tmp_path)
    assert code == 3, raw
    assert "\x1b[" in raw  # it is a live display on a terminal
    segments = [seg.strip() for line in ANSI.sub("", raw).split("\n") for seg in line.split("\r")]
    for name in names:
        line = f"{name} -> out/{name}  24x20 -> 96x80"
        assert any(seg.startswith(line) for seg in segments), (name, raw)
    assert any(seg.startswith("error: bad.png") for seg in segments)
    visible = [seg for seg in segments if seg]
    summary = [seg for seg in visible if SUMMARY.match(seg)]
    m = SUMMARY.match(summary[0]) if len(summary) == 1 else None
    assert m is not None and m.groups() == ("6", "0", "1"), summary
    # nothing of the display is left after the summary but the final error line
    after = visible[visible.index(summary[0]) + 1:]
    assert after == ["error: 1 of 7 images failed"], after
    assert "━" not in "".join(after)


@pytest.mark.slow
def test_piped_output_is_plain_with_a_summary(tmp_path: Path) -> None:
    names = images(tmp_path, 3)
    p = subprocess.run([sys.executable, "-m", "srgan_cli", "upscale", *names, "-o", "out",
                        "-m", "bicubic"], capture_output=True, text=True, cwd=tmp_path,
                       env=_env(), timeout=120)
    assert p.returncode == 0, p.stderr
    assert "\x1b" not in p.stdout and "\x1b" not in p.stderr
    lines = p.stdout.splitlines()
    assert [line.split("  ")[0] for line in lines[:3]] == [f"{n} -> out/{n}" for n in names]
    m = SUMMARY.match(lines[3])
    assert m is not None and m.groups() == ("3", "0", "0") and len(lines) == 4


@pytest.mark.slow
def test_quiet_on_a_terminal_prints_only_errors(tmp_path: Path) -> None:
    names = images(tmp_path, 2)
    code, raw = run_in_pty(["upscale", *names, "missing.png", "-o", "out", "-m", "bicubic",
                            "-q"], tmp_path)
    assert code == 3
    text = ANSI.sub("", raw)
    assert "->" not in text and "upscaled" not in text and "━" not in text
    assert [line for line in text.replace("\r", "").splitlines() if line] == [
        "error: missing.png: no such file", "error: 1 of 3 images failed"]
    code, raw = run_in_pty(["-q", "upscale", *names, "-o", "out2", "-m", "bicubic"], tmp_path)
    assert code == 0 and ANSI.sub("", raw).strip() == ""
    assert (tmp_path / "out2" / "i1.png").exists()


def _lines(raw: str) -> list[str]:
    """What the terminal shows: colour codes removed, one entry per line or overwrite."""
    return [seg.rstrip() for line in ANSI.sub("", raw).split("\n") for seg in line.split("\r")]


@pytest.mark.parametrize("columns", [80, 100])
def test_root_help_wraps_each_command_cleanly(tmp_path: Path, columns: int) -> None:
    code, raw = run_in_pty(["--help"], tmp_path, columns)
    lines = _lines(raw)
    assert code == 0 and all(len(line) <= columns for line in lines), raw
    assert "<bool>" not in raw
    # each command's summary is one paragraph wrapped at word boundaries: no line holds a
    # lone '=' (the docstring's own line break after 'border =' showed before)
    assert not any(line.strip("│ ") == "=" for line in lines)
    words = " ".join(" ".join(line.strip("│ ") for line in lines).split())
    assert "(Y channel, border = scale; fp32 and whole images by default" in words


@pytest.mark.slow
@pytest.mark.parametrize("columns", [80, 100])
def test_eval_table_fits_and_report_says_where(tmp_path: Path, columns: int) -> None:
    root = tiny_set5(tmp_path / "data", [(48, 56)] * 2)
    code, raw = run_in_pty(["eval", "-m", "bicubic", "-s", "2", "--data-root", str(root),
                            "-d", "set5", "-d", str(root / "Set5"), "--metric", "psnr",
                            "--metric", "ssim", "--report", "rep"], tmp_path, columns)
    lines = _lines(raw)
    assert code == 0, raw
    assert all(len(line) <= columns for line in lines), raw
    header = next(line for line in lines if "dataset" in line and "PSNR" in line)
    assert all(h in header.split() for h in ("model", "PSNR", "SSIM", "s/img")), header
    assert "…" not in raw
    assert any(line.strip() == f"wrote {Path('rep') / 'index.html'}" for line in lines), raw


@pytest.mark.slow
@pytest.mark.parametrize("columns", [80, 100])
def test_train_says_when_it_validates(tmp_path: Path, columns: int) -> None:
    data = noise_pngs(tmp_path / "train", 2, (40, 40))
    small = ["--data", str(data), "--scale", "2", "--num-blocks", "1", "--channels", "4",
             "--patch-size", "16", "--batch-size", "2", "--device", "cpu", "--workers", "0",
             "--cache-dir", str(tmp_path / "cache"), "--log-every", "1"]
    code, raw = run_in_pty(["train", *small, "--steps", "2", "--val-every", "1",
                            "--run-dir", "r1"], tmp_path, columns)
    text = [line for line in _lines(raw) if line.strip()]
    assert code == 7 and len(text) == 1 and "scores the generator on" in text[0], raw
    assert not (tmp_path / "r1").exists()
    val = tiny_set5(tmp_path / "val", [(32, 32)])
    code, raw = run_in_pty(["train", *small, "--steps", "2", "--val-every", "1",
                            "--val-data", str(val / "Set5"), "--run-dir", "r2"], tmp_path,
                           columns)
    assert code == 0, raw
    notes = [line for line in _lines(raw) if "validating on" in line]
    assert any("psnr stage  validating on Set5 (step 1)" in line for line in notes), raw
    assert all(len(line) <= columns for line in notes), raw


@pytest.mark.slow
def test_a_status_line_while_the_model_loads(tmp_path: Path) -> None:
    names = images(tmp_path, 1)
    code, raw = run_in_pty(["upscale", *names, "-o", "out", "-m", "bicubic"], tmp_path)
    assert code == 0 and "loading bicubic ..." in ANSI.sub("", raw), raw
    visible = [seg for seg in _lines(raw) if seg.strip()]
    assert not any("loading" in seg for seg in visible[visible.index(next(
        seg for seg in visible if seg.startswith("i0.png -> out/i0.png"))):]), raw
