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

Memory: each pass is computed in blocks of about ``CHUNK_BYTES`` of float64 and written straight
into an array of its final dtype, so an integer resize with per-pass rounding needs only its
uint8/uint16 result and intermediate. Float input gives float64 arrays (the intermediate and the
result), and integer input with ``rounding="once"`` keeps its intermediate in float64 (the second
pass needs it unrounded).
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
    stretch = scale < 1 and antialias  # shrinking: widen the kernel (MATLAB's antialiasing)
    width = kernel_width / scale if stretch else kernel_width

    def h(t: np.ndarray) -> np.ndarray:
        return scale * cubic(scale * t) if stretch else cubic(t)
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


CHUNK_BYTES = 1 << 20
"""Float64 working set of one block of a 1-D pass (accumulator + per-tap product). About the L2
cache: blocks of 1 MiB were 2-4x faster than whole-image float64 arrays, and memory no longer
grows with the image (see bench/bench_resize.py). Read at call time, so tests may lower it."""

_INNER = 8192  # elements per row of a block: long enough for numpy's inner loops


def _round_into(dst: np.ndarray, acc: np.ndarray) -> None:
    """dst[...] = acc rounded half away from zero and saturated to dst's unsigned dtype, as
    MATLAB converts (floor(a + 0.5) is that rounding for a >= 0; negative values saturate to 0
    either way). Overwrites acc."""
    info = np.iinfo(dst.dtype)
    np.add(acc, 0.5, out=acc)
    np.floor(acc, out=acc)
    np.clip(acc, info.min, info.max, out=acc)
    np.copyto(dst, acc, casting="unsafe")


def _block(
    part: np.ndarray,
    w_cols: list[np.ndarray],
    idx: np.ndarray,
    dst: np.ndarray,
    acc: np.ndarray,
    tmp: np.ndarray,
) -> None:
    """dst[i] = sum_p w_cols[p][i] * part[idx[i, p]] along the first axis of (L, N, C) arrays.

    The taps are summed in order, in float64, so any blocking gives the same bits as one whole
    array; integer `dst` gets each value rounded and saturated."""
    for p, w in enumerate(w_cols):
        gathered = part[idx[:, p]]
        if p == 0:
            np.multiply(w, gathered, out=acc)
        else:
            np.multiply(w, gathered, out=tmp)
            np.add(acc, tmp, out=acc)
    if dst.dtype.kind in "ui":
        _round_into(dst, acc)
    else:
        dst[...] = acc


def _resize_axis(
    img: np.ndarray,
    axis: int,
    out_len: int,
    scale: float,
    border: Border,
    antialias: bool,
    out_dtype: np.dtype,
) -> np.ndarray:
    """One 1-D pass of an HxW or HxWxC array into a new array of `out_dtype` (an integer dtype:
    each value rounded half away from zero and saturated).

    Works block by block with about CHUNK_BYTES of float64 (accumulator and product), never on
    a full-size float64 copy. Height pass: blocks of output rows x columns, gathered straight
    from the image. Width pass: blocks of output columns x a band of rows, from a transposed
    copy (in the source dtype) of just the source columns the block reads, so that the gathers
    copy whole rows and numpy's inner loops stay long in both passes."""
    weights, idx = contributions(img.shape[axis], out_len, scale, border, antialias)
    src = img if img.ndim == 3 else img[:, :, None]
    h, w, c = src.shape
    shape = [h, w, c]
    shape[axis] = out_len
    out = np.empty(shape, dtype=out_dtype)
    budget = max(1, CHUNK_BYTES)
    across = w if axis == 0 else h  # the axis the blocks are cut along besides the output one
    width = min(across, max(1, _INNER // c))
    length = min(out_len, max(1, budget // (2 * 8 * width * c)))
    acc_buf = np.empty((length, width, c), dtype=np.float64)
    tmp_buf = np.empty_like(acc_buf)
    w_all = [np.ascontiguousarray(weights[:, p]).reshape(out_len, 1, 1)
             for p in range(weights.shape[1])]
    for o0 in range(0, out_len, length):
        o1 = min(o0 + length, out_len)
        w_cols = [wc[o0:o1] for wc in w_all]
        sub = idx[o0:o1]
        lo, hi = int(sub.min()), int(sub.max()) + 1
        for a0 in range(0, across, width):
            a1 = min(a0 + width, across)
            acc, tmp = acc_buf[: o1 - o0, : a1 - a0], tmp_buf[: o1 - o0, : a1 - a0]
            if axis == 0:
                _block(src[:, a0:a1], w_cols, sub, out[o0:o1, a0:a1], acc, tmp)
            else:
                part = np.ascontiguousarray(src[a0:a1, lo:hi].transpose(1, 0, 2))
                dst = out[a0:a1, o0:o1].transpose(1, 0, 2)
                _block(part, w_cols, sub - lo, dst, acc, tmp)
    return out if img.ndim == 3 else out[:, :, 0]


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
    dims = [d for d in order if not (img.shape[d] == size[d] and scales[d] == 1)]
    out: np.ndarray = img
    for i, dim in enumerate(dims):
        last = i == len(dims) - 1
        rounded = is_int and (rounding == "per_pass" or last)
        dtype = img.dtype if rounded else np.dtype(np.float64)
        out = _resize_axis(out, dim, size[dim], scales[dim], border, antialias, dtype)
    return out if is_int else out.astype(np.float64, copy=False)


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so that height and width are multiples of `scale` (top-left kept)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]
