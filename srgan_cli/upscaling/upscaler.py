"""Inference: upscale uint8/uint16 images with a `ModelDescriptor`, tile by tile, on any device.

The whole image stays in host memory in its integer dtype; only tiles (with the descriptor's
context, see `tiling.py`) go to the device, and each tile's output is rounded straight into a
preallocated integer array, so memory is bounded by the tile size, never by the image size.
By default the tile is the largest whose activations fit a memory budget (the whole image when
it fits). On out-of-memory the tile size is halved, the failed tiles are retried, and the
Upscaler keeps the halved size for every later image (a batch does not run out of memory on
each image again). The precision `auto` picks the fastest one the model allows that keeps the
numbers (`devices.choose_precision`, the one precision policy).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from torch import nn

from srgan_cli.devices import DTYPES, choose_precision, resolve_device
from srgan_cli.errors import DeviceError, ModelError, UsageError
from srgan_cli.media import pixels
from srgan_cli.media.resize import imresize
from srgan_cli.messages import option
from srgan_cli.models.descriptor import ModelDescriptor
from srgan_cli.options import WHOLE_IMAGE, check_memory_budget, check_tiling
from srgan_cli.upscaling.allocator import keep_freed_memory
from srgan_cli.upscaling.tiling import (
    core_size,
    round_up,
    take_batch,
    tile_for_budget,
    tile_grid,
)

if TYPE_CHECKING:
    from srgan_cli.media.decode import ImageData

__all__ = ["Upscaler", "tiled_forward"]

MIN_TILE = 16  # below this, an out-of-memory is reported instead of halving again
ProgressCb = Callable[[int, int], None]  # (LR pixels done, LR pixels in all)
RunFn = Callable[[np.ndarray], np.ndarray]  # N x h x w x C windows -> N x sh x sw x C outputs
GIB = 1 << 30
# Default activation budget on the CPU: torch itself takes ~0.7 GB of RSS, so a 4000x3000 x4
# upscale peaks within 1.5 GB beyond its 576 MB output (bench/bench_memory.py).
CPU_MEMORY_BUDGET = 768 << 20
# Peak live activations of a forward / the largest single layer output, measured with RSS
# (bench/bench_memory.py) on the plain SRResNet x4 (2.54 fp32, 2.41 bf16) and a spandrel
# RRDB, rounded up: the estimate errs on the side of smaller tiles. Used for models whose
# descriptor has no `activations_per_pixel` of its own (our SRResNet's banded forward has).
ACTIVATION_FACTOR = 3.0
FALLBACK_FLOATS_PER_HR_PIXEL = 64  # widest layer per output pixel when the net cannot be probed
PROBE_SIDE = 32


# ----------------------------------------------------------------------------- memory


def default_memory_budget(device: torch.device) -> int:
    """Bytes of activations a tile may use: CPU_MEMORY_BUDGET on the CPU, half the free memory
    of a CUDA device, 2 GiB on MPS."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free // 2)
    return 2 * GIB if device.type == "mps" else CPU_MEMORY_BUDGET


def activation_floats(model: ModelDescriptor) -> float:
    """Elements of the largest layer output per LR input pixel, from one small fp32 CPU probe
    run with forward hooks (a fallback per output pixel for nets that are not PyTorch)."""
    module = model.torch_module()
    if module is None:
        return float(FALLBACK_FLOATS_PER_HR_PIXEL * model.scale**2)
    h, w = (PROBE_SIDE + p for p in model.size.padding(PROBE_SIDE, PROBE_SIDE))
    largest = [0]

    def hook(_m: nn.Module, _inp: object, out: object) -> None:
        if isinstance(out, torch.Tensor):
            largest[0] = max(largest[0], out.numel())

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        with torch.inference_mode():
            module(torch.zeros(1, model.in_channels, h, w))
    finally:
        for handle in handles:
            handle.remove()
    return largest[0] / (h * w)


