"""The one options boundary: every value a user gives, parsed once into a typed value.

Device names, precision names, byte sizes, tile / tile pad / batch size, metric names, output
quality, numbers (finite and in range), parts of output file names, and every environment flag
the package reads each have one rule here. The commands (`srgan_cli.cli`) and the Python API
call these before any work; an engine given a raw value calls the same function, so a value
means the same thing wherever it enters. Whether a parsed device exists on this machine needs
torch and is `devices.resolve_device`'s question.

Imports neither torch, numpy nor Pillow: `srgan --help` and `srgan models` stay fast.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from srgan_cli.errors import DeviceError, UnknownDeviceError, UsageError
from srgan_cli.messages import escape, option

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


def parse_device(spec: str | DeviceSpec, name: str | None = None) -> DeviceSpec:
    """"auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps", any case and
    surrounding spaces. UnknownDeviceError (a UsageError, exit 2) for anything else, naming
    the option `name` (its Python name) when one is given; whether the device is present is
    not checked here."""
    if isinstance(spec, DeviceSpec):
        return spec
    m = _DEVICE.fullmatch(spec.strip().lower())
    if m is None:
        if name is not None:
            raise UnknownDeviceError(
                f"{option(name)} {spec!r}: unknown device, expected {DEVICE_CHOICES}")
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
            "computes it natively, else off), off, bf16, fp16 (+ grad scaler; made for CUDA, "
            "runs on the CPU too).")


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


# Hand-written: no dependency parses sizes such as "1.5GiB" (humanfriendly is not installed).
def parse_bytes(text: str) -> int:
    """"2G", "1.5GiB", "512M", "800000" -> bytes (K/M/G/T are powers of 1024); UsageError."""
    m = _BYTES.fullmatch(text.lower())
    if m is None:
        raise UsageError(f"{option('memory_budget')}: expected a size such as 2G, 512M or "
                         f"1.5GiB, got {text!r}")
    value = float(m.group(1)) * 1024 ** " kmgt".index(m.group(2) or " ")
    if not value >= 1:
        raise UsageError(f"{option('memory_budget')} must be at least 1 byte, got {text!r}")
    return int(value)


def check_memory_budget(budget: int | None) -> int | None:
    """`budget` (bytes of activations for the automatic tile; None: the device's default) if
    it is positive; UsageError otherwise."""
    if budget is not None and budget < 1:
        raise UsageError(f"{option('memory_budget')} must be positive, got {budget}")
    return budget


def check_tiling(tile: int | None, pad: int | None, batch_size: int) -> None:
    """The one check of the tiling options (None: the default chosen later); UsageError."""
    if tile is not None and tile < 0:
        raise UsageError(f"{option('tile')} must be >= 0 ({WHOLE_IMAGE} = whole image), "
                         f"got {tile}")
    if pad is not None and pad < 0:
        raise UsageError(f"{option('tile_pad')} must be >= 0, got {pad}")
    if batch_size < 1:
        raise UsageError(f"{option('batch_size')} must be >= 1, got {batch_size}")


# ----------------------------------------------------------------------------- numbers, names


def check_float(
    value: float | None, name: str, *, low: float, high: float, low_open: bool = False,
    hint: str = "",
) -> float | None:
    """`value` as a float when it is None or a finite number from `low` (excluded with
    `low_open`) to `high`; else a UsageError naming the option `name` (inf and nan never pass,
    so no later arithmetic overflows). `hint` is added to the message."""
    if value is None:
        return None
    if low_open and low == 0:
        wanted = f"positive and at most {_number(high)}"
    else:
        wanted = f"in {'(' if low_open else '['}{_number(low)}, {_number(high)}]"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and math.isfinite(value) and (low < value if low_open else low <= value) \
        and value <= high
    if not ok:
        raise UsageError(f"{option(name)} must be {wanted}{hint}, got {value!r}")
    return float(value)


def _number(x: float) -> str:
    """'1,000,000' for 1e6, '0.5' for 0.5: a bound as a message shows it."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


_SEPARATORS = tuple(dict.fromkeys(c for c in ("/", "\\", os.sep, os.altsep) if c))


def check_name_part(text: str | None, name: str) -> str | None:
    """`text`, a part of output file names (the option `name`: a suffix, an extension), when
    it cannot take a name out of its folder: no path separator, NUL or '..'; else UsageError."""
    if text is None:
        return None
    if any(c in text for c in _SEPARATORS) or "\0" in text or ".." in text:
        raise UsageError(f"{option(name)} '{escape(text)}': must not hold a path separator, "
                         "NUL or '..' (it becomes part of output file names)")
    return text


# ----------------------------------------------------------------------------- metrics, quality


METRICS = ("psnr", "ssim", "lpips")  # psnr and ssim are always computed; lpips on demand
DEFAULT_METRICS = ("psnr", "ssim")


def check_metrics(metrics: Iterable[str]) -> tuple[str, ...]:
    """The metric names, lower-cased, duplicates once; UsageError for an unknown or empty set."""
    names = tuple(dict.fromkeys(m.strip().lower() for m in metrics))
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise UsageError(f"{option('metrics')} {unknown[0] if unknown else ''!r}: unknown "
                         f"metric, expected {', '.join(METRICS)}")
    return names


def check_quality(quality: int | None) -> int | None:
    """`quality` if it is None (the format's default) or a whole number from 1 to 100; else a
    UsageError naming the option (call it before heavy work, as `write_image` does)."""
    if quality is None:
        return None
    if isinstance(quality, bool) or not isinstance(quality, numbers.Integral) \
            or not 1 <= quality <= 100:
        raise UsageError(f"{option('quality')} must be a whole number from 1 to 100, got "
                         f"{quality!r}")
    return int(quality)


# ----------------------------------------------------------------------------- environment


OFFLINE_ENV = "SRGAN_OFFLINE"  # anything but "" or "0": never download weights
WEIGHTS_ENV = "SRGAN_WEIGHTS_DIR"  # folder of the bundled model files
CPU_BF16_ENV = "SRGAN_CPU_BF16"  # "0" or "1": whether the CPU computes bf16 natively
DEBUG_ENV = "SRGAN_DEBUG"  # "1": internal errors raise with their traceback
DATA_ENV = "SRGAN_DATA"  # folder of the benchmark and training datasets
NO_COLOR_ENV = "NO_COLOR"  # set (any value): no colour on the terminal (no-color.org)
CACHE_HOME_ENV = "XDG_CACHE_HOME"  # base of the decoded-image cache (else ~/.cache)
MODEL_CACHE_ENV = "SRGAN_MODEL_CACHE"  # folder of the catalogue models fetched by name
MODEL_MIRROR_ENV = "SRGAN_MODEL_MIRROR"  # base URL (or folder) serving the catalogue's files
MODEL_CATALOGUE_ENV = "SRGAN_MODEL_CATALOGUE"  # a user catalogue file adding/overriding entries
DIST_TIMEOUT_ENV = "SRGAN_DIST_TIMEOUT"  # seconds processes wait for each other (start, exchanges)
DEFAULT_DIST_TIMEOUT = 1800.0  # torch's own default for gloo and NCCL collectives


OFFLINE_HELP = ("Never download weights (catalogue models, VGG19 of stage gan, LPIPS "
                f"backbones); also {OFFLINE_ENV}=1.")
DATA_ROOT_HELP = (f"Folder holding the benchmark folders and DIV2K/ (default: ${DATA_ENV}, else "
                  "./data).")


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def env_flag(name: str) -> bool | None:
    """The one reading of a yes/no environment variable: 1/true/yes/on or 0/false/no/off (any
    case, '' is no), None when unset; anything else is a UsageError naming the variable."""
    value = os.environ.get(name)
    if value is None:
        return None
    word = value.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise UsageError(f"{name}={value!r}: expected 1/0, true/false, yes/no or on/off")


def offline(flag: bool = False) -> bool:
    """True when downloads are forbidden: by the flag (--offline) or by SRGAN_OFFLINE."""
    return flag or bool(env_flag(OFFLINE_ENV))


def weights_dir_env() -> Path | None:
    """$SRGAN_WEIGHTS_DIR when set and not empty."""
    value = os.environ.get(WEIGHTS_ENV)
    return Path(value) if value else None


def cpu_bf16_forced() -> bool | None:
    """SRGAN_CPU_BF16=1 / 0 says the CPU does / does not compute bf16 natively (for tests and
    machines that hide their flags); None (unset or empty): detect it."""
    if not os.environ.get(CPU_BF16_ENV, "").strip():
        return None
    return env_flag(CPU_BF16_ENV)


def debug() -> bool:
    """SRGAN_DEBUG=1 (or true/yes/on): an internal error raises with its traceback instead of
    one line. Never an error itself (the error handler reads it): other values mean no."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in _TRUE


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


def model_cache_dir() -> Path:
    """Where catalogue models are kept once fetched: $SRGAN_MODEL_CACHE, else
    <cache home>/srgan-cli/models."""
    value = os.environ.get(MODEL_CACHE_ENV)
    return Path(value).expanduser() if value else cache_home() / "srgan-cli" / "models"


def model_mirror() -> str | None:
    """$SRGAN_MODEL_MIRROR (a base URL, or a folder, holding the catalogue's files under their
    own names) when set and not empty."""
    value = os.environ.get(MODEL_MIRROR_ENV, "").strip()
    return value or None


def user_catalogue() -> Path | None:
    """$SRGAN_MODEL_CATALOGUE (user-expanded): a catalogue file whose entries add to or
    replace the built-in ones."""
    value = os.environ.get(MODEL_CATALOGUE_ENV)
    return Path(value).expanduser() if value else None


def check_denoise_strength(strength: float | None) -> float | None:
    """`strength` if None or within [0, 1] (Real-ESRGAN's -dn); UsageError otherwise."""
    if strength is not None and not 0.0 <= strength <= 1.0:
        raise UsageError(f"{option('denoise_strength')} must be from 0 to 1, got {strength:g}")
    return strength


def dist_timeout() -> float:
    """Seconds the processes of a DDP run wait for each other at start: $SRGAN_DIST_TIMEOUT
    (a positive number), else DEFAULT_DIST_TIMEOUT; UsageError for anything else."""
    value = os.environ.get(DIST_TIMEOUT_ENV, "").strip()
    if not value:
        return DEFAULT_DIST_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise UsageError(f"{DIST_TIMEOUT_ENV}={value!r}: expected a positive number of seconds")
    return seconds


SVT_LOG_ENV = "SVT_LOG"  # SVT-AV1's own log level (it prints to stderr, around FFmpeg's logs)


def quiet_svt_av1() -> None:
    """Keep the SVT-AV1 encoder to its errors (level 1) unless the user set $SVT_LOG: it prints a
    banner and notes straight to stderr, which -q cannot otherwise reach. SVT reads the level
    once, when its first encoder starts, so this runs before that."""
    os.environ.setdefault(SVT_LOG_ENV, "1")
