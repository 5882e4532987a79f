"""`srgan upscale` / `srgan models`: outputs, one-line errors with exit codes, batches, --json."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import child_env, fifo_watchdog, random_bn_stats
from helpers import run_srgan as run
from PIL import Image

from srgan_cli.errors import DeviceError, InputImageError, ModelError, OutputError, UsageError
from srgan_cli.media.resize import imresize
from srgan_cli.models.bundled import DEFAULT_MODEL, save_model
from srgan_cli.models.srresnet import SRResNet
from srgan_cli.version import __version__ as _version

pytestmark = pytest.mark.usefixtures("in_tmp_without_weights")


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if not line.startswith("note:")]


def write_png(path: Path, h: int = 12, w: int = 16, mode: str = "RGB", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4}[mode]
    Image.fromarray(rng.integers(0, 256, (h, w, channels), dtype=np.uint8), mode).save(path)
    return path


def x2_model(path: Path) -> Path:
    torch.manual_seed(0)
    net = SRResNet(scale=2, num_blocks=1, channels=4)
    random_bn_stats(net, 0.2)
    save_model(net.eval(), path, {"training_data": "random"})
    return path


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


# ----------------------------------------------------------------------------- single image


def test_in_out_with_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_png(tmp_path / "in.png")
    model = x2_model(tmp_path / "m.safetensors")
    code, out, err = run(["upscale", "in.png", "out.png", "--model", str(model), "--device",
                          "cpu"], capsys)
    assert code == 0, err
    assert size_of(tmp_path / "out.png") == (32, 24)
    assert "in.png -> out.png" in out and "16x12 -> 32x24" in out
    # tiling never changes the result
    code, _, err = run(["upscale", "in.png", "tiled.png", "-m", str(model), "--tile", "4",
                        "--tile-pad", "20", "--batch-size", "3", "-q"], capsys)
    assert code == 0, err
    a = np.asarray(Image.open(tmp_path / "out.png")).astype(int)
    b = np.asarray(Image.open(tmp_path / "tiled.png")).astype(int)
    assert np.abs(a - b).max() <= 1


def test_default_model_falls_back_to_bicubic(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_png(tmp_path / "in.png")
    code, _, err = run(["upscale", "in.png", "out.png"], capsys)
    assert code == 0 and f"note: the default model {DEFAULT_MODEL} is not installed" in err
    want = imresize(np.asarray(Image.open(tmp_path / "in.png")), 4)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), want)


def test_default_model_when_installed(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    torch.manual_seed(0)
    save_model(SRResNet(4, 1, 4).eval(), tmp_path / "weights" / f"{DEFAULT_MODEL}.safetensors",
               {})
    write_png(tmp_path / "in.png", 6, 5)
    code, _, err = run(["upscale", "in.png", "out.png"], capsys)
    assert code == 0 and "note:" not in err and size_of(tmp_path / "out.png") == (20, 24)


def test_outscale_and_alpha(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_png(tmp_path / "in.png", 10, 15, mode="RGBA")
    model = x2_model(tmp_path / "m.safetensors")
    code, _, err = run(["upscale", "in.png", "out.png", "-m", str(model), "--outscale", "1.5"],
                       capsys)
    assert code == 0, err
    with Image.open(tmp_path / "out.png") as im:
        assert im.size == (23, 15) and im.mode == "RGBA"  # round(22.5) = 23


@pytest.mark.parametrize(
    ("setup", "args", "exit_code", "message"),
    [
        (None, ["missing.png", "out.png"], InputImageError.exit_code, "missing.png: no such file"),
        ("text", ["in.png", "out.png"], InputImageError.exit_code, "in.png: "),
        ("png+out", ["in.png", "--output", "out.png"], OutputError.exit_code,
         "out.png: exists; use --overwrite"),
        ("png+out", ["in.png", "out.png"], UsageError.exit_code,
         "out.png exists: to upscale both images use -o DIR"),
        ("png+out", ["in.png", "out.png", "--overwrite"], UsageError.exit_code,
         "to replace out.png with the result of in.png, use --output out.png --overwrite"),
        ("png", ["in.png", "-O", "in.png", "--overwrite"], OutputError.exit_code,
         "the output would replace the input"),
        ("png", ["in.png", "--output", "o.png", "-o", "d"], UsageError.exit_code,
         "--output FILE names the one output: it excludes -o, --suffix and --ext"),
        ("png+png", ["in.png", "in2.png", "-O", "o.png"], UsageError.exit_code,
         "--output FILE takes one INPUT, got 2"),
        ("png+png", ["*.png", "-O", "o.png"], UsageError.exit_code,
         "*.png matches 2 images: --output takes one image"),
        ("png", ["in.png", "out.xyz"], OutputError.exit_code, "unknown output extension '.xyz'"),
        ("png", ["in.png", "in.png/out.png"], OutputError.exit_code,
         "cannot create the output folder"),
        ("png", ["in.png", "-o", "/proc/srgan-test/out"], OutputError.exit_code,
         "cannot create the output folder"),
        ("png", ["in.png", "out.png", "-m", "nope.safetensors"], ModelError.exit_code,
         "nope.safetensors: model file not found"),
        ("png", ["in.png", "out.png", "-m", "no_such_model"], ModelError.exit_code,
         "unknown model 'no_such_model'"),
        ("png+garbage", ["in.png", "out.png", "-m", "bad.safetensors"], ModelError.exit_code,
         "not a valid safetensors file"),
        ("png", ["in.png", "out.png", "--device", "tpu"], UsageError.exit_code,
         "--device 'tpu': unknown device"),
        ("png", ["in.png", "out.png", "--precision", "fp16", "--device", "cpu"],
         DeviceError.exit_code, "fp16 is not supported on the CPU"),
        ("png", ["in.png", "out.png", "--overwrite", "--skip-existing"], UsageError.exit_code,
         "exclude each other"),
        ("png", ["in.png", "out.png", "--outscale", "-2"], UsageError.exit_code,
         "outscale must be positive"),  # --outscale on the command line
        ("png", ["in.png", "out.png", "--tile", "-1", "-m", "nope.safetensors"],
         UsageError.exit_code, "--tile must be >= 0 (0 = whole image), got -1"),
        ("png", ["in.png", "out.png", "--batch-size", "0"], UsageError.exit_code,
         "--batch-size must be >= 1, got 0"),
        ("png", [".", "out.png"], UsageError.exit_code, ". is a folder: IN OUT takes one image"),
        ("png+png", ["*.png", "out.png"], UsageError.exit_code,
         "*.png matches 2 images: IN OUT takes one image"),
        ("png", ["in.png", "-o", "o", "--ext", "gif"], OutputError.exit_code,
         "--ext gif: unknown output extension"),
        ("png", ["in.png", "in.png", "--suffix", "", "--overwrite", "-o", "."],
         OutputError.exit_code, "the output would replace the input"),
        # name parts, numbers, stdin/stdout, file types: one line each (the flags show as
        # --suffix, --outscale once the command line renders option names as flags)
        ("png", ["in.png", "-o", "o", "--suffix", "/../../escaped"], UsageError.exit_code,
         "suffix '/../../escaped': must not hold a path separator, NUL or '..'"),
        ("png", ["in.png", "--suffix", "/../escaped", "--overwrite"], UsageError.exit_code,
         "suffix '/../escaped': must not hold a path separator"),
        ("png", ["in.png", "-o", "o", "--ext", "png/.."], UsageError.exit_code,
         "ext 'png/..': must not hold a path separator"),
        ("png", ["in.png", "out.png", "--outscale", "inf"], UsageError.exit_code,
         "outscale must be positive and at most 1,000,000, got inf"),
        ("png", ["in.png", "out.png", "-s", "nan"], UsageError.exit_code,
         "outscale must be positive and at most 1,000,000, got nan"),
        ("png", ["-", "out.png"], UsageError.exit_code,
         "-: reading images from stdin is not supported"),
        ("png", ["in.png", "-"], UsageError.exit_code,
         "-: writing images to stdout is not supported"),
        ("png", ["in.png", "--output", "-"], UsageError.exit_code,
         "-: writing images to stdout is not supported"),
        ("loop", ["in.png", "out.png"], InputImageError.exit_code, "in.png: symlink loop"),
        ("fifo", ["in.png", "out.png"], InputImageError.exit_code,
         "in.png: not a regular file (a FIFO)"),
        ("fifo", ["in.png", "-o", "o"], InputImageError.exit_code,
         "in.png: not a regular file (a FIFO)"),
    ],
)
def test_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str | None, args: list[str],
    exit_code: int, message: str,
) -> None:
    if setup == "text":
        (tmp_path / "in.png").write_text("not an image")
    if setup and setup.startswith("png"):
        write_png(tmp_path / "in.png")
    if setup == "png+out":
        (tmp_path / "out.png").write_bytes(b"old")
    if setup == "png+png":
        write_png(tmp_path / "in2.png")
    if setup == "png+garbage":
        (tmp_path / "bad.safetensors").write_bytes(os.urandom(100))
    if setup == "loop":
        (tmp_path / "in.png").symlink_to("loop.png")
        (tmp_path / "loop.png").symlink_to("in.png")
    with fifo_watchdog(tmp_path / "in.png") if setup == "fifo" else contextlib.nullcontext():
        code, out, err = run(["upscale", *args], capsys)
    lines = error_lines(err)
    assert code == exit_code, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert "Traceback" not in err
    if setup == "png+out":
        assert (tmp_path / "out.png").read_bytes() == b"old"


@pytest.mark.slow
def test_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    (tmp_path / "in.png").write_text("not an image")
    p = subprocess.run([sys.executable, "-m", "srgan_cli", "upscale", "in.png", "out.png"],
                       capture_output=True, text=True, cwd=tmp_path, env=child_env(), timeout=120)
    assert p.returncode == InputImageError.exit_code
    assert error_lines(p.stderr) == [p.stderr.splitlines()[-1]] and "Traceback" not in p.stderr
    assert p.stdout == ""


# ----------------------------------------------------------------------------- batches


def test_batch_continues_past_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_png(tmp_path / "a.png")
    (tmp_path / "b.png").write_text("broken")
    write_png(tmp_path / "c.png", seed=2)
    code, out, err = run(["upscale", "a.png", "b.png", "c.png", "-o", "out", "--model",
                          "bicubic"], capsys)
    assert code == InputImageError.exit_code
    assert (tmp_path / "out" / "a.png").exists() and (tmp_path / "out" / "c.png").exists()
    assert not (tmp_path / "out" / "b.png").exists()
    lines = error_lines(err)
    assert len(lines) == 2 and "b.png" in lines[0] and lines[1] == "error: 1 of 3 images failed"
    assert len(out.splitlines()) == 3 and "Traceback" not in err
    assert out.splitlines()[-1].startswith("2 upscaled, 0 skipped, 1 failed, ")


def test_batch_mixed_failures_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_png(tmp_path / "a.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").mkdir()  # an output that is a folder fails (a file is skipped)
    code, _, err = run(["upscale", "a.png", "gone.png", "-o", "out", "-m", "bicubic"], capsys)
    assert code == 1 and "2 of 2 images failed" in err


def test_json_records_globs_and_skip(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_png(tmp_path / "a.png", 8, 6)
    write_png(tmp_path / "b.png", 5, 7)
    (tmp_path / "b_x2.png").write_bytes(b"keep")  # the output of b exists: skipped
    code, out, err = run(["upscale", "[ab].png", "--json", "-m", "bicubic", "--outscale", "2",
                          "--skip-existing"], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in records] == ["a.png", "b.png"]
    a, b = records
    assert a["output"] == "a_x2.png" and a["status"] == "ok" and a["error"] is None
    assert a["input_size"] == [6, 8] and a["output_size"] == [12, 16]
    assert isinstance(a["seconds"], float)
    assert b["status"] == "skipped" and (tmp_path / "b_x2.png").read_bytes() == b"keep"
    code, out, _ = run(["upscale", "missing.png", "--json", "-m", "bicubic"], capsys)
    (rec,) = [json.loads(line) for line in out.splitlines()]
    assert code == InputImageError.exit_code and rec["status"] == "error"
    assert "no such file" in rec["error"] and rec["output_size"] is None


def test_json_records_name_the_flags_of_engine_errors(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]):
    """The planner names `suffix` and `output_dir`; its record on the command line says
    `--suffix` and `-o`, and no option marker (NUL) reaches the output."""
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "b.png")
    code, out, err = run(["upscale", "a.png", "b.png", "-o", ".", "--suffix", "", "--json",
                          "-m", "bicubic", "--overwrite"], capsys)
    records = [json.loads(line) for line in out.splitlines()]
    assert code == OutputError.exit_code and [r["status"] for r in records] == ["error"] * 2
    assert records[0]["error"].endswith("give --suffix or -o DIR")
    assert "\x00" not in out + err and "\\u0000" not in out


def test_json_names_that_are_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Raw bytes of a name show as \\xNN in --json as on the terminal: no lone surrogates."""
    name = os.fsdecode(b"a\xff.png")
    write_png(tmp_path / name)
    code, out, err = run(["upscale", name, "--json", "-m", "bicubic", "-s", "2"], capsys)
    assert code == 0, err
    assert "\\ud" not in out
    (rec,) = [json.loads(line) for line in out.splitlines()]
    assert rec["input"] == "a\\xff.png" and rec["output"] == "a\\xff_x2.png"
    assert (tmp_path / os.fsdecode(b"a\xff_x2.png")).exists()


