"""Training configuration: one flat, strict schema shared by TOML files and CLI flags.

A TOML file (``--config``) sets any field; CLI flags override it. An unknown key, a wrong type or
an invalid value is a ``ConfigError`` that names the key. The resolved config is saved in the run
folder as ``config.toml``."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from srgan_cli.errors import ConfigError
from srgan_cli.media.formats import IMAGE_FORMATS
from srgan_cli.messages import option, render
from srgan_cli.options import AMP_HELP, AMP_MODES, DATA_ROOT_HELP, DEVICE_HELP, OFFLINE_HELP

STAGES = ("psnr", "gan")
PIXEL_LOSSES = ("mse", "l1")
CONTENT_LOSSES = ("vgg54", "vgg22", "mse", "l1")
SCHEDULES = ("auto", "constant", "cosine", "step", "halve")


def _opt(default: Any, help: str) -> Any:
    """A config field with its help text (lists get a fresh copy per config)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Every training option, with its help text (`srgan train --help`) as field metadata: the
    one description of each option (`help_of`)."""

    stage: str = _opt(
        "psnr", "Stage: psnr (SRResNet, pixel loss) or gan (SRGAN: VGG content + adversarial).")
    data: list[str] = _opt(
        ["div2k"], f"Training data: 'div2k' (official layout under {option('data_root')}) or a "
        f"folder of HR images ({'/'.join(dict.fromkeys(IMAGE_FORMATS.values()))}). Repeat for "
        "several sources.")
    data_root: str = _opt("", DATA_ROOT_HELP)
    lowres_data: list[str] = _opt(
        [], f"Low-resolution (LR) image folder paired with each {option('data')} folder, files "
        "named like the HR ones (optionally with an x<scale> suffix). Default: LR made with "
        f"MATLAB bicubic. Formerly {option('lr_data')}.")
    scale: int = _opt(4, "Upscaling factor: 2, 3, 4 or 8.")
    num_blocks: int = _opt(16, "Residual blocks of the generator.")
    channels: int = _opt(64, "Feature channels of the generator.")
    patch_size: int = _opt(96, "HR crop size in pixels (a multiple of the scale; >= 32 for gan).")
    batch_size: int = _opt(16, "Crops per step and per process.")
    steps: int = _opt(100_000, "Total optimisation steps of this stage.")
    lr: float = _opt(1e-4, "Base learning rate (Adam).")
    schedule: str = _opt(
        "auto", "LR schedule: auto (constant for psnr, halve for gan), constant, cosine (to "
        f"{option('min_lr')}), step (x{option('gamma')} at each {option('milestones')} step), "
        "halve (x0.1 for the second half: SRGAN's 1e-4 then 1e-5).")
    milestones: list[int] = _opt(
        [], f"Steps at which schedule 'step' multiplies the lr by {option('gamma')} "
        "(repeatable).")
    gamma: float = _opt(0.5, "LR factor at each milestone of schedule 'step'.")
    min_lr: float = _opt(0.0, "Final learning rate of schedule 'cosine'.")
    warmup_steps: int = _opt(0, "Linear LR warm-up steps.")
    beta1: float = _opt(0.9, "Adam beta1.")
    beta2: float = _opt(0.999, "Adam beta2.")
    weight_decay: float = _opt(0.0, "Adam weight decay of the generator.")
    pixel_loss: str = _opt("mse", "Loss of stage psnr: mse (the paper) or l1.")
    content_loss: str = _opt(
        "vgg54", "Content loss of stage gan: vgg54 (the paper's, VGG19 conv5_4 features / 12.75), "
        "vgg22, mse (SRGAN-MSE) or l1.")
    adv_weight: float = _opt(1e-3, "Weight of the adversarial loss in the generator loss.")
    vgg_weights: str = _opt(
        "", "Path of torchvision's VGG19 ImageNet weights (vgg19-dcbb9e9d.pth); default: "
        f"torchvision's cache, downloaded there when absent (unless {option('offline')}).")
    offline: bool = _opt(False, OFFLINE_HELP)
    init: str = _opt(
        "", "Stage gan: generator to start from (a psnr run folder, checkpoint, .pth or "
        ".safetensors).")
    ema: float = _opt(
        0.0, "EMA decay of the generator weights (0 = off; e.g. 0.999). EMA weights are used "
        "for validation and export.")
    grad_clip: float = _opt(0.0, "Clip the gradient norm to this value (0 = off).")
    amp: str = _opt("auto", AMP_HELP)
    channels_last: bool = _opt(True, "Use the channels_last memory format (faster convolutions).")
    device: str = _opt("auto", DEVICE_HELP)
    workers: int = _opt(-1, "DataLoader worker processes (-1: 0 on CPU, min(8, cores) on CUDA).")
    seed: int = _opt(0, "Random seed: the crops of sample k depend only on (seed, k).")
    deterministic: bool = _opt(False, "Use deterministic algorithms (bit-exact resume on CPU).")
    save_every: int = _opt(1000, "Write a checkpoint every N steps (and at the end).")
    val_every: int = _opt(
        1000, f"Score the generator on {option('val_data')} every N steps (0 = off).")
    val_data: str = _opt(
        "", "Validation set: a benchmark folder (e.g. Set5 with HR/) or a name like set5.")
    log_every: int = _opt(50, "Log averaged losses to metrics.jsonl every N steps.")
    run_dir: str = _opt("runs/train", "Run folder: config.toml, metrics.jsonl, last.pt, best.pt.")
    cache_dir: str = _opt("", "Decoded-image cache (default: ~/.cache/srgan-cli/decoded).")
    skip_bad: bool = _opt(
        False, "Skip unreadable, too small or LR/HR-mismatched images with a warning instead of "
        "stopping.")

    def validate(self) -> None:
        """Check values that types alone cannot; raise ConfigError naming the key.

        Every float option must be finite (nan/inf would train NaN weights or silently turn an
        option off, e.g. grad_clip = nan); then each rule of RULES in order."""
        for key in FLOAT_FIELDS:
            value = getattr(self, key)
            if not math.isfinite(value):
                raise ConfigError(f"config key '{key}': must be a finite number, got {value}")
        for key, ok, why in RULES:
            if not ok(self):
                raise ConfigError(f"config key '{key}': {why.format(c=self)}")


def _choice(key: str, options: tuple[str, ...]) -> Rule:
    return (key, lambda c: getattr(c, key) in options,
            f"must be one of {', '.join(options)}, got {{c.{key}!r}}")


def _at_least(key: str, low: float, why: str) -> Rule:
    return (key, lambda c: getattr(c, key) >= low, why)


def _unit(key: str) -> Rule:
    """A value in [0, 1) (Adam betas, EMA decay)."""
    return (key, lambda c: 0.0 <= getattr(c, key) < 1.0, "must be in [0, 1)")


# (key, check, message): a message is formatted with the config as `c`.
Rule = tuple[str, Callable[[TrainConfig], bool], str]
RULES: tuple[Rule, ...] = (
    _choice("stage", STAGES),
    ("scale", lambda c: c.scale in (2, 3, 4, 8), "must be 2, 3, 4 or 8, got {c.scale}"),
    _choice("pixel_loss", PIXEL_LOSSES),
    _choice("content_loss", CONTENT_LOSSES),
    _choice("schedule", SCHEDULES),
    _choice("amp", AMP_MODES),
    ("patch_size", lambda c: c.patch_size % c.scale == 0 and c.patch_size >= 2 * c.scale,
     "must be a multiple of scale {c.scale}, got {c.patch_size}"),
    ("patch_size", lambda c: c.stage != "gan" or c.patch_size >= 32,
     "the discriminator needs patches of at least 32 px"),
    *(_at_least(k, 1, "must be at least 1") for k in
      ("num_blocks", "channels", "batch_size", "steps", "save_every", "log_every")),
    _at_least("val_every", 0, "must be >= 0 (0 = off)"),
    ("lr", lambda c: c.lr > 0, "must be positive"),
    _unit("beta1"),
    _unit("beta2"),
    *(_at_least(k, 0, "must be >= 0") for k in
      ("min_lr", "warmup_steps", "grad_clip", "adv_weight", "weight_decay")),
    ("min_lr", lambda c: c.min_lr <= c.lr, "must not exceed lr ({c.lr})"),
    ("gamma", lambda c: c.gamma > 0, "must be positive"),
    _at_least("workers", -1, "must be >= 0, or -1 for automatic"),
    ("milestones", lambda c: all(m >= 0 for m in c.milestones), "steps must be >= 0"),
    _unit("ema"),
    ("data", lambda c: bool(c.data), "give at least one source ('div2k' or a folder)"),
    ("lowres_data", lambda c: not c.lowres_data or len(c.lowres_data) == len(c.data),
     "needs one LR folder per `data` folder (formerly 'lr_data')"),
)


_HINTS = get_type_hints(TrainConfig)
FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))
FLOAT_FIELDS = tuple(k for k in FIELD_NAMES if _HINTS[k] is float)
# Old key -> field: configs and checkpoints written with the old name still load and resume.
ALIASES = {"lr_data": "lowres_data"}  # `lr` is the learning rate; these are low-res images


def _coerce(key: str, value: Any) -> Any:
    """Check a TOML value against the field's type; ints are accepted for floats."""
    hint = _HINTS[key]
    origin = get_origin(hint)
    if origin is list:
        (item,) = get_args(hint)
        if isinstance(value, str):  # a single value where a list is expected
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}': expected a list, got {type(value).__name__}")
        return [_coerce_scalar(key, item, v) for v in value]
    return _coerce_scalar(key, hint, value)


