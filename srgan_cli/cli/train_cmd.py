"""`srgan train`: every TrainConfig field is a flag (its help is the field's, `config.help_of`);
a TOML --config sets defaults for them."""

from __future__ import annotations

import inspect
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import typer

from srgan_cli.cli.params import DEVICE_METAVAR, checked_by, choice, complete_device, completer
from srgan_cli.errors import EXIT_INTERRUPTED
from srgan_cli.messages import flag as flag_of
from srgan_cli.options import AMP_MODES, parse_device
from srgan_cli.training.config import (
    ALIASES,
    CONTENT_LOSSES,
    PIXEL_LOSSES,
    SCHEDULES,
    STAGES,
    TrainConfig,
    help_of,
)

# Where each option shows in `srgan train --help` (a field not listed shows under "Options").
_PANELS: dict[str, tuple[str, ...]] = {
    "Data": ("data", "data_root", "lowres_data", "patch_size", "batch_size", "workers",
             "cache_dir", "skip_bad", "seed"),
    "Model": ("stage", "scale", "num_blocks", "channels", "init", "pixel_loss", "content_loss",
              "adv_weight", "vgg_weights", "offline"),
    "Optimisation": ("steps", "lr", "schedule", "milestones", "gamma", "min_lr", "warmup_steps",
                     "beta1", "beta2", "weight_decay", "ema", "grad_clip"),
    "Precision and device": ("amp", "channels_last", "device", "deterministic"),
    "Checkpoints and logging": ("config", "resume", "run_dir", "save_every", "val_every",
                                "val_data", "log_every"),
}
PANEL_OF = {name: panel for panel, names in _PANELS.items() for name in names}
# The values of the options that take one of a few words: listed, checked and completed.
CHOICES: dict[str, tuple[str, ...]] = {
    "stage": STAGES, "pixel_loss": PIXEL_LOSSES, "content_loss": CONTENT_LOSSES,
    "schedule": SCHEDULES, "amp": AMP_MODES}
_METAVARS = {"data": "div2k|DIR", "data_root": "DIR", "lowres_data": "DIR", "init": "RUN|FILE",
             "vgg_weights": "FILE", "val_data": "NAME|DIR", "run_dir": "DIR", "cache_dir": "DIR",
             "device": DEVICE_METAVAR}


def _shown_default(default: Any) -> str:
    """' (default: X)', or nothing for an empty default (the help says what empty means)."""
    if isinstance(default, list):
        default = ", ".join(map(str, default)) or "none"
    return "" if default == "" else f" (default: {default})"


def _option_for(name: str, hint: Any, default: Any) -> tuple[Any, Any]:
    flag = flag_of(name)
    old = [flag_of(a) for a, field in ALIASES.items() if field == name]  # old names still work
    shown: dict[str, Any] = {"help": help_of(name, as_flags=True) + _shown_default(default),
                             "show_default": False, "rich_help_panel": PANEL_OF.get(name)}
    if hint is bool:
        return bool | None, typer.Option(None, f"{flag}/--no-{flag[2:]}", **shown)
    if name in CHOICES:
        shown.update(metavar="|".join(CHOICES[name]), parser=choice(CHOICES[name], flag),
                     autocompletion=completer(CHOICES[name]))
    elif name == "device":
        shown.update(parser=checked_by(lambda t: parse_device(t, name)),
                     autocompletion=complete_device)
    if name in _METAVARS:
        shown["metavar"] = _METAVARS[name]
    if get_origin(hint) is list:
        (item,) = get_args(hint)
        list_hint: Any = list[item]  # type: ignore[valid-type]  # built from the field's type
        return list_hint | None, typer.Option(None, flag, *old, **shown)
    return hint | None, typer.Option(None, flag, *old, **shown)


def train(**kwargs: Any) -> None:
    """Train SRResNet (stage psnr) or SRGAN (stage gan) on DIV2K or folders of images.

    Every option can come from a TOML file (--config) and be overridden by flags. Runs on one
    device, or on many with `torchrun --nproc_per_node N -m srgan_cli train ...` (DDP).

    Examples:
    srgan train --data-root ~/datasets --val-data set5 --run-dir runs/psnr
    srgan train --data photos/ --steps 20000 --batch-size 8 --val-data set5 --val-every 1000
    srgan train --stage gan --init runs/psnr --run-dir runs/gan --val-data set5
    srgan train --config train.toml --resume auto"""
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
                                 "options below (flat keys, e.g. lr = 2e-4).", metavar="FILE",
                                 rich_help_panel=PANEL_OF["config"]),
        ),
        inspect.Parameter(
            "resume", kw, annotation=str | None,
            default=typer.Option(None, "--resume", help="Continue a run: 'auto' (the run "
                                 "folder's last.pt, if any) or a checkpoint path.",
                                 metavar="auto|FILE", rich_help_panel=PANEL_OF["resume"]),
        ),
    ]
    hints = get_type_hints(TrainConfig)
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        annotation, default = _option_for(f.name, hints[f.name], getattr(defaults, f.name))
        params.append(inspect.Parameter(f.name, kw, annotation=annotation, default=default))
    order = list(_PANELS)  # the panels show in the order their first option comes
    return inspect.Signature(sorted(params, key=lambda p: order.index(PANEL_OF[p.name])
                                    if p.name in PANEL_OF else len(order)))


train.__signature__ = _build_signature()  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    app.command("train", help=train.__doc__)(train)
