"""`srgan train`: every TrainConfig field is a flag (its help is the field's, `config.help_of`);
a TOML --config sets defaults for them."""

from __future__ import annotations

import inspect
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import typer

from srgan_cli.errors import EXIT_INTERRUPTED
from srgan_cli.messages import flag as flag_of
from srgan_cli.training.config import ALIASES, TrainConfig, help_of


def _option_for(name: str, hint: Any, default: Any) -> tuple[Any, Any]:
    flag = flag_of(name)
    old = [flag_of(a) for a, field in ALIASES.items() if field == name]  # old names still work
    help_text = help_of(name, as_flags=True)
    shown = default if not isinstance(default, list) else (", ".join(map(str, default)) or "none")
    help_text += f" (default: {shown})"
    if hint is bool:
        return bool | None, typer.Option(None, f"{flag}/--no-{flag[2:]}", help=help_text,
                                            show_default=False)
    if get_origin(hint) is list:
        (item,) = get_args(hint)
        list_hint: Any = list[item]  # type: ignore[valid-type]  # built from the field's type
        return list_hint | None, typer.Option(None, flag, *old, help=help_text,
                                              show_default=False)
    return hint | None, typer.Option(None, flag, *old, help=help_text, show_default=False)


def train(**kwargs: Any) -> None:
    """Train SRResNet (stage psnr) or SRGAN (stage gan) on DIV2K or folders of images.

    Every option can come from a TOML file (--config) and be overridden by flags. Runs on one
    device, or on many with `torchrun --nproc_per_node N -m srgan_cli train ...` (DDP)."""
    from srgan_cli.cli.console import progress
    from srgan_cli.training.run import run_training

    config_path = kwargs.pop("config")
    resume = kwargs.pop("resume")
    try:
        run_training(config_path, kwargs, resume=resume, progress=progress)
    except KeyboardInterrupt:
        # Typer would turn this into a returned Exit(130), which cli.app reports with its
        # generic 'interrupted' line; the trainer has already said where it stopped and where
        # the checkpoint is, so exit 130 (EXIT_INTERRUPTED) directly: a SystemExit passes
        # through typer and cli.app untouched.
        raise SystemExit(EXIT_INTERRUPTED) from None


def _build_signature() -> inspect.Signature:
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter(
            "config", kw, annotation=Path | None,
            default=typer.Option(None, "--config", "-c", help="TOML file with any of the "
                                 "options below (flat keys, e.g. lr = 2e-4)."),
        ),
        inspect.Parameter(
            "resume", kw, annotation=str | None,
            default=typer.Option(None, "--resume", help="Continue a run: 'auto' (the run "
                                 "folder's last.pt, if any) or a checkpoint path."),
        ),
    ]
    hints = get_type_hints(TrainConfig)
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        annotation, default = _option_for(f.name, hints[f.name], getattr(defaults, f.name))
        params.append(inspect.Parameter(f.name, kw, annotation=annotation, default=default))
    return inspect.Signature(params)


train.__signature__ = _build_signature()  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    app.command("train", help=train.__doc__)(train)
