"""Conformance: our metrics equal the textbook formulas and scikit-image, and the bicubic baseline
reproduces the published Set5/Set14 rows (EDSR, RCAN, ESRGAN, SwinIR papers).

The dataset part needs the real images: set SRGAN_TEST_DATA to the shared datasets folder."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from srgan_cli.evaluation.datasets import open_dataset
from srgan_cli.evaluation.evaluate import evaluate
from srgan_cli.evaluation.metrics import psnr, ssim
from srgan_cli.evaluation.scoring import predictor
from srgan_cli.models.descriptor import bicubic

# (PSNR dB, SSIM) of bicubic, Y channel, `scale` pixels cropped, as published (see the README of
# the $SRGAN_TEST_DATA folder)
PUBLISHED = {
    ("set5", 2): (33.66, 0.9299), ("set5", 3): (30.39, 0.8682), ("set5", 4): (28.42, 0.8104),
    ("set14", 2): (30.24, 0.8688), ("set14", 3): (27.55, 0.7742), ("set14", 4): (26.00, 0.7027),
}
PSNR_TOL = 0.02
SSIM_TOL = 0.001


# ----------------------------------------------------------------------------- reference maths


def ref_y(img: np.ndarray) -> np.ndarray:
    """Y = 16 + 65.481 R + 128.553 G + 24.966 B with RGB in [0, 1], per pixel."""
    out = np.empty(img.shape[:2], dtype=np.float64)
    for i in range(img.shape[0]):
        for j in range(img.shape[1]):
            r, g, b = (float(v) / 255.0 for v in img[i, j])
            out[i, j] = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b
    return out


def ref_plane(img: np.ndarray, crop: int) -> np.ndarray:
    p = ref_y(img) if img.ndim == 3 else img.astype(np.float64)
    h, w = p.shape
    return p[crop : h - crop, crop : w - crop]


def ref_psnr(sr: np.ndarray, hr: np.ndarray, crop: int) -> float:
    a, b = ref_plane(sr, crop), ref_plane(hr, crop)
    mse = sum(float(x - y) ** 2 for x, y in zip(a.ravel(), b.ravel(), strict=True)) / a.size
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ref_window() -> np.ndarray:
    x = np.arange(11) - 5.0
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
    return g / g.sum()


def ref_ssim(sr: np.ndarray, hr: np.ndarray, crop: int) -> float:
    """Wang et al. 2004, one 11x11 Gaussian window per valid position, two-pass moments."""
    a, b = ref_plane(sr, crop), ref_plane(hr, crop)
    w = ref_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            x, y = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            mx, my = np.sum(w * x), np.sum(w * y)
            vx, vy = np.sum(w * (x - mx) ** 2), np.sum(w * (y - my) ** 2)
            cxy = np.sum(w * (x - mx) * (y - my))
            values.append((2 * mx * my + c1) * (2 * cxy + c2)
                          / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def _pair(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, size=shape, dtype=np.uint8)
    # a smooth-ish HR (so that SSIM is not ~0) plus noise for SR
    hr = ((hr.astype(np.float64) + np.roll(hr, 1, axis=0) + np.roll(hr, 1, axis=1)) / 3).astype(
        np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-25, 26, size=shape), 0, 255).astype(np.uint8)
    return sr, hr


CASES = [((24, 24, 3), 0), ((27, 31, 3), 2), ((33, 19, 3), 3), ((25, 29), 2), ((21, 40), 0),
         ((30, 30, 3), 4)]


@pytest.mark.parametrize(("shape", "crop"), CASES)
def test_metrics_equal_reference_formulas(shape: tuple[int, ...], crop: int) -> None:
    sr, hr = _pair(shape, seed=sum(shape) + crop)
    assert abs(psnr(sr, hr, crop_border=crop) - ref_psnr(sr, hr, crop)) < 1e-6
    assert abs(ssim(sr, hr, crop_border=crop) - ref_ssim(sr, hr, crop)) < 1e-6


@pytest.mark.parametrize(("shape", "crop"), CASES)
def test_ssim_equals_skimage_structural_similarity(shape: tuple[int, ...], crop: int) -> None:
    sr, hr = _pair(shape, seed=7 * sum(shape) + crop)
    a, b = ref_plane(sr, crop), ref_plane(hr, crop)
    expected = structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=255)
    assert abs(ssim(sr, hr, crop_border=crop) - expected) < 1e-6


def test_identical_images_give_infinite_psnr() -> None:
    sr, _ = _pair((20, 20, 3), seed=1)
    assert psnr(sr, sr.copy()) == math.inf == ref_psnr(sr, sr, 0)


# ----------------------------------------------------------------------------- published rows


def _data() -> Path:
    root = os.environ.get("SRGAN_TEST_DATA")
    if not root:
        pytest.skip("SRGAN_TEST_DATA is not set")
    return Path(root)


@pytest.mark.parametrize("regenerate", [False, True], ids=["shipped-lr", "regenerated-lr"])
@pytest.mark.parametrize(("name", "scale"), sorted(PUBLISHED))
def test_bicubic_matches_published_row(name: str, scale: int, regenerate: bool) -> None:
    ds = open_dataset(name, scale, data_root=_data(), regenerate_lr=regenerate)
    assert ds.lr_source == ("bicubic" if regenerate else "file")
    result = evaluate(predictor(bicubic(scale)), ds, scale=scale)
    assert not result.failed
    assert result.crop_border == scale and result.y_channel
    want_psnr, want_ssim = PUBLISHED[(name, scale)]
    assert abs(result.mean_psnr - want_psnr) <= PSNR_TOL, result.mean_psnr
    assert abs(result.mean_ssim - want_ssim) <= SSIM_TOL, result.mean_ssim


@pytest.mark.slow
def test_cli_bicubic_x4_matches_published_rows(tmp_path: Path) -> None:
    root = _data()
    env = {**os.environ, "SRGAN_WEIGHTS_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "srgan_cli", "eval", "--model", "bicubic", "--dataset", "set5",
         "--dataset", "set14", "--scale", "4", "--data-root", str(root), "--json", "-"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    summary = {r["dataset"].lower(): r for r in json.loads(proc.stdout)["summary"]}
    for name in ("set5", "set14"):
        want_psnr, want_ssim = PUBLISHED[(name, 4)]
        assert abs(summary[name]["mean_psnr"] - want_psnr) <= PSNR_TOL
        assert abs(summary[name]["mean_ssim"] - want_ssim) <= SSIM_TOL
        assert summary[name]["protocol"]["crop_border"] == 4
