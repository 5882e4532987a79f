"""The frozen model descriptor every consumer uses (upscale, eval, validation, export, models).

A `ModelDescriptor` says what a loaded model is (name, architecture, scale, channels, parameter
count, card, source), what it needs (precisions it may run in, size requirements) and how it may
be tiled (`Tiling`: the exact receptive radius of a purely convolutional net, or an approximate
default pad for windowed attention / global pooling). Running it goes through `prepare`, which
returns a `PreparedModel` on one device and dtype: a call on a float NCHW RGB batch in [0, 1]
giving float NCHW in [0, 1] units (unclamped), padding to the size requirements and cropping
back. Each `Implementation` (native torch module, spandrel module, ONNX session, MATLAB bicubic)
hides the model's own input range and mean conventions behind that one call.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from srgan_cli.errors import DeviceError

PRECISIONS: Mapping[str, torch.dtype] = MappingProxyType(
    {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
)
ALL_PRECISIONS = frozenset(PRECISIONS)
FP32_ONLY = frozenset({"fp32"})
# LR pixels of context per tile side for models whose output is not a local function of the
# input (attention windows, global pooling): enough for windows of 8-16 px and their shifts.
DEFAULT_APPROX_PAD = 32

Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Tiling:
    """How tiles of the input may be cut: `pad` LR pixels of context on each side.

    exact=True: the output is a local function of the input within `pad` pixels (an upper
    bound on the receptive radius), so tiles padded by it, with window origins on multiples of
    the size requirement, give exactly the untiled result. exact=False: `pad` is a default and
    tiled output only approximates the untiled one."""

    exact: bool
    pad: int

    def describe(self) -> str:
        return f"exact (radius {self.pad})" if self.exact else f"approximate (pad {self.pad})"


@dataclass(frozen=True)
class SizeRequirements:
    """Input height and width must be multiples of `multiple_of` and at least `min_size`."""

    multiple_of: int = 1
    min_size: int = 0

    def padding(self, height: int, width: int) -> tuple[int, int]:
        """Rows and columns to add at the bottom/right to satisfy the requirements."""
        def need(n: int) -> int:
            target = max(n, self.min_size)
            return -(-target // self.multiple_of) * self.multiple_of - n
        return need(height), need(width)


class Implementation(Protocol):
    """What runs a model: prepared once per device and dtype into a [0, 1] -> [0, 1] forward."""

    def prepare(self, device: torch.device, dtype: torch.dtype) -> Forward: ...

    def torch_module(self) -> nn.Module | None:
        """A CPU fp32 module mapping [0, 1] to [0, 1] (for export), or None if there is none."""
        ...


class RangeScaled(nn.Module):
    """`net` working on [0, value_range] seen as a [0, 1] -> [0, 1] module (EDSR: 255)."""

    def __init__(self, net: nn.Module, value_range: float = 1.0,
                 call: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        self.net = net
        self.value_range = value_range
        self._call = call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.value_range != 1.0:
            x = x * self.value_range
        y = self._call(self.net, x) if self._call is not None else self.net(x)
        return y / self.value_range if self.value_range != 1.0 else y


@dataclass(frozen=True)
class TorchImplementation:
    """A PyTorch module (CPU, fp32, eval) plus its range convention and inference preparation.

    `for_inference` (e.g. SRResNet's BatchNorm folding) is applied to a copy in `prepare`;
    `call` replaces ``net(x)`` for modules that need a special call (some spandrel models)."""

    net: nn.Module
    value_range: float = 1.0
    for_inference: Callable[[nn.Module], nn.Module] | None = None
    call: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None

    def torch_module(self) -> nn.Module:
        return RangeScaled(self.net, self.value_range, self.call).eval()

    def prepare(self, device: torch.device, dtype: torch.dtype) -> Forward:
        net = self.for_inference(self.net) if self.for_inference else copy.deepcopy(self.net)
        net = net.eval().requires_grad_(False).to(device, dtype)
        if device.type in ("cuda", "cpu"):  # NHWC convolutions: faster on both (oneDNN, cuDNN)
            net = net.to(memory_format=torch.channels_last)
        module = RangeScaled(net, self.value_range, self.call)

        def forward(x: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return module(x)

        return forward


@dataclass(frozen=True)
class BicubicImplementation:
    """MATLAB bicubic (``resize.imresize``): float input resized without intermediate rounding.

    `resize_integer` is the uint8/uint16 path rounded per pass (the official LR images' maths)."""

    scale: int

    def torch_module(self) -> None:
        return None

    def resize_integer(self, image: np.ndarray) -> np.ndarray:
        from srgan_cli.resize import imresize

        return imresize(image, self.scale)

    def prepare(self, device: torch.device, dtype: torch.dtype) -> Forward:
        from srgan_cli.resize import imresize

        def forward(x: torch.Tensor) -> torch.Tensor:
            arr = x.detach().to("cpu", torch.float64).permute(0, 2, 3, 1).numpy()
            out = np.stack([imresize(img, self.scale) for img in arr])
            return torch.from_numpy(out).permute(0, 3, 1, 2).to(device, dtype)

        return forward


@dataclass(frozen=True)
class PreparedModel:
    """A descriptor's model on one device and dtype: call it on float NCHW RGB in [0, 1]."""

    descriptor: ModelDescriptor
    device: torch.device
    dtype: torch.dtype
    forward: Forward = field(repr=False)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] -> (N, C, H*s, W*s) in [0, 1] units, on `device`, `dtype`.

        The input is padded (reflect where possible, else replicate) to the size requirements
        and the output cropped back, as spandrel does."""
        if x.ndim != 4:
            raise ValueError(f"expected an NCHW batch, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        x = x.to(self.device, self.dtype)
        ph, pw = self.descriptor.size.padding(h, w)
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        y = self.forward(x)
        s = self.descriptor.scale
        return y[..., : h * s, : w * s] if ph or pw else y


@dataclass(frozen=True)
class ModelDescriptor:
    """What a loaded model is and how to run it; frozen, shared by every consumer."""

    name: str
    architecture: str  # "srresnet", "msrresnet", "edsr", "bicubic", "onnx", spandrel ids
    scale: int
    in_channels: int
    out_channels: int
    parameters: int
    precisions: frozenset[str]
    size: SizeRequirements
    tiling: Tiling
    card: Mapping[str, Any]
    source: str  # a file path, "bundled:<path>" or "builtin"
    implementation: Implementation = field(repr=False, compare=False)
    # Peak live activation elements per LR input pixel of the prepared forward, where the
    # architecture knows it (SRResNet's banded forward); None: `upscale` probes the module.
    activations_per_pixel: float | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "card", MappingProxyType(dict(self.card)))
        unknown = self.precisions - ALL_PRECISIONS
        if unknown or not self.precisions:
            raise ValueError(f"precisions must be a non-empty subset of {sorted(ALL_PRECISIONS)}")

    def prepare(self, device: str | torch.device = "cpu", precision: str = "fp32"
                ) -> PreparedModel:
        """The model on `device` in `precision` (one of `precisions`; DeviceError otherwise)."""
        if precision not in self.precisions:
            allowed = ", ".join(sorted(self.precisions))
            raise DeviceError(
                f"{self.name}: {self.architecture} runs in {allowed}, not {precision}"
            )
        dev = torch.device(device)
        dtype = PRECISIONS[precision]
        return PreparedModel(self, dev, dtype, self.implementation.prepare(dev, dtype))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """One-off fp32 CPU call (prepares each time: consumers `prepare` once instead)."""
        return self.prepare()(x)

    def torch_module(self) -> nn.Module | None:
        """A CPU fp32 [0, 1] -> [0, 1] module without padding (ONNX export); None if not torch."""
        return self.implementation.torch_module()

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (what `srgan models FILE --json` prints)."""
        return {
            "name": self.name, "architecture": self.architecture, "scale": self.scale,
            "in_channels": self.in_channels, "out_channels": self.out_channels,
            "parameters": self.parameters, "precisions": sorted(self.precisions),
            "multiple_of": self.size.multiple_of, "min_size": self.size.min_size,
            "tiling": {"exact": self.tiling.exact, "pad": self.tiling.pad},
            "source": self.source, "card": dict(self.card),
        }


def parameter_count(net: nn.Module) -> int:
    """Number of weights in parameters (buffers such as BatchNorm statistics excluded)."""
    return sum(math.prod(p.shape) for p in net.parameters())


def bicubic(scale: int = 4) -> ModelDescriptor:
    """The MATLAB bicubic baseline as a descriptor (exact tiling: the kernel reaches 2 pixels)."""
    if scale < 1:
        from srgan_cli.errors import ModelError

        raise ModelError(f"bicubic: scale must be a positive integer, got {scale}")
    return ModelDescriptor(
        name="bicubic", architecture="bicubic", scale=scale, in_channels=3, out_channels=3,
        parameters=0, precisions=FP32_ONLY, size=SizeRequirements(), tiling=Tiling(True, 3),
        card={"architecture": "bicubic", "note": "MATLAB bicubic, any integer scale"},
        source="builtin", implementation=BicubicImplementation(scale),
    )
