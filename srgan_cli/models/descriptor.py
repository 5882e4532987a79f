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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from srgan_cli.errors import DeviceError, ModelError
from srgan_cli.options import PRECISION_NAMES

if TYPE_CHECKING:
    import torch
    from torch import nn

ALL_PRECISIONS = frozenset(PRECISION_NAMES)
FP32_ONLY = frozenset({"fp32"})
# LR pixels of context per tile side for models whose output is not a local function of the
# input (attention windows, global pooling): enough for windows of 8-16 px and their shifts.
DEFAULT_APPROX_PAD = 32
# What a model may declare (a loader's findings, an ONNX file's metadata), inclusive bounds far
# beyond any published SR model: checked by `check_declared` before anything is allocated.
LIMITS: Mapping[str, tuple[int, int]] = MappingProxyType({
    "scale": (1, 16), "multiple_of": (1, 256), "min_size": (0, 1024), "tiling_pad": (0, 4096),
})

Forward = Callable[["torch.Tensor"], "torch.Tensor"]


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


def check_declared(values: Mapping[str, int], where: str, what: str = "") -> None:
    """ModelError naming the first of `values` (keys of LIMITS) outside its bounds:
    ``{where}: {what}{key}={value} is out of range``."""
    for key, value in values.items():
        low, high = LIMITS[key]
        if not low <= value <= high:
            raise ModelError(f"{where}: {what}{key}={value} is out of range ({low} to {high})")


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def check_output_shape(descriptor: ModelDescriptor, x_shape: tuple[int, ...],
                       y_shape: tuple[int, ...]) -> None:
    """ModelError unless a model call mapped an (N, C, H, W) input to (N, out_channels,
    H*scale, W*scale): a graph whose scale or size differs from what it declares would
    otherwise be cropped or stretched into a wrong image without a word."""
    n, _, h, w = x_shape
    s = descriptor.scale
    want = (n, descriptor.out_channels, h * s, w * s)
    if tuple(y_shape) != want:
        raise ModelError(
            f"model {descriptor.name} produced {_dims(y_shape)} from a {_dims(x_shape)} input, "
            f"expected {_dims(want)} (x{s}): it does not do what it declares")


class Implementation(Protocol):
    """What runs a model: prepared once per device and dtype into a [0, 1] -> [0, 1] forward."""

    def prepare(self, device: torch.device, dtype: torch.dtype) -> Forward: ...

    def torch_module(self) -> nn.Module | None:
        """A CPU fp32 module mapping [0, 1] to [0, 1] (for export), or None if there is none."""
        ...


@dataclass(frozen=True)
class BicubicImplementation:
    """MATLAB bicubic (``resize.imresize``): float input resized without intermediate rounding.

    `resize_integer` is the uint8/uint16 path rounded per pass (the official LR images' maths)."""

    scale: int

    def torch_module(self) -> None:
        return None

    def resize_integer(self, image: np.ndarray) -> np.ndarray:
        from srgan_cli.media.resize import imresize

        return imresize(image, self.scale)

    def prepare(self, device: torch.device, dtype: torch.dtype) -> Forward:
        import torch

        from srgan_cli.media.resize import imresize

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
        import torch.nn.functional as F

        if x.ndim != 4:
            raise ValueError(f"expected an NCHW batch, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        x = x.to(self.device, self.dtype)
        ph, pw = self.descriptor.size.padding(h, w)
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        y = self.forward(x)
        check_output_shape(self.descriptor, tuple(x.shape), tuple(y.shape))
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
        check_declared({"scale": self.scale, "multiple_of": self.size.multiple_of,
                        "min_size": self.size.min_size, "tiling_pad": self.tiling.pad},
                       self.name)

    def prepare(self, device: str | torch.device = "cpu", precision: str = "fp32"
                ) -> PreparedModel:
        """The model on `device` in `precision` (one of `precisions`; DeviceError otherwise)."""
        if precision not in self.precisions:
            allowed = ", ".join(sorted(self.precisions))
            raise DeviceError(
                f"{self.name}: {self.architecture} runs in {allowed}, not {precision}"
            )
        import torch

        from srgan_cli.devices import DTYPES

        dev = torch.device(device)
        dtype = DTYPES[precision]
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


def bicubic(scale: int = 4) -> ModelDescriptor:
    """The MATLAB bicubic baseline as a descriptor (exact tiling: the kernel reaches 2 pixels)."""
    return ModelDescriptor(
        name="bicubic", architecture="bicubic", scale=scale, in_channels=3, out_channels=3,
        parameters=0, precisions=FP32_ONLY, size=SizeRequirements(), tiling=Tiling(True, 3),
        card={"architecture": "bicubic", "note": "MATLAB bicubic, any integer scale"},
        source="builtin", implementation=BicubicImplementation(scale),
    )
