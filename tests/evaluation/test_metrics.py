"""Unit tests of metrics.py: conversions, PSNR/SSIM values, cropping, gray handling, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import random_pixels
from skimage.metrics import structural_similarity

from srgan_cli.evaluation import metrics
from srgan_cli.evaluation.metrics import psnr, psnr_ssim, rgb_to_gray, rgb_to_y, ssim, to_uint8


def _noisy(img: np.ndarray, seed: int = 1, amp: int = 12) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-amp, amp + 1, size=img.shape)
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)


def test_rgb_to_y_range_and_weights() -> None:
    img = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 0, 255]]], dtype=np.uint8)
    y = rgb_to_y(img)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y[0], [16.0, 235.0, 16 + 65.481, 16 + 24.966], atol=1e-12)


def test_rgb_to_gray_is_y_without_offset_and_keeps_gray_values() -> None:
    img = random_pixels((9, 7, 3))
    expected = np.floor((rgb_to_y(img) - 16.0) * 255.0 / 219.0 + 0.5)
    np.testing.assert_array_equal(rgb_to_gray(img), expected.astype(np.uint8))
    gray = random_pixels((9, 7))
    np.testing.assert_array_equal(rgb_to_gray(np.repeat(gray[..., None], 3, axis=2)), gray)
    np.testing.assert_array_equal(rgb_to_gray(gray), gray)


def test_to_uint8_clamps_and_rounds_half_up() -> None:
    a = np.array([-3.0, 0.49, 0.5, 1.5, 254.6, 300.0])
    np.testing.assert_array_equal(to_uint8(a), [0, 0, 1, 2, 255, 255])
    u = random_pixels((3, 3))
    assert to_uint8(u) is u
    with pytest.raises(ValueError, match="uint16"):
        to_uint8(u.astype(np.uint16))
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(np.array([np.nan]))


def test_psnr_known_value_and_infinite_for_identical() -> None:
    hr = np.zeros((20, 20), dtype=np.uint8)
    sr = np.full((20, 20), 10, dtype=np.uint8)
    assert psnr(sr, hr) == pytest.approx(10 * math.log10(255**2 / 100.0), abs=1e-12)
    assert psnr(hr, hr) == math.inf
    rgb = random_pixels((16, 16, 3))
    assert psnr(rgb, rgb.copy()) == math.inf
    assert ssim(rgb, rgb.copy()) == pytest.approx(1.0, abs=1e-12)


def test_float_sr_is_rounded_before_scoring() -> None:
    hr = random_pixels((24, 24, 3))
    sr = _noisy(hr)
    sr_float = sr.astype(np.float64) + np.random.default_rng(3).uniform(-0.49, 0.49, sr.shape)
    assert psnr(sr_float, hr) == psnr(sr, hr)
    assert ssim(sr_float, hr) == ssim(sr, hr)


def test_crop_border_removes_every_edge() -> None:
    hr = random_pixels((30, 26, 3))
    sr = hr.copy()
    sr[:3] = 0
    sr[-3:] = 0
    sr[:, :3] = 0
    sr[:, -3:] = 0
    assert math.isfinite(psnr(sr, hr, crop_border=2))
    assert psnr(sr, hr, crop_border=3) == math.inf
    assert ssim(sr, hr, crop_border=3) == pytest.approx(1.0)


def test_rgb_mode_scores_all_channels() -> None:
    hr = random_pixels((20, 22, 3))
    sr = _noisy(hr)
    mse = np.mean((sr.astype(float) - hr.astype(float)) ** 2)
    assert psnr(sr, hr, y_channel=False) == pytest.approx(10 * math.log10(255**2 / mse))
    per_channel = [
        structural_similarity(sr[..., c].astype(float), hr[..., c].astype(float),
                              gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                              data_range=255)
        for c in range(3)
    ]
    assert ssim(sr, hr, y_channel=False) == pytest.approx(np.mean(per_channel), abs=1e-9)


@pytest.mark.parametrize("shape", [(11, 11), (37, 23), (64, 48, 3), (33, 41, 3)])
def test_ssim_equals_skimage(shape: tuple[int, ...]) -> None:
    hr = random_pixels(shape, seed=5)
    sr = _noisy(hr, amp=40)
    a = rgb_to_y(sr) if len(shape) == 3 else sr.astype(np.float64)
    b = rgb_to_y(hr) if len(shape) == 3 else hr.astype(np.float64)
    ref = structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=255)
    assert abs(ssim(sr, hr) - ref) < 1e-9


def test_gray_hr_with_rgb_sr_is_scored_on_gray_values() -> None:
    gray = random_pixels((25, 25))
    sr_gray = _noisy(gray)
    sr_rgb = np.repeat(sr_gray[..., None], 3, axis=2)
    assert psnr(sr_rgb, gray) == psnr(sr_gray, gray)
    assert ssim(sr_rgb, gray) == ssim(sr_gray, gray)
    # Y of the replicated gray would differ (scaled to [16, 235])
    assert psnr(sr_rgb, np.repeat(gray[..., None], 3, axis=2)) != psnr(sr_gray, gray)
    hx1 = gray[..., None]
    assert psnr(sr_gray, hx1) == psnr(sr_gray, gray)


def test_psnr_ssim_matches_separate_calls() -> None:
    hr = random_pixels((40, 31, 3), seed=9)
    sr = _noisy(hr)
    assert psnr_ssim(sr, hr, crop_border=4) == (psnr(sr, hr, 4), ssim(sr, hr, 4))


def test_errors() -> None:
    a = random_pixels((20, 20, 3))
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, a[:19])
    with pytest.raises(ValueError, match="nothing left"):
        psnr(a, a, crop_border=10)
    with pytest.raises(ValueError, match=">= 0"):
        psnr(a, a, crop_border=-1)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(a, a, crop_border=5)
    with pytest.raises(ValueError, match="HxW or HxWx3"):
        psnr(np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8))


def test_protocol_describes_the_parameters() -> None:
    p = metrics.protocol(4, True)
    assert p["crop_border"] == 4 and p["y_channel"] is True and p["psnr_peak"] == 255
    assert p["ssim"] == {"window": "gaussian", "size": 11, "sigma": 1.5, "k1": 0.01, "k2": 0.03,
                         "region": "valid"}
