"""`srgan doctor`: versions, devices, bf16, threads, and where weights and data were found."""

from __future__ import annotations

import json

import typer

from srgan_cli.cli.params import DataRoot


def doctor_command(
    as_json: bool = typer.Option(False, "--json", help="Print the findings as one JSON object."),
    data_root: DataRoot = None,
) -> None:
    """Show what srgan runs on: torch and device versions, GPUs, native bf16, threads, and
    where the bundled weights, the VGG19 weights and the benchmark datasets were found.

    Examples:
    srgan doctor
    srgan doctor --data-root ~/datasets
    srgan doctor --json"""
    from srgan_cli.cli.doctor_report import gather, lines

    facts = gather(data_root)
    if as_json:
        print(json.dumps(facts, indent=2))
    else:
        print("\n".join(lines(facts)))


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)
