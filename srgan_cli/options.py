"""The one options boundary: every value a user gives, parsed once into a typed value.

Device names, precision names, byte sizes, tile / tile pad / batch size, metric names, output
quality, and every environment flag the package reads each have one rule here. The commands
(`srgan_cli.cli`) and the Python API call these before any work; an engine given a raw value
calls the same function, so a value means the same thing wherever it enters. Whether a parsed
device exists on this machine needs torch and is `devices.resolve_device`'s question.

Imports neither torch, numpy nor Pillow: `srgan --help` and `srgan models` stay fast.
"""

from __future__ import annotations

import numbers
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from srgan_cli.errors import DeviceError, UnknownDeviceError, UsageError

# ----------------------------------------------------------------------------- device


DEVICE_KINDS = ("auto", "cpu", "cuda", "mps")
DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"
DEVICE_HELP = "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps."
_DEVICE = re.compile(r"(auto|cpu|mps)|cuda(?::(\d+))?")


@dataclass(frozen=True)
class DeviceSpec:
    """A well-formed device name: `kind` (auto, cpu, cuda, mps), the CUDA `index` when one was
    given, and the `text` as the user wrote it (for messages)."""

    kind: str
    index: int | None = None
    text: str = ""


def parse_device(spec: str | DeviceSpec, option: str | None = None) -> DeviceSpec:
    """"auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps", any case and
    surrounding spaces. UnknownDeviceError (a UsageError, exit 2) for anything else, naming
    `option` when one is given; whether the device is present is not checked here."""
    if isinstance(spec, DeviceSpec):
        return spec
    m = _DEVICE.fullmatch(spec.strip().lower())
    if m is None:
        if option is not None:
            raise UnknownDeviceError(
                f"{option} {spec!r}: unknown device, expected {DEVICE_CHOICES}")
        raise UnknownDeviceError(f"unknown device {spec!r}: expected {DEVICE_CHOICES}")
    index = None if m.group(2) is None else int(m.group(2))
    return DeviceSpec(m.group(1) or "cuda", index, spec)


# ----------------------------------------------------------------------------- precision


PRECISION_NAMES = ("fp32", "bf16", "fp16")  # what a model can run in
PRECISIONS = ("auto", *PRECISION_NAMES)  # what `--precision` takes
AMP_MODES = ("auto", "off", "bf16", "fp16")  # training's mixed precision
PRECISION_HELP = (
    "auto (bf16 on a CPU with native bf16, AVX512-BF16 or AMX; on CUDA bf16 where supported, "
    "else fp16; each only where the model allows it; else fp32), fp32, bf16, or fp16 (GPU "
    "only).")
AMP_HELP = ("Mixed precision: auto (bf16, else fp16 + grad scaler, on CUDA; bf16 on a CPU that "
            "computes it natively, else off), off, bf16 (CPU or CUDA), fp16 (CUDA).")


def parse_precision(spec: str) -> str:
    """"auto", "fp32", "bf16" or "fp16" (any case, spaces ignored); DeviceError otherwise.
    Which precision "auto" picks is `devices.choose_precision`'s policy."""
    s = spec.strip().lower()
    if s not in PRECISIONS:
        raise DeviceError(f"unknown precision {spec!r}: expected auto, fp32, bf16 or fp16")
    return s


# ----------------------------------------------------------------------------- sizes


WHOLE_IMAGE = 0  # the tile size that means "no tiling": the whole image is one window
_BYTES = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?\s*")


def parse_bytes(text: str) -> int:
    """"2G", "1.5GiB", "512M", "800000" -> bytes (K/M/G/T are powers of 1024); UsageError."""
    m = _BYTES.fullmatch(text.lower())
    if m is None:
        raise UsageError(f"--memory-budget: expected a size such as 2G, 512M or 1.5GiB, "
                         f"got {text!r}")
    value = float(m.group(1)) * 1024 ** " kmgt".index(m.group(2) or " ")
    if not value >= 1:
        raise UsageError(f"--memory-budget must be at least 1 byte, got {text!r}")
    return int(value)


