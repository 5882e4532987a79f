"""`srgan export`: a run folder or checkpoint -> a .safetensors model file with its card."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from srgan_cli.errors import UsageError


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


def export(
    source: Path = typer.Argument(..., help="Run folder (uses last.pt, or best.pt with "
                                  "--weights best) or a checkpoint file."),
    out: Path = typer.Argument(..., help="Model file to write (.safetensors)."),
    weights: str = typer.Option(
        "auto", "--weights",
        help="auto (EMA when the run has it, else raw), ema, raw, or best (the run's best "
        "validation weights)."),
    card: list[str] = typer.Option([], "--card", help="Extra model-card field KEY=VALUE "
                                   "(VALUE parsed as JSON when it is JSON). Repeatable."),
    measure: list[str] = typer.Option([], "--measure", help="Score the exported model on this "
                                      "dataset (set5, set14, ... or a folder) and store PSNR/SSIM "
                                      "in the card. Repeatable."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Benchmark root for "
                                          "--measure (default: $SRGAN_DATA, else ./data)."),
    device: str = typer.Option("auto", "--device", help="Device for --measure: auto, cpu, "
                               "cuda, cuda:N or mps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
) -> None:
    """Export a trained generator as a model file that `srgan upscale --model` reads."""
    from srgan_cli.console import stdout_console
    from srgan_cli.scoring import check_device_name
    from srgan_cli.training.export import export as do_export

    check_device_name(device)
    net, written = do_export(source, out, weights=weights, extra=_parse_card(card),
                             overwrite=overwrite, measure=measure, data_root=data_root,
                             device=device)
    con = stdout_console(status=True)
    con.print(f"wrote {out} (x{net.scale}, {net.num_blocks} blocks, {net.channels} channels, "
              f"{written['weights']} weights, step {written['training']['steps']})", markup=False)
    for name, m in (written.get("metrics") or {}).items():
        con.print(f"  {name} x{m['scale']}: PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f}",
                  markup=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
