"""The options several commands share, each declared once with one help text.

Reusable `Annotated` parameter types: a command writes ``device: Device = "auto"`` and gets the
same flag, metavar, help text and help panel as every other command that has it. The values'
meaning (and the help text of the values the training config shares) lives in `options`."""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from srgan_cli.errors import SrganError, UsageError
from srgan_cli.media.formats import WRITE_EXTENSIONS
from srgan_cli.options import (
    DATA_ROOT_HELP,
    DEVICE_HELP,
    DEVICE_KINDS,
    METRICS,
    OFFLINE_HELP,
    PRECISION_HELP,
    PRECISIONS,
    check_metrics,
    parse_device,
    parse_precision,
)

MODEL_PANEL = "Model and speed"

MODEL_HELP = (
    "A bundled model name, a catalogue name (realesrgan-x4plus, RealESRGAN_x4plus, ...: fetched "
    "into the cache on first use; see 'srgan models'), a model file (.safetensors, .pth, .pt, "
    ".ckpt: SRResNet, MSRResNet, EDSR or any spandrel SR architecture; or .onnx), or 'bicubic' "
    "(MATLAB bicubic). Default: srresnet_x4 when it is installed, else bicubic.")
TILE_HELP = (
    "Process images in N x N low-resolution tiles to bound memory; the result is the same as "
    "untiled for convolutional models (see 'srgan models MODEL'). 0 = whole image at once; not "
    "given: the largest tile that fits the memory budget (the whole image when it fits). Halved "
    "automatically on GPU out-of-memory, and kept halved for the rest of the run.")
TTA_HELP = ("x8 self-ensemble: average the model over the 8 flips/rotations (8x slower, "
            "slightly better; bicubic is unchanged).")



# ----------------------------------------------------------------------------- choices


def completer(values: Sequence[str]) -> Callable[[str], list[str]]:
    """Shell completion of the `values` that start with what was typed (any case)."""
    def complete(incomplete: str) -> list[str]:
        return [v for v in values if v.lower().startswith(incomplete.lower())]
    return complete


def choice(values: Sequence[str], flag: str) -> Callable[[str], str]:
    """A typer `parser` taking one of `values` (any case, spaces ignored), lower-cased; anything
    else is a UsageError naming `flag` and the values (checked while parsing, exit 2)."""
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in values:
            raise UsageError(f"{flag} {text!r}: must be one of {', '.join(values)}")
        return value
    return parse


def checked_by(check: Callable[[str], object]) -> Callable[[str], str]:
    """A typer `parser` keeping the text when `check` (a parser of `options`) accepts it; its
    error (an SrganError, with its message and exit code) stops the parse."""
    def parse(text: str) -> str:
        check(text)
        return text
    return parse


def complete_device(incomplete: str) -> list[str]:
    """auto, cpu, cuda, mps and cuda:N for each NVIDIA device node (cuda:0 when none)."""
    gpus = len(glob.glob("/dev/nvidia[0-9]*")) or 1
    return completer([*DEVICE_KINDS, *(f"cuda:{i}" for i in range(gpus))])(incomplete)


def _complete_model(incomplete: str) -> list[str]:
    """Bundled and catalogue model names, bicubic, then model files (torch-free)."""
    from srgan_cli.models.bundled import BICUBIC, bundled_models
    from srgan_cli.models.catalogue import catalogue

    try:
        names = [m.name for m in bundled_models()] + [e.name for e in catalogue()]
    except SrganError:  # a broken user catalogue: still complete what is known
        names = [m.name for m in bundled_models()]
    return completer([*dict.fromkeys([*names, BICUBIC])])(incomplete) + _paths(incomplete)


def complete_dataset(incomplete: str) -> list[str]:
    """The benchmark names, then folders and videos."""
    from srgan_cli.media.discovery import KNOWN

    return completer(KNOWN)(incomplete) + _paths(incomplete)


def _paths(incomplete: str) -> list[str]:
    return sorted(glob.glob(glob.escape(incomplete) + "*"))[:50]


def _check_ext(text: str) -> str | None:
    """`--ext`: auto, or an extension the encoder writes (planning's check and message)."""
    from srgan_cli.upscaling.planning import normalise_ext

    return None if text.strip().lower() == "auto" else normalise_ext(text)


EXT_CHOICES = ("auto", *sorted(e.lstrip(".") for e in WRITE_EXTENSIONS))
EXT_OPTIONS: dict[str, Any] = {"parser": checked_by(_check_ext),
                               "autocompletion": completer(EXT_CHOICES)}
DEVICE_METAVAR = "auto|cpu|cuda[:N]|mps"
PRECISION_METAVAR = "|".join(PRECISIONS)
METRIC_METAVAR = "|".join(METRICS)
METRIC_OPTIONS: dict[str, Any] = {"metavar": METRIC_METAVAR,
                                  "parser": checked_by(lambda t: check_metrics([t])),
                                  "autocompletion": completer(METRICS)}

Model = Annotated[str | None, typer.Option(
    "--model", "-m", "-n", metavar="NAME|PATH", help=MODEL_HELP, show_default=False,
    autocompletion=_complete_model, rich_help_panel=MODEL_PANEL)]
Models = Annotated[list[str] | None, typer.Option(
    "--model", "-m", "-n", metavar="NAME|PATH",
    help=MODEL_HELP + " Repeat to compare models side by side.", show_default=False,
    autocompletion=_complete_model, rich_help_panel=MODEL_PANEL)]
Device = Annotated[str, typer.Option(
    "--device", metavar=DEVICE_METAVAR, help=DEVICE_HELP,
    parser=checked_by(lambda t: parse_device(t, "device")),
    autocompletion=complete_device, rich_help_panel=MODEL_PANEL)]
Precision = Annotated[str, typer.Option(
    "--precision", metavar=PRECISION_METAVAR, help=PRECISION_HELP,
    parser=checked_by(parse_precision), autocompletion=completer(PRECISIONS),
    rich_help_panel=MODEL_PANEL)]
GpuId = Annotated[int | None, typer.Option(
    "--gpu-id", "-g", metavar="N", show_default=False, rich_help_panel=MODEL_PANEL,
    help="Real-ESRGAN's GPU index: the same as --device cuda:N.")]
Tile = Annotated[int | None, typer.Option(
    "--tile", "-t", metavar="N", help=TILE_HELP, rich_help_panel=MODEL_PANEL)]
Tta = Annotated[bool, typer.Option("--tta", help=TTA_HELP, rich_help_panel=MODEL_PANEL)]
DataRoot = Annotated[Path | None, typer.Option(
    "--data-root", metavar="DIR", help=DATA_ROOT_HELP, show_default=False)]
Offline = Annotated[bool, typer.Option("--offline", help=OFFLINE_HELP)]
DenoiseStrength = Annotated[float | None, typer.Option(
    "--denoise-strength", "-dn", metavar="X", show_default=False, rich_help_panel=MODEL_PANEL,
    help="Real-ESRGAN's denoise knob, for a catalogue model with a denoise twin "
    "(realesr-general-x4v3): X x the model + (1 - X) x its weak-denoise twin, blended weight "
    "by weight. 1: the model (strong denoise), 0: the twin (keeps noise and grain). Real-ESRGAN's "
    "script defaults to 0.5; without -dn the model is used as named.")]
