"""Device and precision selection shared by upscale, eval and train."""

from __future__ import annotations

import re

import torch

from srgan_cli.errors import DeviceError, UnknownDeviceError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str) -> torch.device:
    """"auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps". UsageError (exit 2)
    for a name that is none of these; DeviceError (exit 10) for a known device that is not
    available here."""
    s = spec.strip().lower()
    mps_ok = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if s == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if mps_ok else torch.device("cpu")
    if s == "cpu":
        return torch.device("cpu")
    if s == "mps":
        if not mps_ok:
            raise DeviceError("--device mps: Apple MPS is not available on this machine")
        return torch.device("mps")
    m = re.fullmatch(r"cuda(?::(\d+))?", s)
    if m is None:
        raise UnknownDeviceError(
            f"unknown device {spec!r}: expected auto, cpu, cuda, cuda:N or mps")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"--device {spec}: CUDA is not available (no NVIDIA GPU visible, or torch "
            f"{torch.__version__} was built without CUDA)"
        )
    index = int(m.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"--device {spec}: there are {count} CUDA device(s), cuda:0..{count - 1}")
    return torch.device("cuda", index)


def resolve_precision(spec: str, device: torch.device) -> torch.dtype:
    """"auto" (bf16 on CUDA when supported else fp16; fp32 elsewhere), "fp32", "bf16", "fp16".

    fp16 on the CPU is refused (slow and inexact there); DeviceError for unknown names."""
    s = spec.strip().lower()
    if s == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if s not in PRECISIONS:
        raise DeviceError(f"unknown precision {spec!r}: expected auto, fp32, bf16 or fp16")
    if s == "fp16" and device.type == "cpu":
        raise DeviceError("--precision fp16 is not supported on the CPU: use fp32 or bf16")
    if s == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"--precision bf16 is not supported by {device}: use fp16 or fp32")
    return PRECISIONS[s]
