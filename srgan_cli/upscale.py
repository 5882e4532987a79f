"""Inference: upscale uint8/uint16 images with a LoadedModel, tile by tile, on any device.

The whole image stays in host memory in its integer dtype; only tiles (with `tile_pad` pixels of
real context, see `tiling.py`) go to the device, and each tile's output is rounded straight into
a preallocated integer array, so memory is bounded by the tile size, never by the image size.
On out-of-memory the tile size is halved, the failed tiles are retried, and the Upscaler keeps
the halved size for every later image (a batch does not run out of memory on each image again).
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from srgan_cli.devices import resolve_device, resolve_precision
from srgan_cli.errors import DeviceError, UsageError
from srgan_cli.models.srresnet import ResidualBlock, SRResNet
from srgan_cli.models.zoo import LoadedModel
from srgan_cli.resize import imresize
from srgan_cli.tiling import WHOLE_IMAGE, check_tiling, core_size, take_batch, tile_grid

if TYPE_CHECKING:
    from srgan_cli.imaging import ImageData

MIN_TILE = 16  # below this, an out-of-memory is reported instead of halving again
ProgressCb = Callable[[int, int], None]  # (LR pixels done, LR pixels in all)
RunFn = Callable[[np.ndarray], np.ndarray]  # N x h x w x C windows -> N x sh x sw x C outputs


# ----------------------------------------------------------------------------- device, precision


def default_tile(device: torch.device) -> int:
    """A tile size that fits comfortably: 512 LR pixels on a GPU, 256 on the CPU (~1.5 GB)."""
    return 512 if device.type in ("cuda", "mps") else 256


def is_out_of_memory(e: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors."""
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(e, RuntimeError) and "out of memory" in str(e).lower()


# ----------------------------------------------------------------------------- BN folding


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new conv equal to bn(conv(x)) in eval mode: weights scaled by gamma / sqrt(var + eps),
    bias (b - mean) * gamma / sqrt(var + eps) + beta (computed in float64)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics")
    mean = bn.running_mean.double()
    factor = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.weight is not None:
        factor = factor * bn.weight.detach().double()
    bias = -mean if conv.bias is None else conv.bias.detach().double() - mean
    bias = bias * factor
    if bn.bias is not None:
        bias = bias + bn.bias.detach().double()
    fused = copy.deepcopy(conv)
    w = conv.weight.detach()
    fused.weight = nn.Parameter((w.double() * factor.reshape(-1, 1, 1, 1)).to(w.dtype), False)
    fused.bias = nn.Parameter(bias.to(w.dtype), requires_grad=False)
    return fused


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """A deep copy of `net` with every SRResNet conv+BN pair fused into one conv (for inference).

    Works on an SRResNet or on any module that contains SRResNet parts."""
    net = copy.deepcopy(net)
    for m in list(net.modules()):
        if isinstance(m, ResidualBlock):
            m.conv1, m.bn1 = fold_conv_bn(m.conv1, m.bn1), nn.Identity()  # type: ignore[assignment]
            m.conv2, m.bn2 = fold_conv_bn(m.conv2, m.bn2), nn.Identity()  # type: ignore[assignment]
        elif isinstance(m, SRResNet):
            m.body_conv = fold_conv_bn(m.body_conv, m.body_bn)
            m.body_bn = nn.Identity()  # type: ignore[assignment]
    return net


# ----------------------------------------------------------------------------- tiled forward


