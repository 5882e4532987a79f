"""Devices and the one precision policy, shared by upscale, eval and train (the torch side of
`options`: whether a device is present, and which precision "auto" means on it)."""

from __future__ import annotations

from collections.abc import Collection
from types import MappingProxyType

import torch

from srgan_cli.errors import DeviceError
from srgan_cli.messages import option
from srgan_cli.options import PRECISION_NAMES, DeviceSpec, parse_device, parse_precision

DTYPES = MappingProxyType(
    {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
)
assert tuple(DTYPES) == PRECISION_NAMES


def resolve_device(spec: str | DeviceSpec) -> torch.device:
    """The torch device of a device name (`options.parse_device`: UsageError, exit 2, for a
    name that is none); DeviceError (exit 10) for a known device that is not available here."""
    parsed = parse_device(spec)
    text = parsed.text
    mps_ok = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if parsed.kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if parsed.kind == "cpu":
        return torch.device("cpu")
    if parsed.kind == "mps":
        if not mps_ok:
            raise DeviceError(f"{option('device')} mps: Apple MPS is not available on this machine")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"{option('device')} {text}: CUDA is not available (no NVIDIA GPU visible, or torch "
            f"{torch.__version__} was built without CUDA)"
        )
    index = parsed.index or 0
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"{option('device')} {text}: there are {count} CUDA device(s), "
                          f"cuda:0..{count - 1}")
    return torch.device("cuda", index)


def choose_precision(spec: str, device: torch.device,
                     allowed: Collection[str] = PRECISION_NAMES, *, training: bool = False
                     ) -> str:
    """The precision name ("fp32", "bf16", "fp16") that `spec` means on `device`: the one
    policy of inference and of training's mixed precision.

    "auto": on CUDA bf16 where the device supports it, else fp16; on a CPU that computes bf16
    natively (`hardware.native_bf16`) bf16, for inference and training's mixed precision
    alike; fp32 elsewhere; each only where `allowed` (the model's
    precisions) has it. An explicit name is checked against the device (DeviceError): for
    inference fp16 is refused on the CPU and bf16 on a CUDA device without it. Training takes
    an explicit name on any device: autocast runs fp16 on the CPU too, with a grad scaler of
    the device's type (slow there, but the CPU runs the same code as a GPU: bench/gpu_check.py
    --cpu-smoke). Whether a model runs in an explicit name is the descriptor's check."""
    s = parse_precision(spec)
    if s == "auto":
        return next((p for p in _auto_order(device, training) if p in allowed), "fp32")
    if training:
        return s
    if s == "fp16" and device.type == "cpu":
        raise DeviceError(f"{option('precision')} fp16 is not supported on the CPU: use fp32 "
                          "or bf16")
    if s == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"{option('precision')} bf16 is not supported by {device}: use fp16 "
                          "or fp32")
    return s


def _auto_order(device: torch.device, training: bool) -> tuple[str, ...]:
    """What "auto" tries on `device`, fastest first (fp32, the fallback, not listed)."""
    if device.type == "cuda":
        return ("bf16", "fp16") if torch.cuda.is_bf16_supported() else ("fp16",)
    if device.type == "cpu":  # inference and training alike
        from srgan_cli.hardware import native_bf16

        return ("bf16",) if native_bf16() else ()
    return ()
