"""Pixel conversions: uint8/uint16 HxWxC <-> float [0, 1] tensors, exact round trips, rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from srgan_cli.media.pixels import (
    from_unit,
    gray_to_rgb,
    hwc_to_chw,
    image_to_tensor,
    max_value,
    tensor_to_image,
    to_uint8,
    to_unit,
)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tensor_round_trip_exact(dtype: type) -> None:
    n = np.iinfo(dtype).max + 1
    arr: np.ndarray = np.arange(n, dtype=dtype).reshape(-1, 256, 1)
    arr = np.concatenate([arr, arr[::-1], arr], axis=2)
    t = image_to_tensor(arr)
    assert t.dtype == torch.float32 and t.shape == (1, 3, arr.shape[0], 256)
    assert float(t.min()) == 0.0 and float(t.max()) == 1.0
    np.testing.assert_array_equal(tensor_to_image(t, dtype), arr)
    np.testing.assert_array_equal(tensor_to_image(t[0], dtype), arr)


def test_from_tensor_clamps_and_rounds() -> None:
    t = torch.tensor([-0.5, 0.0, 0.49 / 255, 0.5 / 255, 1.5 / 255, 1.0, 2.0, float("nan")])
    out = tensor_to_image(t.view(1, 1, 1, -1))
    assert out.dtype == np.uint8 and out.shape == (1, 8, 1)
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 0, 1, 2, 255, 255, 0])
    with pytest.raises(ValueError):
        tensor_to_image(torch.zeros(2, 3, 4, 4))
    with pytest.raises(TypeError):
        image_to_tensor(np.zeros((2, 2, 3), np.float32))


def test_gray_image_to_tensor_and_bad_dtypes() -> None:
    g = np.array([[0, 255], [51, 102]], np.uint8)
    t = image_to_tensor(g)
    assert t.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(t[0, 0].numpy(), g / 255.0, rtol=0, atol=1e-7)
    assert (max_value(np.uint8), max_value(np.dtype(np.uint16))) == (255, 65535)
    with pytest.raises(TypeError):
        max_value(np.int32)
    with pytest.raises(TypeError):
        tensor_to_image(torch.zeros(1, 3, 2, 2), np.float32)
    with pytest.raises(ValueError):
        image_to_tensor(np.zeros((1, 2, 2, 3), np.uint8))


def test_batch_conversions_keep_any_layout() -> None:
    """What a network runner needs: NHWC integer batch -> float, float -> NHWC integers."""
    x = torch.from_numpy(np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3))
    u = to_unit(x, 255)
    assert u.dtype == torch.float32 and u.shape == x.shape
    assert x.dtype == torch.uint8  # the input is not changed
    np.testing.assert_array_equal(from_unit(u, np.uint8), x.numpy())
    f = torch.tensor([0.5 / 65535, 1.5 / 65535, 0.999999, 7.0])
    np.testing.assert_array_equal(from_unit(f, np.uint16), [1, 2, 65535, 65535])
    assert from_unit(f, np.uint16).dtype == np.uint16


def test_uint16_to_uint8_rounds_half_up() -> None:
    v = np.array([0, 128, 129, 257, 385, 386, 65535], np.uint16)
    np.testing.assert_array_equal(to_uint8(v), [0, 0, 1, 1, 1, 2, 255])
    np.testing.assert_array_equal(to_uint8(v), np.floor(v / 257.0 + 0.5))
    a8 = np.array([3, 200], np.uint8)
    assert to_uint8(a8) is a8
    with pytest.raises(TypeError):
        to_uint8(np.zeros(2, np.float32))


def test_layout_helpers() -> None:
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    t = hwc_to_chw(arr)
    assert t.dtype == torch.uint8 and t.shape == (4, 2, 3) and t.is_contiguous()
    assert torch.equal(t.permute(1, 2, 0), torch.from_numpy(arr))
    g = np.array([[1, 2]], np.uint16)
    rgb = gray_to_rgb(g)
    assert rgb.shape == (1, 2, 3) and rgb.dtype == np.uint16
    assert (rgb == g[..., None]).all()
