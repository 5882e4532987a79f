"""`srgan export`: a run folder or checkpoint -> a .safetensors model file with its card; or
anything `--model` accepts (or a run/checkpoint) -> an ONNX file (OUT ending in .onnx)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from srgan_cli.cli.params import DataRoot, Device
from srgan_cli.errors import OutputError, UsageError
from srgan_cli.fileio import check_target
from srgan_cli.options import parse_device

EXPORT_SUFFIXES = (".onnx", ".safetensors")  # what OUT may end in


def _parse_card(items: list[str]) -> dict[str, object]:
    """--card KEY=VALUE items as a dict; VALUE is parsed as JSON when it is JSON, else a string."""
    out: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--card expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise UsageError(f"--card expects KEY=VALUE with a non-empty KEY, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _interpolate(pair: tuple[str, str], alpha: float | None, out: Path, card: list[str],
                 overwrite: bool) -> None:
    """`export --interpolate A B --alpha X OUT`: blend two models of the same architecture."""
    from srgan_cli.cli.console import stdout_console
    from srgan_cli.training.export import interpolate

    if alpha is None:
        raise UsageError("--interpolate needs --alpha (0: the first model, 1: the second)")
    net, _ = interpolate(pair[0], pair[1], alpha, out, extra=_parse_card(card),
                         overwrite=overwrite)
    stdout_console().print(
        f"wrote {out} (x{net.scale}, {net.num_blocks} blocks, {net.channels} channels, "
        f"{1 - alpha:g} x {pair[0]} + {alpha:g} x {pair[1]})", markup=False)


def export(
    source: Path = typer.Argument(..., help="Run folder (uses last.pt, or best.pt with "
                                  "--weights best) or a checkpoint file; for an .onnx OUT also "
                                  "anything --model accepts (bundled name, model file); with "
                                  "--interpolate, the model file to write."),
    out: Path | None = typer.Argument(None, help="Model file to write: .safetensors, or .onnx "
                                      "(dynamic batch, height and width; checked against "
                                      "PyTorch first).", show_default=False),
    weights: str = typer.Option(
        "auto", "--weights",
        help="auto (EMA when the run has it, else raw), ema, raw, or best (the run's best "
        "validation weights)."),
    card: list[str] = typer.Option([], "--card", help="Extra model-card field KEY=VALUE "
                                   "(VALUE parsed as JSON when it is JSON). Repeatable."),
    measure: list[str] = typer.Option([], "--measure", help="Score the exported model on this "
                                      "dataset (set5, set14, ... or a folder) and store PSNR/SSIM "
                                      "in the card. Repeatable."),
    data_root: DataRoot = None,
    device: Device = "auto",
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    interpolate: tuple[str, str] | None = typer.Option(
        None, "--interpolate", help="Blend two models A B of the same architecture weight by "
        "weight (the perception-distortion knob between a PSNR and a GAN model).",
        metavar="A B", show_default=False),
    alpha: float | None = typer.Option(
        None, "--alpha", help="With --interpolate: 0 gives A, 1 gives B, 0.8 is 20% A + 80% B.",
        show_default=False),
) -> None:
    """Export a trained generator (or a blend of two models) as a model file that `srgan
    upscale --model` reads.

    Examples:
    srgan export runs/train my_x4.safetensors
    srgan export runs/train my_x4.safetensors --measure set5 --card author=me
    srgan export realesrgan-x4plus realesrgan.onnx
    srgan export --interpolate psnr.safetensors gan.safetensors --alpha 0.8 blend.safetensors"""
    from srgan_cli.cli.console import stdout_console
    from srgan_cli.training.export import export as do_export

    if interpolate is not None:
        if out is not None:
            raise UsageError("--interpolate A B takes one more argument: the file to write")
        _interpolate(interpolate, alpha, source, card, overwrite)
        return
    if alpha is not None:
        raise UsageError("--alpha goes with --interpolate A B")
    if out is None:
        raise UsageError("missing the model file to write: srgan export SOURCE OUT")
    parse_device(device, "device")
    check_target(out.expanduser(), overwrite=overwrite, kind="model file",
                 suffixes=EXPORT_SUFFIXES)  # before any work; its message lists both
    if out.suffix.lower() == ".onnx":
        if measure:
            raise UsageError("--measure applies to .safetensors exports; score the ONNX file "
                             "with srgan eval --model")
        _export_onnx(source, out, weights=weights, extra=_parse_card(card), overwrite=overwrite)
        return
    net, written = do_export(source, out, weights=weights, extra=_parse_card(card),
                             overwrite=overwrite, measure=measure, data_root=data_root,
                             device=device)
    con = stdout_console(status=True)
    con.print(f"wrote {out} (x{net.scale}, {net.num_blocks} blocks, {net.channels} channels, "
              f"{written['weights']} weights, step {written['training']['steps']})", markup=False)
    for name, m in (written.get("metrics") or {}).items():
        con.print(f"  {name} x{m['scale']}: PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f}",
                  markup=False)


def _export_onnx(source: Path, out: Path, *, weights: str, extra: dict[str, object],
                 overwrite: bool) -> None:
    """Write `out` (.onnx) from a run folder or checkpoint (as for .safetensors, `--weights`
    honoured) or from anything `--model` accepts; nothing is written unless parity holds."""
    import dataclasses

    from srgan_cli.cli.console import stdout_console
    from srgan_cli.models.loading import load, srresnet_descriptor
    from srgan_cli.models.onnx_export import export_onnx
    from srgan_cli.training.export import build

    out = out.expanduser()
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: exists; use --overwrite")
    if source.is_dir() or weights != "auto":
        net, run_card = build(source, weights=weights, name=out.stem)
        descriptor = srresnet_descriptor(net, name=out.stem, source=str(source), card=run_card)
    else:
        descriptor = load(str(source))
    if extra:
        descriptor = dataclasses.replace(descriptor, card={**descriptor.card, **extra})
    diff = export_onnx(descriptor, out)
    stdout_console().print(f"wrote {out} ({descriptor.architecture} x{descriptor.scale}, ONNX; "
                           f"max difference to PyTorch {diff:.2g})", markup=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
