"""evaluation/evaluate.py (`evaluate`) with plain predictor callables on tiny in-memory samples."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srgan_cli.errors import DatasetError, InputImageError, ModelError
from srgan_cli.evaluation import report, scoring
from srgan_cli.evaluation.datasets import LoadFailure, Sample, open_dataset
from srgan_cli.evaluation.evaluate import (
    EvalResult,
    ImageScore,
    as_rgb,
    evaluate,
    summarize,
)
from srgan_cli.evaluation.metrics import psnr, rgb_to_gray, ssim
from srgan_cli.media.resize import imresize, modcrop
from srgan_cli.models.descriptor import bicubic


def _sample(name: str, h: int, w: int, scale: int, seed: int, gray: bool = False) -> Sample:
    shape = (h, w) if gray else (h, w, 3)
    rng = np.random.default_rng(seed)
    hr = modcrop(rng.integers(0, 256, size=shape, dtype=np.uint8), scale)
    return Sample(name, hr, imresize(hr, 1 / scale), "bicubic")


def _samples(scale: int = 2) -> list[Sample]:
    return [_sample("a", 32, 28, scale, 1), _sample("b", 24, 36, scale, 2),
            _sample("g", 30, 30, scale, 3, gray=True)]


def test_bicubic_scores_equal_the_metrics() -> None:
    samples = _samples()
    seen: list[ImageScore] = []
    result = evaluate(scoring.predictor(bicubic(2)), samples, scale=2, model_name="bicubic",
                      dataset_name="tiny", on_image=seen.append)
    assert (result.model, result.dataset, result.scale, result.crop_border) == (
        "bicubic", "tiny", 2, 2)
    assert [s.name for s in result.images] == ["a", "b", "g"] == [s.name for s in seen]
    for score, sample in zip(result.images, samples, strict=True):
        sr = imresize(as_rgb(sample.lr), 2)
        if sample.hr.ndim == 2:
            sr = sr[..., 0]
        assert score.ok and score.seconds >= 0
        assert score.psnr == psnr(sr, sample.hr, crop_border=2)
        assert score.ssim == ssim(sr, sample.hr, crop_border=2)
    assert result.mean_psnr == pytest.approx(np.mean([s.psnr for s in result.images]))
    assert result.mean_ssim == pytest.approx(np.mean([s.ssim for s in result.images]))
    assert not result.failed and not result.psnr_infinite


def test_crop_border_and_rgb_options() -> None:
    samples = _samples(scale=3)
    r = evaluate(scoring.predictor(bicubic(3)), samples, scale=3, crop_border=0, y_channel=False)
    first = samples[0]
    sr = imresize(first.lr, 3)
    assert r.crop_border == 0 and not r.y_channel
    assert r.images[0].psnr == psnr(sr, first.hr, crop_border=0, y_channel=False)


def test_gray_image_gets_rgb_and_is_scored_on_gray_of_the_output() -> None:
    sample = _sample("g", 30, 30, 2, 4, gray=True)
    inputs: list[np.ndarray] = []

    def predictor(lr: np.ndarray) -> np.ndarray:
        inputs.append(lr)
        sr = imresize(lr, 2).astype(np.int16)
        sr[..., 0] += 9  # channels differ: the score must use the gray of the output
        return np.clip(sr, 0, 255).astype(np.uint8)

    result = evaluate(predictor, [sample], scale=2)
    assert inputs[0].shape == (15, 15, 3)
    assert (inputs[0] == sample.lr[..., None]).all()
    sr_gray = rgb_to_gray(predictor(as_rgb(sample.lr)))
    assert result.images[0].psnr == psnr(sr_gray, sample.hr, crop_border=2)
    assert result.images[0].ssim == ssim(sr_gray, sample.hr, crop_border=2)


def test_perfect_prediction_gives_infinite_psnr() -> None:
    samples = _samples()[:2]
    lookup = {s.lr.tobytes(): s.hr for s in samples}
    result = evaluate(lambda lr: lookup[lr.tobytes()], samples, scale=2)
    assert all(s.psnr == math.inf for s in result.images)
    assert result.mean_psnr == math.inf and result.psnr_infinite
    assert result.mean_ssim == pytest.approx(1.0)


def test_failures_are_recorded_and_excluded_from_means() -> None:
    samples = _samples()

    def predictor(lr: np.ndarray) -> np.ndarray:
        if lr.shape[:2] == (16, 14):  # sample "a"
            raise RuntimeError("CUDA out of memory\nsecond line")
        if lr.shape[:2] == (12, 18):  # sample "b": wrong size
            return np.zeros((10, 10, 3), np.uint8)
        return imresize(lr, 2)

    result = evaluate(predictor, samples, scale=2)
    a, b, g = result.images
    assert a.error == "CUDA out of memory" and math.isnan(a.psnr)  # no exception class name
    assert (b.error or "").startswith("predictor output has shape (10, 10, 3), expected (24, 36")
    assert g.ok and result.failed == [a, b]
    assert result.mean_psnr == g.psnr and result.mean_ssim == g.ssim
    assert [a.error_code, b.error_code] == [1, 1]  # untyped errors: the mixed-batch code
    assert report.failure_exit_code([result]) == 1


def test_typed_failures_keep_their_exit_code() -> None:
    samples = _samples()

    def predictor(lr: np.ndarray) -> np.ndarray:
        raise ModelError("m.onnx: produced 10x10, expected 36x24")

    result = evaluate(predictor, samples, scale=2)
    assert [s.error for s in result.images] == ["m.onnx: produced 10x10, expected 36x24"] * 3
    assert report.failure_exit_code([result]) == ModelError.exit_code
    loads = evaluate(predictor, [LoadFailure("x", "x.png: cannot read image (truncated)")],
                     scale=2)
    assert report.failure_exit_code([loads]) == InputImageError.exit_code
    assert report.failure_exit_code([result, loads]) == 1  # mixed
    assert report.failure_exit_code([evaluate(lambda lr: imresize(lr, 2), samples,
                                              scale=2)]) == 0


def test_float_output_is_clamped_and_rounded() -> None:
    sample = _samples()[0]
    exact = evaluate(scoring.predictor(bicubic(2)), [sample], scale=2).images[0]
    floaty = evaluate(lambda lr: imresize(lr, 2).astype(np.float32) + 0.3, [sample],
                      scale=2).images[0]
    assert (floaty.psnr, floaty.ssim) == (exact.psnr, exact.ssim)


def test_save_dir_receives_the_scored_images(tmp_path: Path) -> None:
    samples = _samples()
    out = tmp_path / "sr" / "nested"
    evaluate(scoring.predictor(bicubic(2)), samples, scale=2, save_dir=out)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "g.png"]
    with Image.open(out / "a.png") as im:
        np.testing.assert_array_equal(np.asarray(im), imresize(samples[0].lr, 2))
    with Image.open(out / "g.png") as im:
        assert im.mode == "L"


def test_saved_images_have_normal_permissions_and_no_temp_files(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        evaluate(scoring.predictor(bicubic(2)), _samples(), scale=2, save_dir=tmp_path / "sr")
    finally:
        os.umask(old)
    files = sorted((tmp_path / "sr").iterdir())
    assert [p.name for p in files] == ["a.png", "b.png", "g.png"]  # no hidden temp files
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in files)


def test_unreadable_image_is_recorded_and_the_rest_is_scored(tmp_path: Path) -> None:
    arrays = {f"im{i}": _sample("x", 20, 22, 2, 20 + i).hr for i in range(3)}
    for name, arr in arrays.items():
        Image.fromarray(arr).save(tmp_path / f"{name}.png")
    data = (tmp_path / "im1.png").read_bytes()
    (tmp_path / "im1.png").write_bytes(data[: len(data) // 2])  # header intact, pixels cut
    ds = open_dataset(str(tmp_path), 2)
    seen: list[str] = []
    result = evaluate(scoring.predictor(bicubic(2)), ds, scale=2, save_dir=tmp_path / "sr",
                      on_image=lambda s: seen.append(s.name))
    assert seen == [s.name for s in result.images] == ["im0", "im1", "im2"]
    (bad,) = result.failed
    assert bad.name == "im1" and "im1.png: cannot read image" in (bad.error or "")
    assert math.isnan(bad.psnr) and math.isnan(bad.ssim)
    good = [Sample(n, a, imresize(a, 0.5), "bicubic") for n, a in arrays.items() if n != "im1"]
    expected = evaluate(scoring.predictor(bicubic(2)), good, scale=2)
    assert result.mean_psnr == expected.mean_psnr and result.mean_ssim == expected.mean_ssim
    assert sorted(p.name for p in (tmp_path / "sr").iterdir()) == ["im0.png", "im2.png"]
    # a LoadFailure in a plain iterable is recorded the same way
    mixed = evaluate(scoring.predictor(bicubic(2)), [good[0], LoadFailure("gone", "cannot read")],
                     scale=2)
    assert [s.error for s in mixed.images] == [None, "cannot read"]
    assert mixed.mean_psnr == mixed.images[0].psnr


def test_summarize_edge_cases() -> None:
    failed = ImageScore("x", math.nan, math.nan, 0.1, "ValueError: bad")
    r = summarize([failed], model="m", dataset="d", scale=4, crop_border=4, y_channel=True)
    assert isinstance(r, EvalResult) and math.isnan(r.mean_psnr) and math.isnan(r.seconds)
    assert not r.psnr_infinite
    empty = evaluate(scoring.predictor(bicubic(2)), [], scale=2)
    assert empty.images == [] and math.isnan(empty.mean_psnr)


def test_works_with_a_dataset_object(tmp_path: Path) -> None:
    for i in range(2):
        Image.fromarray(_sample("x", 20, 22, 2, 10 + i).hr).save(tmp_path / f"im{i}.png")
    ds = open_dataset(str(tmp_path), 2)
    result = evaluate(scoring.predictor(bicubic(2)), ds, scale=2)
    assert result.dataset == tmp_path.name and len(result.images) == 2
    with pytest.raises(ValueError, match="x2"):
        evaluate(scoring.predictor(bicubic(4)), ds, scale=4)
    with pytest.raises(ValueError, match="crop_border"):
        evaluate(scoring.predictor(bicubic(2)), ds, scale=2, crop_border=-1)


def test_images_too_small_for_the_crop_are_refused_before_any_prediction(
        tmp_path: Path) -> None:
    for i in range(30):  # 16 px with 4 px cropped at x2: 8x8 left, SSIM needs 11x11
        Image.fromarray(_sample("x", 16, 16, 2, i).hr).save(tmp_path / f"{i:02d}.png")
    Image.fromarray(_sample("x", 40, 40, 2, 99).hr).save(tmp_path / "big.png")
    calls: list[int] = []

    def predictor(lr: np.ndarray) -> np.ndarray:
        calls.append(1)
        return imresize(lr, 2)

    with pytest.raises(DatasetError) as info:
        evaluate(predictor, open_dataset(str(tmp_path), 2), scale=2, crop_border=4)
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path.name}: 30 of 31 images are too small to score (such as "
                          "00.png, 16x16)") and "\n" not in msg and "Error" not in msg
    assert calls == []
    result = evaluate(predictor, open_dataset(str(tmp_path), 2), scale=2, crop_border=2)
    assert result.failed == [] and len(calls) == 31  # 16 - 2*2 = 12: scores
