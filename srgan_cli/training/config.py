"""Training configuration: one flat, strict schema shared by TOML files and CLI flags.

A TOML file (``--config``) sets any field; CLI flags override it. An unknown key, a wrong type or
a value out of its key's bounds is a ``ConfigError`` that names the key. Every key has its bounds
in its field metadata (a numeric `Range`, the `OneOf` choices, or a `Text` length), shown in
`srgan train --help` and checked by one `TrainConfig.validate` pass before any work. A config
file is read only when it is a regular file of at most `MAX_CONFIG_BYTES`. The resolved config
is saved in the run folder as ``config.toml``."""

from __future__ import annotations

import dataclasses
import math
import os
import stat
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from srgan_cli.errors import ConfigError
from srgan_cli.media.formats import IMAGE_FORMATS
from srgan_cli.messages import option, render, show_path
from srgan_cli.options import AMP_HELP, AMP_MODES, DATA_ROOT_HELP, DEVICE_HELP, OFFLINE_HELP

STAGES = ("psnr", "gan")
PIXEL_LOSSES = ("mse", "l1")
CONTENT_LOSSES = ("vgg54", "vgg22", "mse", "l1")
SCHEDULES = ("auto", "constant", "cosine", "step", "halve")
SCALES = (2, 3, 4, 8)
MAX_STEPS = 10**9  # any step count: far beyond a real run, small enough for every counter
MAX_ITEMS = 256  # values of a list key (data folders, milestones)
MAX_TEXT = 4096  # characters of a text key (paths: PATH_MAX on Linux)
MAX_CONFIG_BYTES = 1 << 20  # a config file larger than this is not a config file


