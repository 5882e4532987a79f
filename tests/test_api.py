"""The Python API: `srgan_cli.upscale`, `load_model`, `evaluate` (the CLI's engine, same kinds
in and out, the CLI's typed errors)."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import noise_pngs, random_pixels, run_srgan
from PIL import Image

import srgan_cli
from srgan_cli.errors import ModelError, UsageError
from srgan_cli.media.resize import imresize
from srgan_cli.models.descriptor import ModelDescriptor


def test_public_surface() -> None:
    assert set(srgan_cli.__all__) == {"__version__", "upscale", "load_model", "evaluate"}
    for name in ("upscale", "load_model", "evaluate"):
        fn = getattr(srgan_cli, name)
        assert callable(fn) and fn.__doc__
    importlib.import_module("srgan_cli.evaluation.evaluate")  # engine modules never shadow the API
    importlib.import_module("srgan_cli.upscaling.upscaler")
    assert callable(srgan_cli.upscale) and callable(srgan_cli.evaluate)


@pytest.mark.parametrize("shape", [(10, 7), (10, 7, 1), (10, 7, 2), (10, 7, 3), (10, 7, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_numpy_in_numpy_out(shape: tuple[int, ...], dtype: type) -> None:
    arr = random_pixels(shape, dtype)
    out = srgan_cli.upscale(arr, model="bicubic")
    assert isinstance(out, np.ndarray) and out.dtype == dtype
    assert out.shape == (40, 28, *shape[2:])
    planes = arr if arr.ndim == 3 else arr[..., None]
    c = planes.shape[2]
    if c >= 3:  # colour is exactly MATLAB bicubic, as `srgan upscale --model bicubic`
        assert np.array_equal(out[..., :3], imresize(np.ascontiguousarray(planes[..., :3]), 4))
    else:
        exp = imresize(np.ascontiguousarray(np.repeat(planes[..., :1], 3, axis=2)), 4)[..., 0]
        assert np.array_equal(out if out.ndim == 2 else out[..., 0], exp)
    if c in (2, 4):
        assert np.array_equal(out[..., -1], imresize(np.ascontiguousarray(planes[..., -1]), 4))


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "I;16"])
def test_pil_in_pil_out(mode: str) -> None:
    if mode == "I;16":
        im = Image.fromarray(random_pixels((9, 6), np.uint16))
        assert im.mode == "I;16"
    else:
        im = Image.fromarray(random_pixels((9, 6, 4), np.uint8), "RGBA").convert(mode)
    im.info["dpi"] = (72, 72)
    out = srgan_cli.upscale(im, model="bicubic", outscale=2)
    assert isinstance(out, Image.Image) and out.mode == mode and out.size == (12, 18)
    assert [round(d) for d in out.info["dpi"]] == [144, 144]  # printed size kept


def test_model_runs_like_the_cli(tiny_model_file, tmp_path: Path, run_cli) -> None:
    path = tiny_model_file(scale=2)
    img = random_pixels((12, 10, 3))
    model = srgan_cli.load_model(path)
    assert isinstance(model, ModelDescriptor) and model.scale == 2
    a = srgan_cli.upscale(img, model=str(path), device="cpu")
    b = srgan_cli.upscale(img, model=model, device="cpu", tile=4)  # loaded once, exact tiles
    assert a.shape == (24, 20, 3) and np.array_equal(a, b)
    Image.fromarray(img).save(tmp_path / "in.png")
    code, _, err = run_cli(["upscale", str(tmp_path / "in.png"), str(tmp_path / "out.png"),
                            "-m", str(path), "--device", "cpu"])
    assert code == 0, err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), a)


def test_errors_are_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRGAN_WEIGHTS_DIR", str(tmp_path))  # nothing bundled
    with pytest.raises(ModelError, match="srresnet_x4"):  # never a silent bicubic fallback
        srgan_cli.upscale(random_pixels((4, 4, 3)))
    with pytest.raises(ModelError):
        srgan_cli.load_model("srresnet_x4")
    with pytest.raises(UsageError, match="uint8 or uint16"):
        srgan_cli.upscale(np.zeros((4, 4, 3), np.float32), model="bicubic")
    with pytest.raises(UsageError, match="shape"):
        srgan_cli.upscale(np.zeros((4, 4, 5), np.uint8), model="bicubic")
    with pytest.raises(UsageError, match="PIL image or a numpy array"):
        srgan_cli.upscale([[1, 2]], model="bicubic")  # type: ignore[type-var]
    with pytest.raises(UsageError, match="output_dir"):
        srgan_cli.upscale(random_pixels((4, 4, 3)), model="bicubic", output_dir="x")
    with pytest.raises(UsageError, match="outscale must be positive"):
        srgan_cli.upscale(random_pixels((4, 4, 3)), model="bicubic", outscale=-1)


def test_an_engine_error_names_the_keyword_in_the_api_and_the_flag_on_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same check (`options.check_tiling`) says `tile_pad` to a Python caller and
    `--tile-pad` on the command line; after a command, the API names keywords again."""
    with pytest.raises(UsageError) as api:
        srgan_cli.upscale(random_pixels((4, 4, 3)), model="bicubic", tile_pad=-1)
    assert str(api.value) == "tile_pad must be >= 0, got -1"
    code, out, err = run_srgan(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path),
                                "--model", "bicubic", "--tile-pad=-1"], capsys)
    assert (code, out, err) == (2, "", "error: --tile-pad must be >= 0, got -1\n")
    with pytest.raises(UsageError, match="^tile_pad must be >= 0, got -1$"):
        srgan_cli.upscale(random_pixels((4, 4, 3)), model="bicubic", tile_pad=-1)


def test_load_model_bicubic_scale() -> None:
    model = srgan_cli.load_model("bicubic", scale=3)
    assert model.architecture == "bicubic" and model.scale == 3


def test_evaluate_is_the_cli_score(tmp_path: Path, run_cli) -> None:
    folder = noise_pngs(tmp_path / "set", 2, (24, 20))
    result = srgan_cli.evaluate("bicubic", folder)
    assert len(result.images) == 2 and result.scale == 4 and np.isfinite(result.mean_psnr)
    code, out, err = run_cli(["eval", "--model", "bicubic", "-d", str(folder), "--json", "-"])
    assert code == 0, err
    summary = json.JSONDecoder().raw_decode(out)[0]["summary"][0]
    assert summary["mean_psnr"] == result.mean_psnr and summary["mean_ssim"] == result.mean_ssim


@pytest.mark.skipif(not os.environ.get("SRGAN_TEST_DATA"), reason="SRGAN_TEST_DATA not set")
def test_evaluate_set5_bicubic_reference() -> None:
    result = srgan_cli.evaluate("bicubic", Path(os.environ["SRGAN_TEST_DATA"]) / "Set5")
    assert result.mean_psnr == pytest.approx(28.42, abs=0.02)  # the published bicubic x4 Set5
