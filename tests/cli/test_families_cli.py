"""Every model family through the CLI, in process: `srgan upscale --model f.pth` equals the
architecture run directly, tiled equals untiled for exact families (approximate ones are marked
in the JSON record), `srgan eval` scores it; the same for an exported ONNX file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_srgan as run
from model_families import families

from srgan_cli.media.decode import ImageData, read_image
from srgan_cli.media.encode import write_image
from srgan_cli.media.pixels import image_to_tensor, tensor_to_image
from srgan_cli.options import WHOLE_IMAGE

FAMILIES = families()
LR_H, LR_W = 18, 21  # odd sizes: size requirements (SwinIR: multiples of 4) get padded


pytestmark = pytest.mark.usefixtures("one_thread")


def lr_image(path: Path, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:LR_H, 0:LR_W]
    base = np.stack([xx / LR_W, yy / LR_H, (xx + yy) / (LR_W + LR_H)], axis=2) * 200
    arr = np.clip(base + rng.normal(0, 15, (LR_H, LR_W, 3)), 0, 255).astype(np.uint8)
    write_image(path, _image(arr))
    return arr


def _image(arr: np.ndarray) -> ImageData:
    return ImageData(color=arr, alpha=None, gray=False, bit_depth=8, icc_profile=None,
                     source_mode="RGB")


def upscale(model: str, src: Path, out: Path, capsys: pytest.CaptureFixture[str],
            *extra: str) -> tuple[np.ndarray, dict[str, object]]:
    code, stdout, err = run(["upscale", str(src), "--output", str(out), "--model", model,
                             "--device", "cpu", "--precision", "fp32", "--json", "--overwrite",
                             *extra], capsys)
    assert code == 0, err
    return read_image(out).color, json.loads(stdout.strip().splitlines()[-1])


def save_pth(tmp_path: Path, family: str) -> Path:
    path = tmp_path / f"{family}.pth"
    torch.save({"params_ema": FAMILIES[family][0]}, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_upscale_tile_and_eval_each_family(tmp_path: Path, family: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    state, reference, _, exact = FAMILIES[family]
    model = str(save_pth(tmp_path, family))
    arr = lr_image(tmp_path / "lr.png")
    whole, rec = upscale(model, tmp_path / "lr.png", tmp_path / "whole.png", capsys, "--tile", "0")
    want = tensor_to_image(reference(image_to_tensor(arr)))
    assert whole.shape == want.shape
    assert np.abs(whole.astype(int) - want.astype(int)).max() <= 1
    assert rec["tile"] == WHOLE_IMAGE and rec["tiling_exact"] is True
    pad = [] if exact else ["--tile-pad", "4"]  # the default pad would cover the tiny image
    tiled, rec = upscale(model, tmp_path / "lr.png", tmp_path / "tiled.png", capsys, "--tile", "8",
                         *pad)
    assert rec["tile"] == 8 and rec["tiling_exact"] is exact
    if exact:
        assert np.array_equal(tiled, whole)
    else:  # approximate: runs at the model's multiple, is marked, and stays close
        assert tiled.shape == whole.shape
        assert np.abs(tiled.astype(int) - whole.astype(int)).mean() < 8
    scale = whole.shape[0] // LR_H
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    write_image(hr_dir / "a.png", _image(whole))  # HR of the right size for the model's scale
    code, out, err = run(["eval", "--model", model, "--dataset", str(hr_dir), "--device", "cpu",
                          "--scale", str(scale), "--json", str(tmp_path / "e.json")], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "e.json").read_text())
    assert family in out and "a" in json.dumps(summary)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["srresnet", "edsr_official", "compact"])
def test_onnx_export_cli_then_upscale_and_eval(tmp_path: Path, family: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    pth = save_pth(tmp_path, family)
    onnx = tmp_path / "m.onnx"
    code, out, err = run(["export", str(pth), str(onnx), "--card", "note=x"], capsys)
    assert code == 0, err
    assert out.startswith(f"wrote {onnx}") and "ONNX" in out
    code, _, err = run(["export", str(pth), str(onnx)], capsys)
    assert code == 4 and "exists" in err  # OutputError, nothing replaced
    lr_image(tmp_path / "lr.png", seed=2)
    torch_out, _ = upscale(str(pth), tmp_path / "lr.png", tmp_path / "t.png", capsys, "--tile", "8")
    onnx_out, rec = upscale(str(onnx), tmp_path / "lr.png", tmp_path / "o.png", capsys,
                            "--tile", "8")
    assert np.abs(onnx_out.astype(int) - torch_out.astype(int)).max() <= 1
    assert rec["tiling_exact"] is True  # exact tiling travels in the ONNX metadata
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    write_image(hr_dir / "a.png", _image(torch_out))
    scale = torch_out.shape[0] // LR_H
    code, out, err = run(["eval", "--model", str(onnx), "--model", str(pth), "--dataset",
                          str(hr_dir), "--device", "cpu", "--scale", str(scale)], capsys)
    assert code == 0, err
    assert "m" in out and family in out


@pytest.mark.slow
def test_onnx_export_of_a_run_and_refusals(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["export", "bicubic", str(tmp_path / "b.onnx")], capsys)
    assert code == 5 and "no PyTorch network" in err and not (tmp_path / "b.onnx").exists()
    pth = save_pth(tmp_path, "srresnet")
    code, _, err = run(["export", str(pth), str(tmp_path / "m.onnx"), "--measure", "set5"],
                       capsys)
    assert code == 2 and "--measure" in err and not (tmp_path / "m.onnx").exists()