@dataclass(frozen=True)
class Range:
    """The numbers a key accepts: from `low` to `high`, each end included unless open."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        return (f"{'(' if self.low_open else '['}{_number(self.low)}, {_number(self.high)}"
                f"{')' if self.high_open else ']'}")


@dataclass(frozen=True)
class OneOf:
    """The values a key accepts: one of `choices`."""

    choices: tuple[Any, ...]

    def __contains__(self, value: Any) -> bool:
        return value in self.choices

    def __str__(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))


@dataclass(frozen=True)
class Text:
    """A text key (a path, a name): at most `MAX_TEXT` characters, no NUL (no path holds one)."""

    def __contains__(self, value: str) -> bool:
        return len(value) <= MAX_TEXT and "\x00" not in value

    def __str__(self) -> str:
        return f"a text of at most {MAX_TEXT} characters without NUL"


Bounds = Range | OneOf | Text
TEXT = Text()
STEP_NUMBER = Range(0, MAX_STEPS)  # a step, or a step count where 0 means off


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _opt(default: Any, help: str, bounds: Bounds = TEXT) -> Any:
    """A config field with its help text and the bounds of its values (of each value, for a
    list; a bool needs none); lists get a fresh copy per config."""
    meta = {"help": help, "bounds": None if isinstance(default, bool) else bounds}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Every training option, with its help text (`srgan train --help`) as field metadata: the
    one description of each option (`help_of`)."""

    stage: str = _opt(
        "psnr", "Stage: psnr (SRResNet, pixel loss) or gan (SRGAN: VGG content + adversarial).",
        OneOf(STAGES))
    data: list[str] = _opt(
        ["div2k"], f"Training data: 'div2k' (official layout under {option('data_root')}) or a "
        f"folder of HR images ({'/'.join(dict.fromkeys(IMAGE_FORMATS.values()))}). Repeat for "
        "several sources.")
    data_root: str = _opt("", DATA_ROOT_HELP)
    lowres_data: list[str] = _opt(
        [], f"Low-resolution (LR) image folder paired with each {option('data')} folder, files "
        "named like the HR ones (optionally with an x<scale> suffix). Default: LR made with "
        f"MATLAB bicubic. Formerly {option('lr_data')}.")
    scale: int = _opt(4, "Upscaling factor: 2, 3, 4 or 8.", OneOf(SCALES))
    num_blocks: int = _opt(16, "Residual blocks of the generator.", Range(1, 256))
    channels: int = _opt(64, "Feature channels of the generator.", Range(1, 1024))
    patch_size: int = _opt(96, "HR crop size in pixels (a multiple of the scale; >= 32 for gan).",
                           Range(4, 2048))
    batch_size: int = _opt(16, "Crops per step and per process.", Range(1, 4096))
    steps: int = _opt(100_000, "Total optimisation steps of this stage.", Range(1, MAX_STEPS))
    lr: float = _opt(1e-4, "Base learning rate (Adam).", Range(0, 1, low_open=True))
    schedule: str = _opt(
        "auto", "LR schedule: auto (constant for psnr, halve for gan), constant, cosine (to "
        f"{option('min_lr')}), step (x{option('gamma')} at each {option('milestones')} step), "
        "halve (x0.1 for the second half: SRGAN's 1e-4 then 1e-5).", OneOf(SCHEDULES))
    milestones: list[int] = _opt(
        [], f"Steps at which schedule 'step' multiplies the lr by {option('gamma')} "
        "(repeatable).", STEP_NUMBER)
    gamma: float = _opt(0.5, "LR factor at each milestone of schedule 'step'.",
                        Range(0, 1, low_open=True))
    min_lr: float = _opt(0.0, "Final learning rate of schedule 'cosine'.", Range(0, 1))
    warmup_steps: int = _opt(0, "Linear LR warm-up steps.", STEP_NUMBER)
    beta1: float = _opt(0.9, "Adam beta1.", Range(0, 1, high_open=True))
    beta2: float = _opt(0.999, "Adam beta2.", Range(0, 1, high_open=True))
    weight_decay: float = _opt(0.0, "Adam weight decay of the generator.", Range(0, 1))
    pixel_loss: str = _opt("mse", "Loss of stage psnr: mse (the paper) or l1.",
                           OneOf(PIXEL_LOSSES))
    content_loss: str = _opt(
        "vgg54", "Content loss of stage gan: vgg54 (the paper's, VGG19 conv5_4 features / 12.75), "
        "vgg22, mse (SRGAN-MSE) or l1.", OneOf(CONTENT_LOSSES))
    adv_weight: float = _opt(1e-3, "Weight of the adversarial loss in the generator loss.",
                             Range(0, 100))
    vgg_weights: str = _opt(
        "", "Path of torchvision's VGG19 ImageNet weights (vgg19-dcbb9e9d.pth); default: "
        f"torchvision's cache, downloaded there when absent (unless {option('offline')}).")
    offline: bool = _opt(False, OFFLINE_HELP)
    init: str = _opt(
        "", "Stage gan: generator to start from (a psnr run folder, checkpoint, .pth or "
        ".safetensors).")
    ema: float = _opt(
        0.0, "EMA decay of the generator weights (0 = off; e.g. 0.999). EMA weights are used "
        "for validation and export.", Range(0, 1, high_open=True))
    grad_clip: float = _opt(0.0, "Clip the gradient norm to this value (0 = off).",
                            Range(0, 1e6))
    amp: str = _opt("auto", AMP_HELP, OneOf(AMP_MODES))
    channels_last: bool = _opt(True, "Use the channels_last memory format (faster convolutions).")
    device: str = _opt("auto", DEVICE_HELP)
    workers: int = _opt(-1, "DataLoader worker processes (-1: 0 on CPU, min(8, cores) on CUDA).",
                        Range(-1, 256))
    seed: int = _opt(0, "Random seed: the crops of sample k depend only on (seed, k).",
                     Range(0, 2**32 - 1))
    deterministic: bool = _opt(False, "Use deterministic algorithms (bit-exact resume on CPU).")
    save_every: int = _opt(1000, "Write a checkpoint every N steps (and at the end).",
                           Range(1, MAX_STEPS))
    val_every: int = _opt(
        1000, f"Score the generator on {option('val_data')} every N steps (0 = off).",
        STEP_NUMBER)
    val_data: str = _opt(
        "", "Validation set: a benchmark folder (e.g. Set5 with HR/) or a name like set5.")
    log_every: int = _opt(50, "Log averaged losses to metrics.jsonl every N steps.",
                          Range(1, MAX_STEPS))
    run_dir: str = _opt("runs/train", "Run folder: config.toml, metrics.jsonl, last.pt, best.pt "
                        "(a new or empty folder, or an earlier run's).")
    cache_dir: str = _opt("", "Decoded-image cache (default: ~/.cache/srgan-cli/decoded).")
    skip_bad: bool = _opt(
        False, "Skip unreadable, too small or LR/HR-mismatched images with a warning instead of "
        "stopping.")

    def validate(self) -> None:
        """Check every key against its bounds, then the rules between keys; raise ConfigError
        naming the first key that fails (one pass, before any work).

        Every float option must be finite first (nan/inf would train NaN weights or silently
        turn an option off, e.g. grad_clip = nan)."""
        for key in FLOAT_FIELDS:
            value = getattr(self, key)
            if not math.isfinite(value):
                raise ConfigError(f"config key '{key}': must be a finite number, got {value}")
        for f in fields(self):
            _check_bounds(f.name, getattr(self, f.name), f.metadata["bounds"])
        for key, ok, why in RULES:
            if not ok(self):
                raise ConfigError(f"config key '{key}': {why.format(c=self)}")