def check_memory_budget(budget: int | None) -> int | None:
    """`budget` (bytes of activations for the automatic tile; None: the device's default) if
    it is positive; UsageError otherwise."""
    if budget is not None and budget < 1:
        raise UsageError(f"--memory-budget must be positive, got {budget}")
    return budget


def check_tiling(tile: int | None, pad: int | None, batch_size: int) -> None:
    """The one check of the tiling options (None: the default chosen later); UsageError."""
    if tile is not None and tile < 0:
        raise UsageError(f"--tile must be >= 0 ({WHOLE_IMAGE} = whole image), got {tile}")
    if pad is not None and pad < 0:
        raise UsageError(f"--tile-pad must be >= 0, got {pad}")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {batch_size}")


# ----------------------------------------------------------------------------- metrics, quality


METRICS = ("psnr", "ssim", "lpips")  # psnr and ssim are always computed; lpips on demand
DEFAULT_METRICS = ("psnr", "ssim")


def check_metrics(metrics: Iterable[str]) -> tuple[str, ...]:
    """The metric names, lower-cased, duplicates once; UsageError for an unknown or empty set."""
    names = tuple(dict.fromkeys(m.strip().lower() for m in metrics))
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise UsageError(f"--metric {unknown[0] if unknown else ''!r}: unknown metric, expected "
                         f"{', '.join(METRICS)}")
    return names


def check_quality(quality: int | None) -> int | None:
    """`quality` if it is None (the format's default) or a whole number from 1 to 100; else a
    UsageError naming ``--quality`` (call it before heavy work, as `write_image` does)."""
    if quality is None:
        return None
    if isinstance(quality, bool) or not isinstance(quality, numbers.Integral) \
            or not 1 <= quality <= 100:
        raise UsageError(f"--quality must be a whole number from 1 to 100, got {quality!r}")
    return int(quality)


# ----------------------------------------------------------------------------- environment


OFFLINE_ENV = "SRGAN_OFFLINE"  # anything but "" or "0": never download weights
WEIGHTS_ENV = "SRGAN_WEIGHTS_DIR"  # folder of the bundled model files
CPU_BF16_ENV = "SRGAN_CPU_BF16"  # "0" or "1": whether the CPU computes bf16 natively
DEBUG_ENV = "SRGAN_DEBUG"  # "1": internal errors raise with their traceback
DATA_ENV = "SRGAN_DATA"  # folder of the benchmark and training datasets
NO_COLOR_ENV = "NO_COLOR"  # set (any value): no colour on the terminal (no-color.org)
CACHE_HOME_ENV = "XDG_CACHE_HOME"  # base of the decoded-image cache (else ~/.cache)


OFFLINE_HELP = (f"Never download weights (VGG19 of stage gan, LPIPS backbones); also "
                f"{OFFLINE_ENV}=1.")
DATA_ROOT_HELP = (f"Folder holding the benchmark folders and DIV2K/ (default: ${DATA_ENV}, else "
                  "./data).")


def offline(flag: bool = False) -> bool:
    """True when downloads are forbidden: by the flag (--offline) or by SRGAN_OFFLINE (anything
    but '' or '0')."""
    return flag or os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0")


def weights_dir_env() -> Path | None:
    """$SRGAN_WEIGHTS_DIR when set and not empty."""
    value = os.environ.get(WEIGHTS_ENV)
    return Path(value) if value else None


def cpu_bf16_forced() -> bool | None:
    """SRGAN_CPU_BF16=1 / 0 says the CPU does / does not compute bf16 natively (for tests and
    machines that hide their flags); None (any other value, or unset): detect it."""
    value = os.environ.get(CPU_BF16_ENV)
    return value == "1" if value in ("0", "1") else None


def debug() -> bool:
    """SRGAN_DEBUG=1: an internal error raises with its traceback instead of one line."""
    return os.environ.get(DEBUG_ENV) == "1"


def data_root_env() -> Path | None:
    """$SRGAN_DATA (user-expanded) when set and not empty."""
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def no_color() -> bool:
    """NO_COLOR set, to any value (even empty), as no-color.org asks."""
    return NO_COLOR_ENV in os.environ


def cache_home() -> Path:
    """$XDG_CACHE_HOME, else ~/.cache."""
    return Path(os.environ.get(CACHE_HOME_ENV) or Path.home() / ".cache")