@pytest.mark.slow
def test_folders_recursive_and_ext(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "photos").mkdir()
    write_png(tmp_path / "photos" / "a.png")
    (tmp_path / "photos" / "sub").mkdir()
    write_png(tmp_path / "photos" / "sub" / "b.png")
    (tmp_path / "photos" / "notes.txt").write_text("ignored")
    code, _, err = run(["upscale", "photos", "-o", "flat", "-m", "bicubic"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "flat").iterdir()) == ["a.png"]
    code, _, err = run(["upscale", "photos", "-o", "deep", "-r", "--ext", "jpg", "--suffix",
                        "_big", "-m", "bicubic"], capsys)
    assert code == 0, err
    assert (tmp_path / "deep" / "a_big.jpg").exists()
    assert (tmp_path / "deep" / "sub" / "b_big.jpg").exists()
    code, _, err = run(["upscale", "photos/sub", "-m", "bicubic", "-q"], capsys)
    assert code == 0 and (tmp_path / "photos" / "sub" / "b_x4.png").exists()
    (tmp_path / "empty").mkdir()
    code, _, err = run(["upscale", "empty", "-o", "x", "-m", "bicubic"], capsys)
    assert code == InputImageError.exit_code and "has no images" in err


def test_two_inputs_with_suffix_are_not_in_out(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "b.png", seed=1)
    code, out, err = run(["upscale", "a.png", "b.png", "--suffix", "_big", "-m", "bicubic"],
                         capsys)
    assert code == 0, err
    assert (tmp_path / "a_big.png").exists() and (tmp_path / "b_big.png").exists()
    assert size_of(tmp_path / "b_big.png") == (64, 48)