def tiled_forward(
    run: RunFn,
    lr: np.ndarray,
    scale: int,
    *,
    tile: int,
    pad: int,
    batch_size: int = 1,
    out_dtype: np.dtype | type = np.float32,
    min_tile: int = MIN_TILE,
    progress_cb: ProgressCb | None = None,
    on_oom: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Upscale the HxWxC host array `lr` with `run` tile by tile into a preallocated array.

    `run` maps a batch of equal windows (N x h x w x C, lr's dtype) to their outputs
    (N x h*scale x w*scale x C, `out_dtype`). On out-of-memory the tile size is halved (`on_oom`
    is told the new size) and the tiles not done yet are re-cut; DeviceError below `min_tile`."""
    h, w = lr.shape[:2]
    out = np.empty((h * scale, w * scale) + lr.shape[2:], dtype=out_dtype)
    current = tile
    queue = deque(tile_grid(h, w, current, pad))
    done = 0
    while queue:
        group = take_batch(queue, batch_size)
        windows = np.stack([lr[t.win_y[0] : t.win_y[1], t.win_x[0] : t.win_x[1]] for t in group])
        try:
            result: np.ndarray | None = run(windows)
        except Exception as e:
            if not is_out_of_memory(e):
                raise
            result = None  # handled below, once the exception (and the tensors its traceback
            # holds) is gone, so that on_oom can really free the cache
        if result is None:
            failed = core_size(current, h, w)
            current = failed // 2
            if current < min_tile:
                raise DeviceError(
                    f"out of memory even with tiles of {failed} px: use a smaller --batch-size, "
                    "--precision bf16/fp16, or --device cpu"
                ) from None
            if on_oom is not None:
                on_oom(current)
            pending = group + list(queue)
            queue = deque(
                t2 for t in pending for t2 in tile_grid(h, w, current, pad, (t.core_y, t.core_x))
            )
            continue
        for t, r in zip(group, result, strict=True):
            sy, sx = t.crop_slices(scale)
            oy, ox = t.output_slices(scale)
            out[oy, ox] = r[sy, sx]
            done += t.core_area
        if progress_cb is not None:
            progress_cb(done, h * w)
    return out


def output_size(height: int, width: int, outscale: float) -> tuple[int, int]:
    """(round(H * outscale), round(W * outscale)), halves rounded up; UsageError if empty."""
    if not (outscale > 0 and math.isfinite(outscale)):
        raise UsageError(f"--outscale must be a positive number, got {outscale}")
    size = (math.floor(height * outscale + 0.5), math.floor(width * outscale + 0.5))
    if min(size) < 1:
        raise UsageError(f"--outscale {outscale} makes a {width}x{height} image empty")
    return size


# ----------------------------------------------------------------------------- Upscaler


def _max_value(dtype: np.dtype) -> float:
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    raise UsageError(f"expected a uint8 or uint16 image array, got {dtype}")


class Upscaler:
    """Runs a LoadedModel over images.

    Holds the prepared network and the tile size, and nothing per call: the tile size only ever
    shrinks, when the device runs out of memory, and the shrunk size serves every later image.

    `device` is a spec for `resolve_device` ("auto", "cuda:1", ...) or a resolved torch.device;
    `tile` is the LR core size, WHOLE_IMAGE (0) for no tiling or None for the device's default
    (`default_tile`); `tile_pad` None is the model's receptive radius (exact output)."""

    def __init__(
        self,
        model: LoadedModel,
        *,
        device: str | torch.device = "auto",
        precision: str = "auto",
        tile: int | None = WHOLE_IMAGE,
        tile_pad: int | None = None,
        batch_size: int = 1,
        fold_bn: bool = True,
    ) -> None:
        check_tiling(tile, tile_pad, batch_size)
        self.model = model
        self.scale = model.scale
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        self.tile = default_tile(self.device) if tile is None else tile
        self.batch_size = batch_size
        self._net: nn.Module | None = None
        radius = 0
        if model.module is not None:
            radius = int(getattr(model.module, "receptive_radius", 0))
            net = fold_batchnorm(model.module) if fold_bn else copy.deepcopy(model.module)
            net = net.eval().requires_grad_(False)
            self._net = net.to(self.device, self.dtype).to(memory_format=torch.channels_last)
        self.tile_pad = radius if tile_pad is None else tile_pad

    def _run(self, windows: np.ndarray, out_dtype: np.dtype | None) -> np.ndarray:
        """Network on a batch of NHWC windows; float32 output (unclamped) when `out_dtype` is
        None, else rounded and saturated to that integer dtype."""
        assert self._net is not None
        x = torch.from_numpy(np.ascontiguousarray(windows)).to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2)  # NCHW view with channels_last strides
        if windows.dtype.kind in "ui":
            x = x.float().mul_(1.0 / _max_value(windows.dtype))
        x = x.to(self.dtype)
        with torch.inference_mode():
            y = self._net(x).float().permute(0, 2, 3, 1)
            if out_dtype is None:
                return y.cpu().numpy()
            peak = _max_value(np.dtype(out_dtype))
            y = y.mul_(peak).clamp_(0.0, peak).add_(0.5).floor_()
            y = y.to(torch.uint8 if out_dtype == np.uint8 else torch.int32)
            return y.cpu().numpy().astype(out_dtype, copy=False)

    def _tiled(
        self, lr: np.ndarray, out_dtype: np.dtype | None, progress_cb: ProgressCb | None
    ) -> np.ndarray:
        def on_oom(smaller: int) -> None:
            self.tile = smaller  # learned for the rest of the batch
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

        return tiled_forward(
            lambda win: self._run(win, out_dtype),
            lr,
            self.scale,
            tile=self.tile,
            pad=self.tile_pad,
            batch_size=self.batch_size,
            out_dtype=np.float32 if out_dtype is None else out_dtype,
            progress_cb=progress_cb,
            on_oom=on_oom,
        )

    @staticmethod
    def _check(arr: np.ndarray) -> None:
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise UsageError(f"expected an HxWx3 image array, got shape {arr.shape}")

    def upscale_float(self, arr: np.ndarray, progress_cb: ProgressCb | None = None) -> np.ndarray:
        """float32 output in [0, 1] units, unclamped and unrounded (uint or [0, 1] float input)."""
        self._check(arr)
        if self._net is None:
            src = arr.astype(np.float64) / _max_value(arr.dtype) if arr.dtype.kind == "u" else arr
            return imresize(src.astype(np.float64), self.scale).astype(np.float32)
        return self._tiled(arr if arr.dtype.kind == "u" else arr.astype(np.float32), None,
                           progress_cb)

    def upscale_array(self, arr: np.ndarray, progress_cb: ProgressCb | None = None) -> np.ndarray:
        """HxWx3 uint8|uint16 -> (H*s)x(W*s)x3 of the same dtype."""
        self._check(arr)
        _max_value(arr.dtype)
        if self._net is None:
            out = imresize(arr, self.scale)
            if progress_cb is not None:
                progress_cb(arr.shape[0] * arr.shape[1], arr.shape[0] * arr.shape[1])
            return out
        return self._tiled(arr, arr.dtype, progress_cb)

    def upscale_image(
        self,
        img: ImageData,
        outscale: float | None = None,
        progress_cb: ProgressCb | None = None,
    ) -> ImageData:
        """Colour through the model, alpha by MATLAB bicubic, then MATLAB bicubic to exactly
        round(H * outscale) x round(W * outscale) when `outscale` differs from the model's."""
        h, w = img.color.shape[:2]
        target = None
        if outscale is not None and outscale != self.scale:
            target = output_size(h, w, outscale)
        alpha = img.alpha
        if self._net is None and target is not None:  # plain bicubic: one resize, not two
            color = imresize(img.color, size=target)
            if progress_cb is not None:
                progress_cb(h * w, h * w)
            if alpha is not None:
                alpha = imresize(alpha, size=target)
            return img.replace(color=color, alpha=alpha)
        color = self.upscale_array(img.color, progress_cb)
        if alpha is not None:
            alpha = imresize(alpha, self.scale)
        if target is not None:
            color = imresize(color, size=target)
            if alpha is not None:
                alpha = imresize(alpha, size=target)
        return img.replace(color=color, alpha=alpha)
