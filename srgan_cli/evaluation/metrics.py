"""PSNR and SSIM by the standard SR protocol (BasicSR ``test_y_channel=True`` / MATLAB).

Both images are clamped and rounded to uint8 first, then scored on the BT.601 luma
Y = 16 + 65.481 R + 128.553 G + 24.966 B (RGB in [0, 1], Y not rounded, as BasicSR) unless
``y_channel=False``, with ``crop_border`` pixels removed from every edge. A grayscale image is
scored on its own values; an RGB image compared with a gray one is first made gray with
:func:`rgb_to_gray` (the Y weights without offset and range scaling, i.e. MATLAB ``rgb2gray``).

SSIM is Wang et al. (2004): 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, population
(co)variances, the mean of the map over the 'valid' region. It equals scikit-image's
``structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255)`` to ~1e-15 and runs about 1.3x faster (separable float64 filtering, four blurs).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.ndimage import correlate1d

PEAK = 255.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)
_GRAY_WEIGHTS = _Y_WEIGHTS / 219.0  # 0.299, 0.587, 0.114


def protocol(crop_border: int, y_channel: bool) -> dict[str, Any]:
    """The scoring protocol as plain data, for reports."""
    return {
        "y_channel": y_channel,
        "y_formula": "16 + 65.481 R + 128.553 G + 24.966 B (RGB in [0,1], not rounded)",
        "gray_images": "own values",
        "crop_border": crop_border,
        "psnr_peak": PEAK,
        "ssim": {
            "window": "gaussian",
            "size": SSIM_WINDOW,
            "sigma": SSIM_SIGMA,
            "k1": SSIM_K1,
            "k2": SSIM_K2,
            "region": "valid",
        },
    }


def to_uint8(img: np.ndarray) -> np.ndarray:
    """uint8 as is; floats (0..255 scale) clamped and rounded half up; other dtypes rejected."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"expected a uint8 or float (0..255) image, got dtype {a.dtype}")
    if np.isnan(a).any():
        raise ValueError("image contains NaN")
    return np.floor(np.clip(a, 0.0, 255.0) + 0.5).astype(np.uint8)


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y in [16, 235] (float64, unrounded) of an HxWx3 RGB image in [0, 255]."""
    rgb = np.asarray(img, dtype=np.float64) / 255.0
    return 16.0 + rgb @ _Y_WEIGHTS


def rgb_to_gray(img: np.ndarray) -> np.ndarray:
    """uint8 HxW gray 0.299 R + 0.587 G + 0.114 B, rounded half up (MATLAB ``rgb2gray``).

    This is Y without its offset and range scaling, so a gray image replicated to RGB comes back
    unchanged. Used to score the SR of a gray image on the gray image's own values."""
    a = to_uint8(img)
    if a.ndim == 2:
        return a
    if a.ndim == 3 and a.shape[2] == 1:
        return a[..., 0]
    gray = a.astype(np.float64) @ _GRAY_WEIGHTS
    return np.floor(gray + 0.5).astype(np.uint8)


def _squeeze(a: np.ndarray) -> np.ndarray:
    if a.ndim == 3 and a.shape[2] == 1:
        return a[..., 0]
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3):
        return a
    raise ValueError(f"expected an HxW or HxWx3 image, got shape {a.shape}")


def _prepare_pair(
    sr: np.ndarray, hr: np.ndarray, crop_border: int, y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 planes (HxW) or HxWx3, uint8-quantised, converted and cropped."""
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    a, b = _squeeze(to_uint8(sr)), _squeeze(to_uint8(hr))
    if a.ndim != b.ndim:  # one gray, one RGB: score on gray values
        a, b = rgb_to_gray(a), rgb_to_gray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim == 3 and y_channel:
        fa, fb = rgb_to_y(a), rgb_to_y(b)
    else:
        fa, fb = a.astype(np.float64), b.astype(np.float64)
    if crop_border > 0:
        fa = fa[crop_border:-crop_border, crop_border:-crop_border]
        fb = fb[crop_border:-crop_border, crop_border:-crop_border]
    if fa.shape[0] == 0 or fa.shape[1] == 0:
        raise ValueError(
            f"nothing left to score after cropping {crop_border} pixels from {a.shape[:2]}"
        )
    return fa, fb


def psnr_of_mse(mse: float) -> float:
    """PSNR in dB of a mean squared error on the 0-255 scale (inf for 0)."""
    return math.inf if mse == 0 else 10.0 * math.log10(PEAK * PEAK / mse)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    d = a - b
    return psnr_of_mse(float(np.mean(d * d)))


def _gaussian_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


_G = _gaussian_1d()
_R = SSIM_WINDOW // 2


def _blur_valid(x: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter, keeping only the positions where the window fits."""
    t = correlate1d(x, _G, axis=1, mode="constant")[:, _R:-_R]
    return correlate1d(t, _G, axis=0, mode="constant")[_R:-_R]


def _ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape[0] < SSIM_WINDOW or a.shape[1] < SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after cropping, got "
            f"{a.shape[0]}x{a.shape[1]}"
        )
    c1 = (SSIM_K1 * PEAK) ** 2
    c2 = (SSIM_K2 * PEAK) ** 2
    mu_a = _blur_valid(a)
    mu_b = _blur_valid(b)
    sum_sq = _blur_valid(a * a + b * b)  # var_a + var_b + mu_a^2 + mu_b^2
    cross = _blur_valid(a * b)
    mu_ab = mu_a * mu_b
    mu_sq = mu_a * mu_a
    mu_sq += mu_b * mu_b
    num = 2.0 * mu_ab + c1
    cross -= mu_ab  # covariance
    cross *= 2.0
    cross += c2
    num *= cross
    sum_sq -= mu_sq  # var_a + var_b
    sum_sq += c2
    mu_sq += c1
    sum_sq *= mu_sq
    num /= sum_sq
    return float(num.mean())


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    if a.ndim == 2:
        return _ssim_plane(a, b)
    return float(np.mean([_ssim_plane(a[..., c], b[..., c]) for c in range(a.shape[2])]))


def psnr(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """PSNR in dB (peak 255) of two images; ``math.inf`` when they are identical.

    With ``y_channel=False`` an RGB pair is scored on all channels (one MSE over all values)."""
    a, b = _prepare_pair(sr, hr, crop_border, y_channel)
    return _psnr(a, b)


def ssim(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """SSIM of Wang et al. (11x11 Gaussian, sigma 1.5, K1 0.01, K2 0.03, valid region, mean).

    With ``y_channel=False`` an RGB pair scores the mean of the per-channel SSIMs."""
    a, b = _prepare_pair(sr, hr, crop_border, y_channel)
    return _ssim(a, b)


def psnr_ssim(
    sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, y_channel: bool = True
) -> tuple[float, float]:
    """``(psnr(...), ssim(...))`` with the conversion and cropping done once."""
    a, b = _prepare_pair(sr, hr, crop_border, y_channel)
    return _psnr(a, b), _ssim(a, b)
