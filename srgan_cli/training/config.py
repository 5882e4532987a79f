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

STAGES = ("psnr", "gan")
PIXEL_LOSSES = ("mse", "l1")
CONTENT_LOSSES = ("vgg54", "vgg22", "mse", "l1")
SCHEDULES = ("auto", "constant", "cosine", "step", "halve")
AMP_MODES = ("auto", "off", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Every training option. Field docs are the reference (shown by `srgan train --help`)."""

    stage: str = "psnr"  # psnr (SRResNet, pixel loss) or gan (SRGAN, perceptual + adversarial)
    data: list[str] = field(default_factory=lambda: ["div2k"])  # "div2k" or HR image folders
    data_root: str = ""  # where DIV2K/ lives (default: $SRGAN_DATA, else ./data)
    # low-resolution image folders paired 1:1 with `data` folders (old name: lr_data)
    lowres_data: list[str] = field(default_factory=list)
    scale: int = 4
    num_blocks: int = 16
    channels: int = 64
    patch_size: int = 96  # HR crop size (a multiple of scale)
    batch_size: int = 16  # per process
    steps: int = 100_000  # total optimisation steps of this stage
    lr: float = 1e-4
    schedule: str = "auto"  # auto (psnr: constant, gan: halve) | constant | cosine | step | halve
    milestones: list[int] = field(default_factory=list)  # for schedule = step
    gamma: float = 0.5  # for schedule = step
    min_lr: float = 0.0  # for schedule = cosine
    warmup_steps: int = 0
    beta1: float = 0.9
    beta2: float = 0.999
    weight_decay: float = 0.0
    pixel_loss: str = "mse"  # psnr stage: mse | l1
    content_loss: str = "vgg54"  # gan stage: vgg54 | vgg22 | mse | l1
    adv_weight: float = 1e-3
    vgg_weights: str = ""  # path to torchvision's vgg19 ImageNet .pth (else torchvision's cache)
    offline: bool = False  # never download (VGG19 weights); also SRGAN_OFFLINE=1
    init: str = ""  # gan stage: generator to start from (run folder, checkpoint or .safetensors)
    ema: float = 0.0  # EMA decay of the generator (0 = off), e.g. 0.999
    grad_clip: float = 0.0  # max gradient norm (0 = off)
    amp: str = "auto"  # auto (bf16/fp16 on CUDA, off on CPU) | off | bf16 | fp16 (CUDA only)
    channels_last: bool = True
    device: str = "auto"
    workers: int = -1  # DataLoader workers (-1: auto = 0 on CPU, min(8, cores) on CUDA)
    seed: int = 0
    deterministic: bool = False  # deterministic algorithms (bit-exact resume on CPU)
    save_every: int = 1000
    val_every: int = 1000
    val_data: str = ""  # benchmark folder (e.g. .../Set5) scored every val_every steps
    log_every: int = 50
    run_dir: str = "runs/train"
    cache_dir: str = ""  # decoded-image cache (default: ~/.cache/srgan-cli/decoded)
    skip_bad: bool = False  # skip unreadable / too small / mismatched images with a warning

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


HELP: dict[str, str] = {
    "stage": "Stage: psnr (SRResNet, pixel loss) or gan (SRGAN: VGG content + adversarial).",
    "data": "Training data: 'div2k' (official layout under --data-root) or a folder of HR "
    f"images ({'/'.join(dict.fromkeys(IMAGE_FORMATS.values()))}). Repeat for several sources.",
    "data_root": "Folder holding DIV2K/ (default: $SRGAN_DATA, else ./data).",
    "lowres_data": "Low-resolution (LR) image folder paired with each --data folder, files "
    "named like the HR ones (optionally with an x<scale> suffix). Default: LR made with MATLAB "
    "bicubic. Formerly --lr-data.",
    "scale": "Upscaling factor: 2, 3, 4 or 8.",
    "num_blocks": "Residual blocks of the generator.",
    "channels": "Feature channels of the generator.",
    "patch_size": "HR crop size in pixels (a multiple of the scale; >= 32 for gan).",
    "batch_size": "Crops per step and per process.",
    "steps": "Total optimisation steps of this stage.",
    "lr": "Base learning rate (Adam).",
    "schedule": "LR schedule: auto (constant for psnr, halve for gan), constant, cosine (to "
    "--min-lr), step (x--gamma at each --milestones step), halve (x0.1 for the second half: "
    "SRGAN's 1e-4 then 1e-5).",
    "milestones": "Steps at which schedule 'step' multiplies the lr by --gamma (repeatable).",
    "gamma": "LR factor at each milestone of schedule 'step'.",
    "min_lr": "Final learning rate of schedule 'cosine'.",
    "warmup_steps": "Linear LR warm-up steps.",
    "beta1": "Adam beta1.",
    "beta2": "Adam beta2.",
    "weight_decay": "Adam weight decay of the generator.",
    "pixel_loss": "Loss of stage psnr: mse (the paper) or l1.",
    "content_loss": "Content loss of stage gan: vgg54 (the paper's, VGG19 conv5_4 features / "
    "12.75), vgg22, mse (SRGAN-MSE) or l1.",
    "adv_weight": "Weight of the adversarial loss in the generator loss.",
    "vgg_weights": "Path of torchvision's VGG19 ImageNet weights (vgg19-dcbb9e9d.pth); default: "
    "torchvision's cache, downloaded there when absent (unless --offline).",
    "offline": "Never download anything (the VGG19 weights of stage gan); SRGAN_OFFLINE=1 does "
    "the same.",
    "init": "Stage gan: generator to start from (a psnr run folder, checkpoint, .pth or "
    ".safetensors).",
    "ema": "EMA decay of the generator weights (0 = off; e.g. 0.999). EMA weights are used for "
    "validation and export.",
    "grad_clip": "Clip the gradient norm to this value (0 = off).",
    "amp": "Mixed precision: auto (bf16, else fp16 + grad scaler, on CUDA; off on CPU), off, "
    "bf16 (CPU or CUDA), fp16 (CUDA).",
    "channels_last": "Use the channels_last memory format (faster convolutions).",
    "device": "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.",
    "workers": "DataLoader worker processes (-1: 0 on CPU, min(8, cores) on CUDA).",
    "seed": "Random seed: the crops of sample k depend only on (seed, k).",
    "deterministic": "Use deterministic algorithms (bit-exact resume on CPU).",
    "save_every": "Write a checkpoint every N steps (and at the end).",
    "val_every": "Score the generator on --val-data every N steps (0 = off).",
    "val_data": "Validation set: a benchmark folder (e.g. Set5 with HR/) or a name like set5.",
    "log_every": "Log averaged losses to metrics.jsonl every N steps.",
    "run_dir": "Run folder: config.toml, metrics.jsonl, last.pt, best.pt.",
    "cache_dir": "Decoded-image cache (default: ~/.cache/srgan-cli/decoded).",
    "skip_bad": "Skip unreadable, too small or LR/HR-mismatched images with a warning instead of "
    "stopping.",
}
