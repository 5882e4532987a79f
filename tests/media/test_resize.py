"""resize.imresize against a plain per-pixel transcription of MATLAB's algorithm (no real data).

The reference below is written from MATLAB's imresize, not from our module: for output x
(1-based) u = x/scale + 0.5 (1 - 1/scale), left = floor(u - width/2), P = ceil(width) + 2 taps,
Keys' cubic with a = -0.5, and when shrinking width = 4/scale with h(x) = scale * cubic(scale x);
weights normalised to sum 1; out-of-range indices mirrored through aux = [1:n, n:-1:1] (or
clamped, variant C); the dimension shrunk most first (height on ties); uint8/uint16 rounded half
away from zero and saturated after each pass (or only at the end with rounding="once")."""

from __future__ import annotations

import math
import tracemalloc
from typing import Any

import numpy as np
import pytest

from srgan_cli.media import resize
from srgan_cli.media.resize import imresize, modcrop


def cubic_ref(x: float) -> float:
    ax = abs(x)
    if ax <= 1:
        return 1.5 * ax**3 - 2.5 * ax**2 + 1
    if ax <= 2:
        return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
    return 0.0


def taps_ref(in_len: int, out_len: int, scale: float, border: str) -> list[list[tuple[int, float]]]:
    """For each output index: (0-based source index, weight) pairs, MATLAB's `contributions`."""
    shrink = scale < 1
    width = 4 / scale if shrink else 4.0
    aux = list(range(1, in_len + 1)) + list(range(in_len, 0, -1))
    rows = []
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = math.ceil(width) + 2
        ind = [left + j for j in range(taps)]
        if shrink:
            w = [scale * cubic_ref(scale * (u - i)) for i in ind]
        else:
            w = [cubic_ref(u - i) for i in ind]
        total = sum(w)
        w = [v / total for v in w]
        if border == "symmetric":
            ind = [aux[(i - 1) % len(aux)] for i in ind]
        else:
            ind = [min(max(i, 1), in_len) for i in ind]
        rows.append([(i - 1, v) for i, v in zip(ind, w, strict=True)])
    return rows


def round_ref(v: float, peak: int) -> int:
    """MATLAB's conversion to uint: round half away from zero, then saturate."""
    r = math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1)
    return min(max(r, 0), peak)


def pass_ref(a: list, axis: int, out_len: int, scale: float, border: str,
             peak: int | None) -> list:
    """One 1-D pass over nested lists [H][W][C], one output pixel at a time."""
    h, w, c = len(a), len(a[0]), len(a[0][0])
    in_len, other = (h, w) if axis == 0 else (w, h)
    taps = taps_ref(in_len, out_len, scale, border)
    out_h, out_w = (out_len, w) if axis == 0 else (h, out_len)
    out = [[[0.0] * c for _ in range(out_w)] for _ in range(out_h)]
    for o in range(out_len):
        for j in range(other):
            for ch in range(c):
                s = 0.0
                for i, wt in taps[o]:
                    s += wt * (a[i][j][ch] if axis == 0 else a[j][i][ch])
                y, x = (o, j) if axis == 0 else (j, o)
                out[y][x][ch] = s if peak is None else round_ref(s, peak)
    return out


def imresize_ref(img: np.ndarray, scale: float | None = None,
                 size: tuple[int, int] | None = None, border: str = "symmetric",
                 rounding: str = "per_pass") -> np.ndarray:
    gray = img.ndim == 2
    a = (img[:, :, None] if gray else img).astype(np.float64).tolist()
    h, w = img.shape[:2]
    if size is None:
        assert scale is not None
        # MATLAB: ceil(scale * size); the -1e-9 keeps 18 * (1/3) at 6 despite binary fractions
        size = (math.ceil(h * scale - 1e-9), math.ceil(w * scale - 1e-9))
        scales = (scale, scale)
    else:
        scales = (size[0] / h, size[1] / w)
    peak = int(np.iinfo(img.dtype).max) if img.dtype.kind == "u" else None
    order = [1, 0] if scales[1] < scales[0] else [0, 1]
    dims = [d for d in order if not (scales[d] == 1 and img.shape[d] == size[d])]
    for k, d in enumerate(dims):
        last = k == len(dims) - 1
        a = pass_ref(a, d, size[d], scales[d], border,
                     peak if rounding == "per_pass" or last else None)
    out = np.array(a, dtype=img.dtype if peak is not None else np.float64)
    return out[:, :, 0] if gray else out


