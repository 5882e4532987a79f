"""The options several commands share, each declared once with one help text.

Reusable `Annotated` parameter types: a command writes ``device: Device = "auto"`` and gets the
same flag, metavar, help text and help panel as every other command that has it. The values'
meaning (and the help text of the values the training config shares) lives in `options`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from srgan_cli.options import DATA_ROOT_HELP, DEVICE_HELP, OFFLINE_HELP, PRECISION_HELP

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

Model = Annotated[str | None, typer.Option(
    "--model", "-m", metavar="NAME|PATH", help=MODEL_HELP, show_default=False,
    rich_help_panel=MODEL_PANEL)]
Models = Annotated[list[str] | None, typer.Option(
    "--model", "-m", metavar="NAME|PATH", help=MODEL_HELP + " Repeat to compare models side by "
    "side.", show_default=False, rich_help_panel=MODEL_PANEL)]
Device = Annotated[str, typer.Option(
    "--device", metavar="DEVICE", help=DEVICE_HELP, rich_help_panel=MODEL_PANEL)]
Precision = Annotated[str, typer.Option(
    "--precision", metavar="PRECISION", help=PRECISION_HELP, rich_help_panel=MODEL_PANEL)]
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