def bytes_per_pixel(model: ModelDescriptor, dtype: torch.dtype) -> int:
    """Estimated peak bytes per LR pixel of a window: the descriptor's own peak activation
    figure (`activations_per_pixel`) or else ACTIVATION_FACTOR times the largest layer output,
    in `dtype`, plus the float32 input and output copies."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    io = 4 * (model.in_channels + 2 * model.out_channels * model.scale**2)
    floats = model.activations_per_pixel
    if floats is None:
        floats = ACTIVATION_FACTOR * activation_floats(model)
    return int(floats * itemsize + io)


def is_out_of_memory(e: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors."""
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(e, RuntimeError) and "out of memory" in str(e).lower()


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
    multiple_of: int = 1,
    progress_cb: ProgressCb | None = None,
    on_oom: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Upscale the HxWxC host array `lr` with `run` tile by tile into a preallocated array.

    `run` maps a batch of equal windows (N x h x w x C, lr's dtype) to their outputs
    (N x h*scale x w*scale x C, `out_dtype`). On out-of-memory the tile size is halved (`on_oom`
    is told the new size, a multiple of `multiple_of`) and the tiles not done yet are re-cut;
    DeviceError below `min_tile`."""
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
            current = failed // 2 // multiple_of * multiple_of
            if current < min_tile:
                raise DeviceError(
                    f"out of memory even with tiles of {failed} px: use a smaller "
                    f"{option('batch_size')}, {option('precision')} bf16/fp16, or "
                    f"{option('device')} cpu"
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
        raise UsageError(f"{option('outscale')} must be a positive number, got {outscale}")
    size = (math.floor(height * outscale + 0.5), math.floor(width * outscale + 0.5))
    if min(size) < 1:
        raise UsageError(f"{option('outscale')} {outscale} makes a {width}x{height} image empty")
    return size




# ----------------------------------------------------------------------------- Upscaler


class ImageUpscaler(Protocol):
    """What a batch needs of an Upscaler (tests pass a fake): its scale, the call, and for the
    record the tile the last image ran with and whether it tiled exactly (None: not tiled)."""

    scale: int

    @property
    def tile(self) -> int | None: ...

    @property
    def tiling_exact(self) -> bool | None: ...

    def upscale_image(
        self, img: ImageData, outscale: float | None = None, progress_cb: ProgressCb | None = None
    ) -> ImageData: ...


class Upscaler:
    """Runs a `ModelDescriptor` over images (any family: native, spandrel, ONNX, bicubic).

    Holds the prepared model and the tile size, and per call only what the last image's record
    reports: `tile` (the tile it ran with; chosen per image by memory when `tile` was None, it
    shrinks for good when the device runs out of memory, and the shrunk size then serves every
    later image) and `tiles` (how many tiles it was cut into).

    `device` is a spec for `resolve_device` ("auto", "cuda:1", ...) or a resolved torch.device;
    `precision` a name or "auto" (`devices.choose_precision`); `tile` the LR core size,
    WHOLE_IMAGE (0) for no tiling, or None for the largest tile whose activations fit
    `memory_budget` bytes (None: `default_memory_budget`); `tile_pad` None is the descriptor's
    pad (exact radius, or the approximate default). A model with a size multiple gets the image
    padded (reflect) to it, and tile, pad and window origins on that multiple, so exact tiling
    stays exact."""

    def __init__(
        self,
        model: ModelDescriptor,
        *,
        device: str | torch.device = "auto",
        precision: str = "auto",
        tile: int | None = WHOLE_IMAGE,
        tile_pad: int | None = None,
        batch_size: int = 1,
        memory_budget: int | None = None,
        tta: bool = False,
    ) -> None:
        check_tiling(tile, tile_pad, batch_size)
        check_memory_budget(memory_budget)
        self.model = model
        self.scale = model.scale
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.precision = choose_precision(precision, self.device, model.precisions)
        self.dtype = DTYPES[self.precision]
        # the descriptor refuses an explicit precision it does not run in (DeviceError)
        self._prepared: Callable[[torch.Tensor], torch.Tensor] = model.prepare(
            self.device, self.precision)
        self.batch_size = batch_size
        self.multiple = model.size.multiple_of
        self.tile_pad = round_up(model.tiling.pad if tile_pad is None else tile_pad,
                                 self.multiple)
        self.auto_tile = tile is None
        self.memory_budget = (default_memory_budget(self.device) if memory_budget is None
                              else memory_budget)
        if self.device.type == "cpu":  # no mmap/munmap of every large tensor, band and tile
            keep_freed_memory(self.memory_budget)
        self.bytes_per_pixel = bytes_per_pixel(model, self.dtype) if self.auto_tile else 0
        self.tile = WHOLE_IMAGE if tile is None else round_up(tile, self.multiple)
        self.tiles = 0
        if tta:  # x8 self-ensemble on each whole tile: tiled still equals untiled
            from srgan_cli.upscaling.tta import self_ensemble

            self._prepared = self_ensemble(self._prepared)

    @property
    def tiling_exact(self) -> bool:
        """False when the last image was cut into tiles of a model that tiles approximately."""
        return self.model.tiling.exact or self.tiles <= 1

    def _tile_for(self, h: int, w: int) -> int:
        if not self.auto_tile:
            return self.tile
        return tile_for_budget(h, w, self.tile_pad, self.bytes_per_pixel * self.batch_size,
                               self.memory_budget, self.multiple)

    def _run(self, windows: np.ndarray, out_dtype: np.dtype | None) -> np.ndarray:
        """The model on a batch of NHWC windows; float32 output (unclamped) when `out_dtype` is
        None, else rounded and saturated to that integer dtype. ModelError on NaN/inf."""
        x = torch.from_numpy(np.ascontiguousarray(windows)).to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2)  # NCHW view with channels_last strides
        if windows.dtype.kind == "u":
            x = pixels.to_unit(x, pixels.max_value(windows.dtype))
        y = self._prepared(x.to(self.dtype))
        if not bool(torch.isfinite(y).all()):
            hint = "" if self.precision == "fp32" else (
                f" in {self.precision} (try {option('precision')} fp32)")
            raise ModelError(f"model {self.model.name} produced NaN/inf values{hint}; its "
                             "weights may be corrupt")
        y = y.permute(0, 2, 3, 1)
        if out_dtype is None:
            return y.float().cpu().numpy()
        return pixels.from_unit(y, out_dtype)

    def _tiled(
        self, lr: np.ndarray, out_dtype: np.dtype | None, progress_cb: ProgressCb | None
    ) -> np.ndarray:
        h, w = lr.shape[:2]
        ph, pw = self.model.size.padding(h, w) if self.multiple > 1 else (0, 0)
        if ph or pw:  # as PreparedModel pads a whole image, so every window needs no padding
            widths = ((0, ph), (0, pw), (0, 0))
            reflect = ph < h and pw < w
            lr = np.pad(lr, widths, mode="reflect") if reflect else np.pad(lr, widths, mode="edge")
        ph2, pw2 = lr.shape[:2]
        if self.auto_tile:
            self.tile = self._tile_for(ph2, pw2)
        self.tiles = len(tile_grid(ph2, pw2, self.tile, self.tile_pad))

        def on_oom(smaller: int) -> None:
            self.tile, self.auto_tile = smaller, False  # learned for the rest of the batch
            self.tiles = len(tile_grid(ph2, pw2, smaller, self.tile_pad))  # at least
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

        out = tiled_forward(
            lambda win: self._run(win, out_dtype),
            lr,
            self.scale,
            tile=self.tile,
            pad=self.tile_pad,
            batch_size=self.batch_size,
            out_dtype=np.float32 if out_dtype is None else out_dtype,
            multiple_of=self.multiple,
            progress_cb=None if progress_cb is None else (
                lambda done, total: progress_cb(min(done, h * w), h * w)),
            on_oom=on_oom,
        )
        if ph or pw:
            out = out[: h * self.scale, : w * self.scale]
        return out

    @staticmethod
    def _check(arr: np.ndarray) -> None:
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise UsageError(f"expected an HxWx3 image array, got shape {arr.shape}")

    def _integer_resize(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """The model's own uint8/uint16 path when it has one (bicubic: the MATLAB maths that
        the official LR images use, rounded per pass)."""
        return getattr(self.model.implementation, "resize_integer", None)

    def upscale_float(self, arr: np.ndarray, progress_cb: ProgressCb | None = None) -> np.ndarray:
        """float32 output in [0, 1] units, unclamped and unrounded (uint or [0, 1] float input)."""
        self._check(arr)
        return self._tiled(arr if arr.dtype.kind == "u" else arr.astype(np.float32), None,
                           progress_cb)

    def upscale_array(self, arr: np.ndarray, progress_cb: ProgressCb | None = None) -> np.ndarray:
        """HxWx3 uint8|uint16 -> (H*s)x(W*s)x3 of the same dtype."""
        self._check(arr)
        try:
            pixels.max_value(arr.dtype)
        except TypeError as e:
            raise UsageError(f"expected a uint8 or uint16 image array, got {arr.dtype}") from e
        resize = self._integer_resize()
        if resize is not None:
            out = resize(arr)
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
        if self._integer_resize() is not None and target is not None:  # one resize, not two
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