def random_image(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    return rng.random(shape).astype(dtype)


def assert_matches(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    if want.dtype.kind == "u":
        assert np.array_equal(got, want), f"{int((got != want).sum())} values differ"
    else:  # the reference sums the normalisation in another order: last-bit differences only
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- vs reference


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize(
    ("shape", "scale"),
    [((24, 20, 3), 1 / 2), ((24, 21, 3), 1 / 3), ((26, 20, 3), 1 / 4),
     ((7, 9, 3), 2), ((7, 9, 3), 3), ((5, 6, 3), 4)],
)
def test_scales_match_reference(shape: tuple[int, ...], scale: float, dtype: type) -> None:
    img = random_image(shape, dtype)
    assert_matches(imresize(img, scale), imresize_ref(img, scale))


@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [
        ((17, 23, 3), {"size": (40, 9)}),  # height enlarged, width shrunk most: width first
        ((17, 23, 3), {"size": (9, 40)}),
        ((17, 23, 3), {"scale": 1 / 3}),  # ceil: 6 x 8
        ((12, 12, 3), {"size": (5, 5)}),  # a tie: height first
        ((9, 1), {"scale": 2}),  # one pixel wide, gray
        ((9, 1), {"scale": 1 / 2}),
        ((1, 7, 3), {"scale": 3}),
        ((1, 1, 3), {"size": (3, 2)}),
        ((12, 10), {"scale": 1 / 2}),  # gray HxW
        ((10, 12, 4), {"scale": 2}),  # RGBA
        ((10, 12, 4), {"size": (10, 5)}),  # only one dimension changes
    ],
)
def test_shapes_match_reference(shape: tuple[int, ...], kwargs: dict) -> None:
    for dtype in (np.uint8, np.float64):
        img = random_image(shape, dtype, seed=1)
        assert_matches(imresize(img, **kwargs), imresize_ref(img, **kwargs))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("scale", [1 / 3, 1 / 4, 3])
def test_rounding_once_and_replicate_match_reference(dtype: type, scale: float) -> None:
    img = random_image((25, 22, 3) if scale < 1 else (7, 8, 3), dtype, seed=2)
    once = imresize(img, scale, rounding="once")
    assert_matches(once, imresize_ref(img, scale, rounding="once"))
    assert not np.array_equal(once, imresize(img, scale))  # the variants really differ
    replicate = imresize(img, scale, border="replicate")
    assert_matches(replicate, imresize_ref(img, scale, border="replicate"))
    assert not np.array_equal(replicate, imresize(img, scale))
    assert_matches(imresize(img.astype(np.float64), scale, border="replicate"),
                   imresize_ref(img.astype(np.float64), scale, border="replicate"))


def test_float_input_is_unrounded_and_unclipped() -> None:
    img = np.zeros((8, 8), dtype=np.float32)
    img[3:5, 3:5] = 1.0
    out = imresize(img, 2)
    assert out.dtype == np.float64
    assert out.min() < 0 and out.max() > 1  # the cubic's lobes over- and undershoot
    assert np.any(np.abs(out * 255 - np.round(out * 255)) > 1e-6)


def test_identity_size_and_bad_input() -> None:
    img = random_image((6, 5, 3), np.uint8)
    assert np.array_equal(imresize(img, size=(6, 5)), img)
    with pytest.raises(ValueError):
        imresize(img.astype(np.int32), 2)
    with pytest.raises(ValueError):
        imresize(img[:0], 2)
    with pytest.raises(ValueError):
        imresize(img[None], 2)
    with pytest.raises(ValueError):
        imresize(img, size=(0, 4))


def test_modcrop() -> None:
    img = random_image((13, 10, 3), np.uint8)
    assert np.array_equal(modcrop(img, 4), img[:12, :8])
    assert modcrop(img[:, :, 0], 3).shape == (12, 9)
    assert modcrop(img[:12, :8], 4).shape == (12, 8, 3)


# ----------------------------------------------------------------------------- blocks, memory


@pytest.mark.parametrize(
    ("dtype", "kwargs"),
    [(np.uint8, {"scale": 1 / 3}), (np.uint8, {"size": (500, 90)}),
     (np.uint16, {"scale": 2, "rounding": "once"}), (np.float32, {"scale": 1 / 2}),
     (np.uint8, {"scale": 2, "border": "replicate"})],
)
def test_blocks_give_the_same_bits(monkeypatch: pytest.MonkeyPatch, dtype: type,
                                   kwargs: dict) -> None:
    img = random_image((210, 150, 3), dtype, seed=3)
    calls = {"n": 0}
    block = resize._block

    def counting(*args: Any) -> None:
        calls["n"] += 1
        block(*args)

    monkeypatch.setattr(resize, "_block", counting)
    monkeypatch.setattr(resize, "CHUNK_BYTES", 1 << 40)
    monkeypatch.setattr(resize, "_INNER", 1 << 30)
    whole = imresize(img, **kwargs)
    assert calls["n"] == 2  # one block per pass
    monkeypatch.setattr(resize, "CHUNK_BYTES", 20_000)
    monkeypatch.setattr(resize, "_INNER", 100)
    calls["n"] = 0
    split = imresize(img, **kwargs)
    assert calls["n"] > 20
    assert split.dtype == whole.dtype and np.array_equal(split, whole)


def test_memory_does_not_grow_with_float64_copies() -> None:
    """x4 of 300x300 RGB uint8: the result is 4.3 MB; whole-image float64 passes need > 100 MB."""
    img = random_image((300, 300, 3), np.uint8, seed=4)
    tracemalloc.start()
    try:
        out = imresize(img, 4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    intermediate = 1200 * 300 * 3  # uint8, height first
    assert peak < out.nbytes + intermediate + 4 * resize.CHUNK_BYTES + (1 << 20), peak
