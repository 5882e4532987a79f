"""`srgan models [MODEL]`: the bundled models and the catalogue, or what one model is; the
catalogue's actions (pull, rm, verify) are in `catalogue_cmd`."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import typer

from srgan_cli.cli.params import Offline
from srgan_cli.errors import UsageError


def _free_fields(card: dict[str, Any]) -> dict[str, Any]:
    from srgan_cli.models.bundled import STRUCTURAL_KEYS

    return {k: v for k, v in card.items() if k not in STRUCTURAL_KEYS}


def _text(value: Any) -> str:
    """A card value whole: a string as it is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def model_rows() -> list[dict[str, Any]]:
    """One dict per bundled model plus the built-in bicubic, JSON-ready."""
    from srgan_cli.models.bundled import BICUBIC, bundled_models, default_model_spec

    default = default_model_spec()
    rows: list[dict[str, Any]] = []
    for info in bundled_models():
        rows.append({
            "name": info.name, "path": str(info.path), "scale": info.scale,
            "num_blocks": info.num_blocks, "channels": info.channels,
            "size_bytes": info.size_bytes, "default": info.name == default,
            "card": info.card, "error": info.error,
        })
    rows.append({
        "name": BICUBIC, "path": None, "scale": None, "num_blocks": None, "channels": None,
        "size_bytes": 0, "default": default == BICUBIC,
        "card": {"architecture": BICUBIC, "note": "MATLAB bicubic, any integer scale"},
        "error": None,
    })
    return rows


def _cells(row: dict[str, Any]) -> list[str]:
    if row["error"]:
        arch, details = "?", f"unreadable: {row['error']}"
    elif row["path"] is None:
        arch, details = "bicubic", "built-in MATLAB bicubic (x4 by default)"
    else:
        arch = f"SRResNet {row['num_blocks']}x{row['channels']}"
        details = "  ".join(f"{k}={_text(v)}" for k, v in _free_fields(row["card"]).items())
    name = row["name"] + (" (default)" if row["default"] else "")
    scale = f"x{row['scale']}" if row["scale"] else "any"
    size = f"{row['size_bytes'] / 1e6:.1f} MB" if row["size_bytes"] else "-"
    return [name, scale, arch, size, details]


def describe_lines(summary: dict[str, Any], width: int | None = None) -> list[str]:
    """`srgan models MODEL` as text: architecture, scale, parameters, tiling, precisions, card;
    each card value whole, wrapped to `width` columns under its start (None: not wrapped)."""
    tiling = summary["tiling"]
    size = f"multiple of {summary['multiple_of']}" if summary["multiple_of"] > 1 else "any"
    if summary["min_size"]:
        size += f", at least {summary['min_size']} px"
    lines = [
        f"model:        {summary['name']} ({summary['source']})",
        f"architecture: {summary['architecture']}",
        f"scale:        x{summary['scale']}",
        f"parameters:   {summary['parameters']:,}",
        "tiling:       " + (f"exact (receptive radius {tiling['pad']} px)" if tiling["exact"]
                            else f"approximate (default pad {tiling['pad']} px)"),
        f"precisions:   {', '.join(summary['precisions'])}",
        f"input size:   {size}",
    ]
    card = {k: v for k, v in summary["card"].items() if k not in ("architecture", "scale")}
    for k, v in card.items():
        head = f"card.{k}: "
        if width is None:
            lines.append(head + _text(v))
            continue
        lines += textwrap.wrap(_text(v), width=max(width, len(head) + 20), initial_indent=head,
                               subsequent_indent=" " * len(head), break_on_hyphens=False)
    return lines