def test_duplicate_outputs_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_png(tmp_path / "a.png")
    Image.open(tmp_path / "a.png").save(tmp_path / "a.bmp")
    code, _, err = run(["upscale", "a.png", "a.bmp", "-o", "o", "--ext", "png", "-m",
                        "bicubic"], capsys)
    assert code == OutputError.exit_code and "is also the output of" in err
    assert (tmp_path / "o" / "a.png").exists()


# ----------------------------------------------------------------------------- models


@pytest.mark.slow
def test_models_listing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x2_model(tmp_path / "weights" / "tiny_x2.safetensors")
    code, out, _ = run(["models"], capsys)
    assert code == 0 and "tiny_x2" in out and "x2" in out and "training_data=random" in out
    assert "bicubic (default)" in out
    code, out, _ = run(["models", "--json"], capsys)
    data = json.loads(out)
    names = {m["name"]: m for m in data["models"]}
    assert set(names) == {"tiny_x2", "bicubic"} and data["weights_dir"].endswith("weights")
    assert names["tiny_x2"]["scale"] == 2 and names["tiny_x2"]["num_blocks"] == 1
    assert names["tiny_x2"]["card"]["training_data"] == "random"
    code, _, err = run(["upscale", "missing.png", "out.png", "-m", "tiny_x2"], capsys)
    assert code == InputImageError.exit_code  # the bundled name resolved; the input is missing