def _check_bounds(key: str, value: Any, bounds: Bounds | None) -> None:
    """ConfigError naming `key` when `value` (each value of a list) is out of `bounds`."""
    if bounds is None:
        return
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        raise ConfigError(f"config key '{key}': at most {MAX_ITEMS} values, got {len(value)}")
    for v in values:
        if v in bounds:
            continue
        shown = repr(v) if not isinstance(bounds, Text) else (
            "a NUL character" if "\x00" in v else f"{len(v)} characters")
        each = "each value " if isinstance(value, list) else ""
        raise ConfigError(f"config key '{key}': {each}must be "
                          f"{'in ' if isinstance(bounds, Range) else ''}{bounds}, got {shown}")


# (key, check, message): a message is formatted with the config as `c`. Rules between keys; the
# bounds of each key alone are in its field metadata.
Rule = tuple[str, Callable[[TrainConfig], bool], str]
RULES: tuple[Rule, ...] = (
    ("patch_size", lambda c: c.patch_size % c.scale == 0 and c.patch_size >= 2 * c.scale,
     "must be a multiple of scale {c.scale}, got {c.patch_size}"),
    ("patch_size", lambda c: c.stage != "gan" or c.patch_size >= 32,
     "the discriminator needs patches of at least 32 px"),
    ("min_lr", lambda c: c.min_lr <= c.lr, "must not exceed lr ({c.lr})"),
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
    """Read a TOML config file; sections are flattened only if they are [train].

    ConfigError for anything but a regular file of at most MAX_CONFIG_BYTES (a FIFO would wait
    for a writer forever, /dev/zero never ends), for text that is not UTF-8 TOML, and for
    nesting too deep for the parser."""
    p = Path(path)
    text = _read_config(p)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{show_path(p)}: not a valid TOML file ({e})") from e
    except RecursionError:
        raise ConfigError(f"{show_path(p)}: not a valid TOML file (arrays or tables nested "
                          "too deeply)") from None
    if "train" in data and isinstance(data["train"], dict):
        data = {**{k: v for k, v in data.items() if k != "train"}, **data["train"]}
    return data


def _read_config(p: Path) -> str:
    """The text of config file `p`, checked to be a regular file before it is opened (and again
    on the open file, opened without blocking) and read to at most MAX_CONFIG_BYTES."""
    try:
        mode = p.stat().st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{show_path(p)}: not a regular file ({_kind(mode)})")
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if not stat.S_ISREG(mode):  # swapped since the check above
                raise ConfigError(f"{show_path(p)}: not a regular file ({_kind(mode)})")
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError as e:
        raise ConfigError(f"{show_path(p)}: config file not found") from e
    except OSError as e:
        raise ConfigError(f"{show_path(p)}: cannot read the config file "
                          f"({e.strerror or e})") from e
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{show_path(p)}: larger than {MAX_CONFIG_BYTES // 2**20} MiB, too "
                          "large for a config file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{show_path(p)}: not a valid TOML file (not UTF-8 text at byte "
                          f"{e.start})") from None


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, for a message."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


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
    ending with its range when the key is a number; other options are named as
    `messages.render` does (`as_flags`: the command line's words)."""
    meta = _FIELDS[name].metadata
    bounds = meta["bounds"]
    text = str(meta["help"]) + (f" Range: {bounds}." if isinstance(bounds, Range) else "")
    return render(text, as_flags=as_flags)


_FIELDS = {f.name: f for f in fields(TrainConfig)}