def _coerce_scalar(key: str, hint: Any, value: Any) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(
        f"config key '{key}': expected {name}, got {type(value).__name__} ({value!r})"
    )


def from_mapping(values: dict[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    """A config from `base` (or defaults) updated by `values`; unknown keys are errors."""
    cfg = dataclasses.replace(base) if base is not None else TrainConfig()
    for key, value in values.items():
        key = ALIASES.get(key, key)
        if key not in FIELD_NAMES:
            close = [n for n in FIELD_NAMES if n.startswith(key[:3])]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"unknown config key '{key}'{hint}")
        setattr(cfg, key, _coerce(key, value))
    return cfg


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file; sections are flattened only if they are [train]."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as e:
        raise ConfigError(f"{p}: config file not found") from e
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{p}: not a valid TOML file ({e})") from e
    if "train" in data and isinstance(data["train"], dict):
        data = {**{k: v for k, v in data.items() if k != "train"}, **data["train"]}
    return data


def resolve(config_path: str | Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """Defaults <- TOML file <- CLI overrides (None values are ignored); then validated."""
    cfg = TrainConfig()
    if config_path:
        cfg = from_mapping(load_toml(config_path), cfg)
    cfg = from_mapping({k: v for k, v in overrides.items() if v is not None}, cfg)
    cfg.validate()
    return cfg


def to_toml(cfg: TrainConfig) -> str:
    """Serialise a config as TOML (flat keys, stable order)."""
    lines = []
    for f in fields(cfg):
        lines.append(f"{f.name} = {_toml_value(getattr(cfg, f.name))}")
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def as_dict(cfg: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def help_of(name: str, *, as_flags: bool | None = None) -> str:
    """The help text of config field `name` (what `srgan train --help` shows for its flag),
    naming other options as `messages.render` does (`as_flags`: the command line's words)."""
    return render(str(_FIELDS[name].metadata["help"]), as_flags=as_flags)


_FIELDS = {f.name: f for f in fields(TrainConfig)}