# ----------------------------------------------------------------------------- outputs vs inputs


@pytest.mark.slow
def test_two_existing_images_are_never_in_out(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`srgan upscale *.png --overwrite` where the glob matched a.png b.png must not replace b."""
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "b.png", seed=1)
    before = (tmp_path / "b.png").read_bytes()
    code, _, err = run(["upscale", "a.png", "b.png", "--overwrite", "-m", "bicubic"], capsys)
    assert code == UsageError.exit_code and len(error_lines(err)) == 1
    assert "b.png exists: to upscale both images use -o DIR" in err
    assert (tmp_path / "b.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "weights"]
    # the explicit form replaces it
    code, out, err = run(["upscale", "a.png", "--output", "b.png", "--overwrite", "-m",
                          "bicubic"], capsys)
    assert code == 0, err
    assert "a.png -> b.png" in out
    want = imresize(np.asarray(Image.open(tmp_path / "a.png")), 4)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), want)
    # IN OUT with a new OUT still works; -O with a new file needs no --overwrite
    code, _, err = run(["upscale", "a.png", "new.png", "-m", "bicubic", "-q"], capsys)
    assert code == 0 and size_of(tmp_path / "new.png") == (64, 48), err
    code, _, err = run(["upscale", "a.png", "-O", "new2.jpg", "-m", "bicubic", "-q"], capsys)
    assert code == 0 and size_of(tmp_path / "new2.jpg") == (64, 48), err


def test_output_that_is_another_input_is_refused(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "a_x4.png", seed=1)  # named explicitly: an input, not skipped
    write_png(tmp_path / "c.png", seed=2)
    before = (tmp_path / "a_x4.png").read_bytes()
    code, out, err = run(["upscale", "a.png", "a_x4.png", "c.png", "--overwrite", "-m",
                          "bicubic"], capsys)
    assert code == OutputError.exit_code
    lines = error_lines(err)
    assert lines == ["error: a.png: output a_x4.png is also an input of this batch; give "
                     "--suffix or -o DIR", "error: 1 of 3 images failed"]
    assert (tmp_path / "a_x4.png").read_bytes() == before
    assert size_of(tmp_path / "a_x4_x4.png") == (64, 48) and (tmp_path / "c_x4.png").exists()
    # the same through -o: out/a.png is an input and a.png's output
    (tmp_path / "out").mkdir()
    write_png(tmp_path / "out" / "a.png", seed=3)
    before = (tmp_path / "out" / "a.png").read_bytes()
    code, _, err = run(["upscale", "a.png", "out/a.png", "-o", "out", "--overwrite", "-m",
                        "bicubic"], capsys)
    assert code == OutputError.exit_code and "is also an input of this batch" in err
    assert (tmp_path / "out" / "a.png").read_bytes() == before


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["photos", "photos/*.png"])
def test_rerun_skips_its_own_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     spec: str) -> None:
    (tmp_path / "photos").mkdir()
    write_png(tmp_path / "photos" / "a.png", 8, 6)
    write_png(tmp_path / "photos" / "b.png", 5, 7, seed=1)
    code, _, err = run(["upscale", spec, "-m", "bicubic", "-q"], capsys)
    assert code == 0, err
    (tmp_path / "photos" / "b_x4_x4.png").write_bytes(b"left by an older run")
    code, out, err = run(["upscale", spec, "-m", "bicubic", "--overwrite", "--json"], capsys)
    assert code == 0, err
    records = {Path(r["input"]).name: r for r in map(json.loads, out.splitlines())}
    assert records["a.png"]["status"] == records["b.png"]["status"] == "ok"
    for name in ("a_x4.png", "b_x4.png", "b_x4_x4.png"):
        assert records[name]["status"] == "skipped" and records[name]["output"] is None
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == [
        "a.png", "a_x4.png", "b.png", "b_x4.png", "b_x4_x4.png"]
    code, out, err = run(["upscale", spec, "-m", "bicubic", "--skip-existing"], capsys)
    assert code == 0, err
    assert "a_x4.png: skipped, named as this batch's output for photos" in out


def test_recursive_rerun_into_a_subfolder(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "photos").mkdir()
    write_png(tmp_path / "photos" / "a.png")
    for _ in range(2):
        code, _, err = run(["upscale", "photos", "-r", "-o", "photos/big", "--overwrite", "-m",
                            "bicubic", "-q"], capsys)
        assert code == 0, err
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "photos").rglob("*")
                  ) == ["photos/a.png", "photos/big", "photos/big/a.png"]


# ----------------------------------------------------------------------------- Ctrl-C


@pytest.mark.slow
@pytest.mark.parametrize("batch", [False, True])
def test_ctrl_c_leaves_no_partial_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch, batch: bool) -> None:
    from srgan_cli.media import encode
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "b.png", seed=1)
    real = encode._write_png_rows  # every PNG is written through it (streamed rows)
    calls = {"n": 0}

    def write_then_interrupt(tmp: Path, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == (2 if batch else 1):
            tmp.write_bytes(b"half an image")
            raise KeyboardInterrupt
        real(tmp, *args, **kwargs)

    monkeypatch.setattr(encode, "_write_png_rows", write_then_interrupt)
    args = ["a.png", "b.png", "-o", "out"] if batch else ["a.png", "out.png"]
    code, _, err = run(["upscale", *args, "-m", "bicubic"], capsys)
    assert code == 130
    assert error_lines(err) == ["interrupted"] and "Traceback" not in err
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                  if p.is_file())
    assert left == (["a.png", "b.png", "out/a.png"] if batch else ["a.png", "b.png"])


# ----------------------------------------------------------------------------- paths


def test_in_and_a_new_folder_written_with_a_slash(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`IN newdir/` writes newdir/IN, as `--output newdir/` and `-o newdir` do."""
    write_png(tmp_path / "in.png")
    code, out, err = run(["upscale", "in.png", "new/", "-m", "bicubic", "-s", "2"], capsys)
    assert code == 0, err
    assert size_of(tmp_path / "new" / "in.png") == (32, 24)
    assert out.startswith("in.png -> new/in.png  16x12 -> 32x24")


def test_a_fifo_in_a_batch_fails_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_png(tmp_path / "b.png")
    with fifo_watchdog(tmp_path / "a.png"):
        code, out, err = run(["upscale", "a.png", "b.png", "-o", "o", "-m", "bicubic"], capsys)
    assert code == InputImageError.exit_code, err
    assert "error: a.png: not a regular file (a FIFO)" in err.splitlines()
    assert (tmp_path / "o" / "b.png").exists() and "1 upscaled, 0 skipped, 1 failed" in out


def test_in_out_creates_missing_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_png(tmp_path / "a.png")
    code, out, err = run(["upscale", "a.png", "new/dir/a.png", "-m", "bicubic"], capsys)
    assert code == 0, err
    assert size_of(tmp_path / "new" / "dir" / "a.png") == (64, 48)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["existing", "fresh/"])