def models_command(
    args: list[str] | None = typer.Argument(
        None, metavar="[MODEL] | pull NAME... | rm NAME... | verify [NAME...]",
        help="A catalogue name, a bundled name or a model file (.safetensors, .pth, .pt, .ckpt, "
        ".onnx): print what it is. 'pull NAME...' fetches catalogue models into the cache "
        "ahead of use, 'rm NAME...' removes them from it, 'verify NAME...' (or --all) "
        "downloads each from its URLs and checks its size and SHA-256.", show_default=False),
    scale: int | None = typer.Option(
        None, "--scale", "-s", help="List only the catalogue models of this scale.",
        show_default=False),
    purpose: str | None = typer.Option(
        None, "--purpose", metavar="PURPOSE", show_default=False,
        help="List only the catalogue models for photo, anime, general or denoise."),
    all_models: bool = typer.Option(False, "--all", help="With verify: every catalogue model."),
    offline: Offline = False,
    json_out: bool = typer.Option(
        False, "--json", help="Print the list (or the card) as JSON on stdout."),
) -> None:
    """List the bundled models (weights/*.safetensors, or $SRGAN_WEIGHTS_DIR) and the catalogue
    of well-known models fetched by name on first use, or describe one MODEL.

    Any listed name or file can be given to 'srgan upscale --model' and 'srgan eval --model'.
    Catalogue models are kept in $SRGAN_MODEL_CACHE (default: the user cache folder);
    $SRGAN_MODEL_MIRROR serves them from a mirror, $SRGAN_MODEL_CATALOGUE adds a catalogue.

    Examples:
    srgan models
    srgan models --purpose anime -s 4
    srgan models srresnet_x4
    srgan models pull realesrgan-x4plus
    srgan models verify --all"""
    from srgan_cli.cli import catalogue_cmd

    words = list(args or [])
    if words and words[0] in catalogue_cmd.ACTIONS:
        catalogue_cmd.ACTIONS[words[0]](words[1:], all_models=all_models, offline=offline,
                                        json_out=json_out)
        return
    if len(words) > 1:
        raise UsageError(f"srgan models takes one MODEL, got {len(words)} ({' '.join(words)}); "
                         "to fetch several use 'srgan models pull NAME...'")
    if words:
        _describe(words[0], json_out=json_out, offline=offline)
        return
    _list(scale, purpose, json_out)


def _describe(model: str, *, json_out: bool, offline: bool) -> None:
    from srgan_cli.cli import catalogue_cmd
    from srgan_cli.models.catalogue import lookup

    entry = lookup(model)
    if entry is not None:
        catalogue_cmd.print_card(entry, json_out=json_out)
        return
    from srgan_cli.models.loading import load

    summary = load(model, no_download=offline).summary()
    if json_out:
        print(json.dumps(summary, indent=2, sort_keys=True, default=str))
    else:
        from srgan_cli.cli.console import stdout_console

        console = stdout_console()
        width = console.width if console.is_terminal else None
        for line in describe_lines(summary, width):
            print(line)


def _list(scale: int | None, purpose: str | None, json_out: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    from srgan_cli.cli import catalogue_cmd
    from srgan_cli.cli.console import stdout_console
    from srgan_cli.models.bundled import weights_dir

    entries = catalogue_cmd.filtered(scale, purpose)
    filtered = scale is not None or purpose is not None
    rows = [] if filtered else model_rows()
    if json_out:
        doc: dict[str, Any] = {"weights_dir": str(weights_dir()), "models": rows}
        doc.update(catalogue_cmd.catalogue_json(entries))
        print(json.dumps(doc, indent=2))
        return
    console = stdout_console()
    header = ["model", "scale", "network", "size", "card"]
    if rows and console.is_terminal:
        table = Table(*header, title=f"models in {weights_dir()}")
        for row in rows:
            table.add_row(*(Text(c) for c in _cells(row)))  # no markup in card text
        console.print(table)
    elif rows:
        console.print(f"models in {weights_dir()}:", markup=False)
        for row in rows:
            console.print("  " + "  ".join(c for c in _cells(row) if c), markup=False)
    catalogue_cmd.print_list(entries, console)


def register(app: typer.Typer) -> None:
    app.command("models")(models_command)
