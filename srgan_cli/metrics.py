"""PSNR and SSIM by the standard SR protocol (BasicSR ``test_y_channel=True`` / MATLAB).

Scores are computed on uint8-rounded images, on the BT.601 luma Y (MATLAB ``rgb2ycbcr``) unless
``y_channel=False``, with ``crop_border`` pixels removed from every edge. A grayscale image is
scored on its own values."""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import correlate1d

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y in [16, 235] (float64) of an HxWx3 RGB image in [0, 255]."""
    rgb = img.astype(np.float64) / 255.0
    return 16.0 + rgb @ _Y_WEIGHTS


def _prepare(img: np.ndarray, crop_border: int, y_channel: bool) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3 and y_channel:
        a = rgb_to_y(a)
    a = a.astype(np.float64)
    if crop_border > 0:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
    return a


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def psnr(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """PSNR in dB (peak 255) of two uint8 images; ``math.inf`` when they are identical."""
    _check_pair(sr, hr)
    a = _prepare(sr, crop_border, y_channel)
    b = _prepare(hr, crop_border, y_channel)
    if a.size == 0:
        raise ValueError("nothing left to score after cropping the border")
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def _ssim_2d(a: np.ndarray, b: np.ndarray) -> float:
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    g = _gaussian_1d()
    pad = len(g) // 2
    if a.shape[0] < len(g) or a.shape[1] < len(g):
        raise ValueError(f"SSIM needs at least {len(g)}x{len(g)} pixels, got {a.shape}")

    def blur(x: np.ndarray) -> np.ndarray:
        out = correlate1d(correlate1d(x, g, axis=0, mode="constant"), g, axis=1, mode="constant")
        return out[pad:-pad, pad:-pad]  # 'valid' region

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def ssim(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """SSIM of Wang et al. (11x11 Gaussian, sigma 1.5, K1 0.01, K2 0.03, valid region, mean).

    Colour images scored with ``y_channel=False`` average the per-channel SSIM."""
    _check_pair(sr, hr)
    a = _prepare(sr, crop_border, y_channel)
    b = _prepare(hr, crop_border, y_channel)
    if a.ndim == 2:
        return _ssim_2d(a, b)
    return float(np.mean([_ssim_2d(a[..., c], b[..., c]) for c in range(a.shape[2])]))