def test_output_folder_means_output_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        target: str) -> None:
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "b.png", seed=1)
    (tmp_path / "existing").mkdir()
    code, _, err = run(["upscale", "a.png", "b.png", "--output", target, "-m", "bicubic"],
                       capsys)
    assert code == 0, err
    folder = tmp_path / target.rstrip("/")
    assert size_of(folder / "a.png") == (64, 48) and size_of(folder / "b.png") == (64, 48)
    code, _, err = run(["upscale", "a.png", "--output", target, "-o", "x", "-m", "bicubic"],
                       capsys)
    assert code == UsageError.exit_code and "excludes -o DIR" in err


@pytest.mark.slow
def test_rerunning_a_batch_skips_existing_outputs(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    write_png(tmp_path / "a.png")
    write_png(tmp_path / "b.png", seed=1)
    args = ["upscale", "a.png", "b.png", "-o", "out", "-m", "bicubic"]
    assert run(args, capsys)[0] == 0
    (tmp_path / "out" / "a.png").write_bytes(b"kept")
    code, out, err = run(args, capsys)
    assert code == 0 and error_lines(err) == []
    assert out.splitlines()[:2] == [f"{n}: skipped, {Path('out') / n} exists"
                                    for n in ("a.png", "b.png")]
    assert out.splitlines()[2].startswith("0 upscaled, 2 skipped, 0 failed")
    assert (tmp_path / "out" / "a.png").read_bytes() == b"kept"
    code, out, _ = run([*args, "--overwrite"], capsys)
    assert code == 0 and size_of(tmp_path / "out" / "a.png") == (64, 48)
    # the one output named by IN OUT / --output keeps refusing
    code, _, err = run(["upscale", "a.png", "--output", "out/a.png", "-m", "bicubic"], capsys)
    assert code == OutputError.exit_code and "exists; use --overwrite" in err


# ----------------------------------------------------------------------------- Real-ESRGAN flags


@pytest.mark.slow
def test_real_esrgan_spellings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_png(tmp_path / "a.png")
    model = x2_model(tmp_path / "m.safetensors")
    code, _, err = run(["upscale", "a.png", "-o", "out", "-m", str(model), "-s", "3", "-t", "8",
                        "--tile_pad", "2", "--fp32", "--ext", "auto"], capsys)
    assert code == 0, err
    assert size_of(tmp_path / "out" / "a.png") == (48, 36)
    code, _, err = run(["upscale", "a.png", "b.png", "--fp32", "--precision", "bf16"], capsys)
    assert code == UsageError.exit_code and "--fp32 contradicts --precision bf16" in err
    code, _, err = run(["upscale", "a.png", "b.png", "--alpha-upsampler", "nearest"], capsys)
    assert code == UsageError.exit_code and "expected bicubic or model" in err


@pytest.mark.slow
def test_alpha_through_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rgba = write_png(tmp_path / "in.png", 10, 12, mode="RGBA")
    alpha = np.asarray(Image.open(rgba))[..., 3]
    Image.fromarray(np.repeat(alpha[..., None], 3, axis=2)).save(tmp_path / "alpha.png")
    model = x2_model(tmp_path / "m.safetensors")
    for args in (["in.png", "model.png", "--alpha-upsampler", "model"],
                 ["in.png", "bicubic.png"], ["alpha.png", "alpha_x2.png"]):
        code, _, err = run(["upscale", *args, "-m", str(model)], capsys)
        assert code == 0, err
    through_model = np.asarray(Image.open(tmp_path / "model.png"))
    assert through_model.shape == (20, 24, 4)
    expected = np.asarray(Image.open(tmp_path / "alpha_x2.png"))[..., 0]
    assert np.array_equal(through_model[..., 3], expected)
    bicubic = np.asarray(Image.open(tmp_path / "bicubic.png"))
    assert np.array_equal(bicubic[..., :3], through_model[..., :3])
    assert not np.array_equal(bicubic[..., 3], through_model[..., 3])


@pytest.mark.slow
def test_help_is_tidy_and_every_command_is_quiet() -> None:
    env = {**os.environ, "COLUMNS": "200"}
    p = subprocess.run([sys.executable, "-m", "srgan_cli", "upscale", "--help"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0
    for shown in ("-s", "--outscale", "-t", "--tile", "--tile-pad", "--alpha-upsampler",
                  "--max-output-pixels", "-q", "--quiet"):
        assert re.search(rf"(^|[\s,]){re.escape(shown)}([\s,]|$)", p.stdout), shown
    for hidden in ("--tile_pad", "--fp32"):  # aliases: named in the description, no own row
        assert not re.search(rf"^\s*{hidden}\b", p.stdout, re.M), hidden
    p = subprocess.run([sys.executable, "-m", "srgan_cli", "--help"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert "--install-completion" in p.stdout and "--quiet" in p.stdout
    for cmd in ("eval", "train", "export", "models", "sample"):
        p = subprocess.run([sys.executable, "-m", "srgan_cli", cmd, "--help"],
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0 and "--quiet" in p.stdout, cmd


@pytest.mark.slow
def test_quiet_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["sample", "s.png", "-q"], capsys)
    assert code == 0 and out == "" and err == "" and (tmp_path / "s.png").exists()
    code, out, _ = run(["sample", "t.png"], capsys)
    assert code == 0 and out.startswith("wrote t.png")


# ----------------------------------------------------------------------------- output size


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims width x height (its pixel data is for 4x4)."""
    import struct
    import zlib

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.slow
def test_output_size_is_checked_before_any_work(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    png_claiming(tmp_path / "huge.png", 9000, 9000)
    write_png(tmp_path / "ok.png")
    code, out, err = run(["upscale", "huge.png", "ok.png", "-o", "out", "-m", "bicubic"], capsys)
    assert code == OutputError.exit_code
    assert ("error: huge.png: the output would be 36000x36000 (1,296 MP), above the limit of "
            "400 MP; raise it with --max-output-pixels N (0 = no limit)") in err.splitlines()
    assert (tmp_path / "out" / "ok.png").exists() and not (tmp_path / "out" / "huge.png").exists()
    code, _, err = run(["upscale", "ok.png", "big.png", "-m", "bicubic", "--outscale", "100000"],
                       capsys)
    assert code == OutputError.exit_code and "--max-output-pixels" in err
    assert "1600000x1200000" in err and len(error_lines(err)) == 1
    code, _, err = run(["upscale", "ok.png", "o2.png", "-m", "bicubic", "-s", "100",
                        "--max-output-pixels", "1000"], capsys)
    assert code == OutputError.exit_code
    assert "the output would be 1600x1200 (1.9 MP), above the limit of 1,000 pixels" in err


# ----------------------------------------------------------------------------- escaped names


@pytest.mark.slow
def test_names_are_printed_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_png(folder / "new\nline.png")
    write_png(folder / "esc\x1b[31m.png", seed=1)
    code, out, err = run(["upscale", "in", "gone\rx.png", "-o", "out", "-m", "bicubic"], capsys)
    assert code == InputImageError.exit_code
    assert "\x1b" not in out + err and "\r" not in out + err
    lines = out.splitlines()
    assert lines[0].startswith("in/esc\\x1b[31m.png -> out/esc\\x1b[31m.png  16x12 -> 64x48")
    assert lines[1].startswith("in/new\\nline.png -> out/new\\nline.png  16x12 -> 64x48")
    assert "error: gone\\rx.png: no such file" in err.splitlines()
    assert (tmp_path / "out" / "new\nline.png").exists()


# ----------------------------------------------------------------------------- devices


def test_unknown_device_is_a_usage_error_unavailable_one_a_device_error() -> None:
    from srgan_cli.devices import resolve_device

    for bad in ("foo", "cuda:x", "gpu0"):
        with pytest.raises(UsageError, match="unknown device") as e:
            resolve_device(bad)
        assert e.value.exit_code == 2 and isinstance(e.value, DeviceError)
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available") as unavailable:
            resolve_device("cuda:1")
        assert unavailable.value.exit_code == DeviceError.exit_code == 10


# ----------------------------------------------------------------------------- output flags


@pytest.mark.slow
def test_quality_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_png(tmp_path / "a.png", 24, 32)
    sizes = {}
    for q in (20, 95):
        code, _, err = run(["upscale", str(src), f"q{q}.jpg", "-m", "bicubic", "--quality",
                            str(q)], capsys)
        assert code == 0, err
        sizes[q] = (tmp_path / f"q{q}.jpg").stat().st_size
    assert sizes[20] < sizes[95]
    code, _, err = run(["upscale", str(src), "lossless.webp", "-m", "bicubic", "--quality",
                        "100"], capsys)
    assert code == 0, err
    with Image.open(tmp_path / "lossless.webp") as im:
        assert np.array_equal(np.asarray(im.convert("RGB")),
                              imresize(np.asarray(Image.open(src)), 4))
    code, _, err = run(["upscale", str(src), "bad.jpg", "-m", "bicubic", "--quality", "0"],
                       capsys)
    assert code == UsageError.exit_code and "--quality" in err and len(error_lines(err)) == 1
    assert not (tmp_path / "bad.jpg").exists()


@pytest.mark.slow
def test_metadata_kept_unless_stripped(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src, dpi=(72, 72))
    assert run(["upscale", str(src), "kept.png", "-m", "bicubic"], capsys)[0] == 0
    assert run(["upscale", str(src), "bare.png", "-m", "bicubic", "--strip-metadata"],
               capsys)[0] == 0
    with Image.open(tmp_path / "kept.png") as im:
        assert [round(d) for d in im.info["dpi"]] == [288, 288]  # same printed size at x4
    with Image.open(tmp_path / "bare.png") as im:
        assert "dpi" not in im.info
    code, out, _ = run(["upscale", "--help"], capsys)
    assert code == 0 and "--strip-metadata" in out and "printed size" in " ".join(out.split())


@pytest.mark.slow
def test_allow_damaged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 40, 3), np.uint8)).save(src)
    src.write_bytes(src.read_bytes()[: int(src.stat().st_size * 0.6)])
    code, _, err = run(["upscale", str(src), "refused.png", "-m", "bicubic"], capsys)
    assert code == InputImageError.exit_code and not (tmp_path / "refused.png").exists()
    code, out, err = run(["upscale", str(src), "ok.png", "-m", "bicubic", "--allow-damaged"],
                         capsys)
    assert code == 0, err
    assert "damaged image data accepted" in out and len(out.splitlines()) == 1
    code, out, err = run(["upscale", str(src), "ok2.png", "-m", "bicubic", "--allow-damaged",
                          "--json"], capsys)
    rec = json.loads(out)
    assert code == 0 and rec["status"] == "ok" and "damaged" in rec["warnings"][0]
    assert size_of(tmp_path / "ok2.png") == (160, 240)


@pytest.mark.slow
def test_memory_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = x2_model(tmp_path / "m.safetensors")
    src = write_png(tmp_path / "a.png", 64, 64)
    code, out, err = run(["upscale", str(src), "big.png", "-m", str(model), "--json"], capsys)
    assert code == 0 and json.loads(out)["tile"] == 0, err  # the whole image fits by default
    code, out, err = run(["upscale", str(src), "small.png", "-m", str(model), "--json",
                          "--memory-budget", "64K"], capsys)
    rec = json.loads(out)
    assert code == 0 and 0 < rec["tile"] < 64, err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "small.png")),
                          np.asarray(Image.open(tmp_path / "big.png")))  # exact tiling
    for bad in ("lots", "0"):
        code, _, err = run(["upscale", str(src), "x.png", "-m", str(model), "--memory-budget",
                            bad], capsys)
        assert code == UsageError.exit_code and "--memory-budget" in err, err


# ----------------------------------------------------------------------------- Real-ESRGAN flags


def test_realesrgan_spellings(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """-i INPUT, -n NAME, -o FILE (one input) and -o DIR, --pre_pad accepted with a note."""
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "in.png")
    code, _, err = run(["upscale", "-i", "in.png", "-n", "bicubic", "-o", "one.png"], capsys)
    assert code == 0 and Image.open(tmp_path / "one.png").size == (64, 48), err
    code, _, err = run(["upscale", "-i", "in.png", "-n", "bicubic", "-o", "dir", "-s", "2",
                        "--pre_pad", "10"], capsys)
    assert code == 0 and Image.open(tmp_path / "dir" / "in.png").size == (32, 24), err
    assert "note: --pre_pad is ignored" in err


@pytest.mark.parametrize(("args", "message"), [
    (["in.png", "--face_enhance"], "--face_enhance: srgan does not restore faces; run GFPGAN"),
    (["in.png", "-g", "1", "--device", "cpu"], "--gpu-id 1 contradicts --device cpu"),
    (["-n", "bicubic"], "give an INPUT (or -i INPUT)"),
])
def test_realesrgan_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch, args: list[str],
                             message: str) -> None:
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "in.png")
    code, _, err = run(["upscale", *args], capsys)
    assert code == UsageError.exit_code and err.startswith(f"error: {message}"), err
    assert len(err.strip().splitlines()) == 1


def test_gpu_index_means_that_cuda_device() -> None:
    from srgan_cli.cli import upscale_cmd

    assert upscale_cmd._realesrgan_flags(["a"], "auto", 2, None, False, True) == "cuda:2"
    assert upscale_cmd._realesrgan_flags(["a"], "cuda:2", 2, None, False, True) == "cuda:2"
    assert upscale_cmd._realesrgan_flags(["a"], "cpu", None, None, False, True) == "cpu"


# ----------------------------------------------------------------------------- provenance


def _software(path: Path) -> str | None:
    with Image.open(path) as im:
        value = im.getexif().get(0x0131)
    return None if value is None else str(value)


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tif"])
def test_outputs_record_the_model_and_another_model_does_not_skip(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        ext: str) -> None:
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "in.png")
    out = tmp_path / "o" / f"in.{ext}"
    base = ["upscale", "in.png", "-o", "o", "--ext", ext, "-m", "bicubic"]
    code, stdout, err = run([*base, "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["model"] == {"name": "bicubic", "sha256": None}
    assert _software(out) == f"srgan-cli {_version} (model bicubic; x4)"
    code, stdout, err = run(base, capsys)  # the same model: skipped as before
    assert code == 0 and "skipped" in stdout, err
    code, stdout, err = run([*base, "-s", "2"], capsys)  # other options: refused, kept
    assert code == OutputError.exit_code, err
    assert "made by another model or options (model bicubic; x4); use " in err
    assert Image.open(out).size == (64, 48)
    code, _, err = run([*base, "-s", "2", "--skip-existing"], capsys)  # asked to keep it
    assert code == 0 and Image.open(out).size == (64, 48), err
    code, _, err = run([*base, "-s", "2", "--overwrite"], capsys)
    assert code == 0 and Image.open(out).size == (32, 24), err
    assert _software(out) == f"srgan-cli {_version} (model bicubic; x2)"


def test_stripped_outputs_carry_no_model_and_are_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "in.png")
    base = ["upscale", "in.png", "-o", "o", "-m", "bicubic", "--strip-metadata"]
    assert run(base, capsys)[0] == 0 and _software(tmp_path / "o" / "in.png") is None
    code, stdout, _ = run([*base, "-s", "2"], capsys)  # nothing says who made it: kept
    assert code == 0 and "skipped" in stdout


def test_a_model_file_is_recorded_with_its_hash(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "in.png")
    model = tmp_path / "tiny.safetensors"
    save_model(SRResNet(scale=2, num_blocks=1, channels=4), model, {"note": "test"})
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    code, stdout, err = run(["upscale", "in.png", "-o", "o", "-m", str(model), "--json",
                             "--device", "cpu"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["model"] == {"name": "tiny", "sha256": digest}
    assert f"(model tiny sha256:{digest[:16]}; x2)" in str(_software(tmp_path / "o" / "in.png"))


def test_video_eta_is_the_average_rate_since_it_started() -> None:
    """8% done after 20 s leaves about 230 s, whatever the last burst of frames suggests."""
    from srgan_cli.cli.console import live_progress
    from srgan_cli.cli.upscale_cmd import remaining_seconds

    assert remaining_seconds(8, 100, 20.0) == pytest.approx(230.0)
    assert remaining_seconds(0, 100, 20.0) is None and remaining_seconds(5, None, 1.0) is None
    bar = live_progress()
    task = bar.add_task("clip.mp4", total=100, completed=8, eta=230.0)
    column = bar.columns[-1]
    assert str(column(bar.tasks[task])) == "0:03:50"  # type: ignore[operator]
