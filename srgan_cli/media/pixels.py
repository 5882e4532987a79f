"""Pixel conversions between the edges and the networks, in one place.

At the edges images are uint8/uint16 HxWxC arrays; inside the networks they are float32 in
[0, 1] (NCHW for one image, or any layout of a batch). Integer -> float divides by the dtype's
maximum (255 or 65535); float -> integer clamps to [0, 1], maps NaN to 0 and rounds half up,
``floor(x * max + 0.5)``, so a round trip is exact. uint16 -> uint8 rounds ``v / 257``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported where a tensor is made: numpy-only callers stay fast
    import torch

PIXEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


def max_value(dtype: Any) -> int:
    """255 for uint8, 65535 for uint16; TypeError for any other dtype."""
    dt = np.dtype(dtype)
    if dt not in PIXEL_DTYPES:
        raise TypeError(f"expected uint8 or uint16 pixels, got {dt}")
    return int(np.iinfo(dt).max)


def to_unit(x: torch.Tensor, peak: float) -> torch.Tensor:
    """Integer pixels of any layout (on any device) -> new float32 tensor in [0, 1]: ``x / peak``.

    `peak` is ``max_value`` of the source dtype (255 or 65535)."""
    import torch

    return x.to(torch.float32, copy=True).mul_(1.0 / peak)


def from_unit(y: torch.Tensor, dtype: Any = np.uint8) -> np.ndarray:
    """Float pixels of any layout in [0, 1] -> numpy `dtype` (uint8/uint16), same layout.

    Clamped, NaN -> 0, ``floor(y * max + 0.5)``; the rounding runs on the tensor's device and
    only the integer result is copied to the host."""
    import torch

    dt = np.dtype(dtype)
    top = float(max_value(dt))
    x = torch.nan_to_num(y.detach().float(), nan=0.0).clamp_(0.0, 1.0)
    x = x.mul_(top).add_(0.5).floor_()
    out = x.to(torch.uint8) if dt == np.uint8 else x.to(torch.int32)
    return np.ascontiguousarray(out.cpu().numpy().astype(dt, copy=False))


def image_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """One HxWxC (or HxW) uint8/uint16 image -> 1xCxHxW float32 in [0, 1]."""
    import torch

    peak = max_value(arr.dtype)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise ValueError(f"expected an HxWxC image, got shape {arr.shape}")
    t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    return to_unit(t, peak)[None]


def tensor_to_image(t: torch.Tensor, dtype: Any = np.uint8) -> np.ndarray:
    """One 1xCxHxW or CxHxW float image in [0, 1] -> HxWxC uint8/uint16 (see `from_unit`)."""
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.dim() != 3:
        raise ValueError(f"expected 1xCxHxW or CxHxW, got shape {tuple(t.shape)}")
    return from_unit(t.permute(1, 2, 0), dtype)


def hwc_to_chw(arr: np.ndarray) -> torch.Tensor:
    """HxWxC array -> contiguous CxHxW tensor of the same integer dtype (no scaling: patches
    travel as uint8 and become float on the device)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous()


def to_uint8(a: np.ndarray) -> np.ndarray:
    """uint8 unchanged; uint16 -> uint8 rounding ``v / 257`` half up (65535 -> 255, 257k -> k)."""
    if a.dtype == np.uint8:
        return a
    if a.dtype != np.uint16:
        raise TypeError(f"expected uint8 or uint16 pixels, got {a.dtype}")
    return ((a.astype(np.uint32) * 2 + 257) // 514).astype(np.uint8)


def gray_to_rgb(g: np.ndarray) -> np.ndarray:
    """HxW -> HxWx3 with the plane replicated."""
    return np.repeat(g[..., None], 3, axis=2)
