"""MATLAB-exact bicubic ``imresize`` (vectorised numpy) and ``modcrop``.

MATLAB's ``imresize(I, scale, 'bicubic')`` uses Keys' cubic (a = -0.5), widens the kernel by 1/s
when shrinking (antialiasing), samples at ``u = x/scale + 0.5 (1 - 1/scale)`` (1-based) and
normalises each row of weights. It resizes one dimension at a time, the one shrunk most first
(height first on ties). Three variants exist (see ``../shared/datasets/README.md``):

- ``"matlab"`` (A): uint8/uint16 input, mirror padding, each 1-D pass rounded half away from zero
  and saturated. This reproduces the official Set5 / DIV2K LR images bit for bit.
- float input (B): the same maths with no intermediate rounding (BasicSR's ``imresize``); pass
  ``rounding="once"`` with integer input to round only the final result.
- ``border="replicate"`` (C): older MATLAB, border indices clamped instead of mirrored.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

Border = Literal["symmetric", "replicate"]
Rounding = Literal["per_pass", "once"]


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (
        -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2
    ) * ((ax > 1) & (ax <= 2))


def contributions(
    in_len: int, out_len: int, scale: float, border: Border = "symmetric", antialias: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_len, P) and 0-based source indices (out_len, P) of one 1-D resize."""
    kernel_width = 4.0
    if scale < 1 and antialias:
        width = kernel_width / scale

        def h(t: np.ndarray) -> np.ndarray:
            return scale * cubic(scale * t)
    else:
        width = kernel_width
        h = cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weights = h(u[:, None] - idx)
    weights = weights / weights.sum(axis=1, keepdims=True)
    idx0 = idx.astype(np.int64) - 1  # to 0-based
    if border == "symmetric":
        period = 2 * in_len
        m = np.mod(idx0, period)
        idx0 = np.where(m < in_len, m, period - 1 - m)
    elif border == "replicate":
        idx0 = np.clip(idx0, 0, in_len - 1)
    else:
        raise ValueError(f"unknown border mode {border!r}")
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], idx0[:, keep]


def _round_saturate(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    # half away from zero (MATLAB), values are >= 0 after clipping at the low end
    return np.clip(np.floor(a + 0.5), info.min, info.max).astype(dtype)


def _resize_axis(
    img: np.ndarray, axis: int, out_len: int, scale: float, border: Border, antialias: bool
) -> np.ndarray:
    weights, idx = contributions(img.shape[axis], out_len, scale, border, antialias)
    moved = np.moveaxis(img, axis, 0)
    src = moved.astype(np.float64, copy=False)
    extra = (1,) * (src.ndim - 1)
    out = np.zeros((out_len,) + src.shape[1:], dtype=np.float64)
    for p in range(weights.shape[1]):
        out += weights[:, p].reshape((out_len,) + extra) * src[idx[:, p]]
    return np.moveaxis(out, 0, axis)


def output_size(in_hw: tuple[int, int], scale: float) -> tuple[int, int]:
    """MATLAB's output size for a scale factor: ceil(scale * size)."""
    return (int(math.ceil(in_hw[0] * scale - 1e-9)), int(math.ceil(in_hw[1] * scale - 1e-9)))


def imresize(
    img: np.ndarray,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    *,
    border: Border = "symmetric",
    rounding: Rounding = "per_pass",
    antialias: bool = True,
) -> np.ndarray:
    """Bicubic resize of an HxW or HxWxC array by `scale` or to `size` = (H, W), as MATLAB does.

    Integer arrays (uint8, uint16) come back in their dtype; with ``rounding="per_pass"`` each 1-D
    pass is rounded (MATLAB on uint8), with ``"once"`` only the result (MATLAB on double, then
    ``uint8``). Float arrays come back as float64, unrounded and unclipped."""
    if img.ndim not in (2, 3):
        raise ValueError(f"expected an HxW or HxWxC array, got shape {img.shape}")
    in_h, in_w = img.shape[:2]
    if in_h == 0 or in_w == 0:
        raise ValueError("cannot resize an empty image")
    if size is None:
        if scale is None or scale <= 0:
            raise ValueError("give a positive scale or an output size")
        size = output_size((in_h, in_w), scale)
        scales = (float(scale), float(scale))
    else:
        if size[0] < 1 or size[1] < 1:
            raise ValueError(f"output size must be positive, got {size}")
        scales = (size[0] / in_h, size[1] / in_w)
    is_int = np.issubdtype(img.dtype, np.integer)
    if is_int and img.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"integer input must be uint8 or uint16, got {img.dtype}")
    order = sorted(range(2), key=lambda d: scales[d])  # most shrinking first; stable on ties
    out: np.ndarray = img
    for dim in order:
        if out.shape[dim] == size[dim] and scales[dim] == 1:
            continue
        out = _resize_axis(out, dim, size[dim], scales[dim], border, antialias)
        if is_int and rounding == "per_pass":
            out = _round_saturate(out, img.dtype)
    if is_int:
        return out if out.dtype == img.dtype else _round_saturate(out, img.dtype)
    return out.astype(np.float64, copy=False)


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so that height and width are multiples of `scale` (top-left kept)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]
