"""Model files: save/load SRResNet weights with a model card, bundled models, safe .pth import.

Our format is safetensors whose string metadata holds the model card: ``format`` (FORMAT),
``architecture`` ("srresnet"), ``scale``, ``num_blocks``, ``channels`` and the free fields of the
card as one JSON string under ``card``. BatchNorm is stored unfolded (the trainable form).
Foreign ``.pth``/``.pt`` files are read with ``torch.load(weights_only=True)`` only, so a pickle
that would run code is refused, never executed.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from srgan_cli.errors import ModelError, OutputError
from srgan_cli.fileio import atomic_write, torch_load_weights_only
from srgan_cli.media.formats import SAFETENSORS_SUFFIX
from srgan_cli.messages import one_line
from srgan_cli.models.scales import SUPPORTED_SCALES, upsample_factors
from srgan_cli.models.state_dicts import key_summary, shapes_of
from srgan_cli.options import weights_dir_env

if TYPE_CHECKING:  # torch is imported where a network is built: `srgan models` runs without it
    import torch
    from torch import nn

    from srgan_cli.models.srresnet import SRResNet

FORMAT = "srgan-cli/1"
ARCHITECTURE = "srresnet"
DEFAULT_MODEL = "srresnet_x4"
BICUBIC = "bicubic"
# Structural card fields, written from the module itself (never taken from the free card).
STRUCTURAL_KEYS = ("format", "architecture", "scale", "num_blocks", "channels")
# Where a state dict may sit inside a .pth: the first one present wins, nestings are followed.
NESTING_KEYS = ("params_ema", "ema", "params", "state_dict", "model", "generator")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DDP / DataParallel / torch.compile

V = TypeVar("V")


@dataclass
class ModelInfo:
    """What `srgan models` lists about one bundled weights file (read from its header only)."""

    name: str
    path: Path
    scale: int | None
    num_blocks: int | None
    channels: int | None
    card: dict[str, Any]
    size_bytes: int
    error: str | None = None


def weights_dir() -> Path:
    """Folder of bundled weights: $SRGAN_WEIGHTS_DIR; else the package data `srgan_cli/weights`
    (a wheel, `pip install .`, `--user` or `--target`: pyproject maps the top-level weights/
    folder there); else <repo>/weights beside the package (a source checkout or editable
    install). Found through `importlib.resources`, never through sys.prefix."""
    env = weights_dir_env()
    if env is not None:
        return env
    packaged = resources.files("srgan_cli") / "weights"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(str(resources.files("srgan_cli"))).resolve().parent / "weights"


def bundled_path(name: str) -> Path:
    """The file a bundled model name refers to (it may not exist)."""
    return weights_dir() / f"{name}{SAFETENSORS_SUFFIX}"


def default_model_spec() -> str:
    """DEFAULT_MODEL when its weights are installed, else "bicubic"."""
    return DEFAULT_MODEL if bundled_path(DEFAULT_MODEL).is_file() else BICUBIC


# ----------------------------------------------------------------------------- architecture


def infer_from_shapes(shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, int, int]:
    """(num_blocks, channels, scale) of an SRResNet from its key names and tensor shapes.

    Raises ModelError naming what was expected and what was found."""
    head = shapes.get("head.weight")
    if head is None or len(head) != 4 or head[1:] != (3, 9, 9):
        if head is not None:
            what = f"head.weight of shape {head}"
        else:
            what = f"keys {key_summary(sorted(shapes))}" if shapes else "no tensors"
        raise ModelError(
            "not an srgan-cli SRResNet: expected a 'head.weight' tensor of shape (C, 3, 9, 9), "
            f"found {what}"
        )
    channels = head[0]
    blocks = {int(m.group(1)) for k in shapes if (m := re.match(r"body\.(\d+)\.", k))}
    num_blocks = len(blocks)
    if num_blocks == 0 or blocks != set(range(num_blocks)):
        raise ModelError(
            f"not an srgan-cli SRResNet: expected residual blocks body.0 .. body.N-1, "
            f"found block indices {sorted(blocks)[:8]}"
        )
    factors: list[int] = []
    stage = 0
    while (w := shapes.get(f"upsampler.{stage}.conv.weight")) is not None:
        ratio = w[0] // channels if channels else 0
        f = int(round(ratio**0.5))
        if w[0] != channels * f * f or f < 2:
            raise ModelError(
                f"not an srgan-cli SRResNet: upsampler.{stage}.conv.weight has {w[0]} output "
                f"channels, expected {channels} x r^2 for an upscale factor r"
            )
        factors.append(f)
        stage += 1
    scale = 1
    for f in factors:
        scale *= f
    if scale not in SUPPORTED_SCALES or upsample_factors(scale) != factors:
        raise ModelError(
            f"not an srgan-cli SRResNet: upsampler stages {factors or 'none'} do not make one of "
            f"the scales {SUPPORTED_SCALES}"
        )
    return num_blocks, channels, scale


def infer_architecture(state_dict: Mapping[str, Any]) -> tuple[int, int, int]:
    """(num_blocks, channels, scale) of an SRResNet state dict (see `infer_from_shapes`)."""
    return infer_from_shapes(shapes_of(state_dict))


def build_module(state_dict: Mapping[str, torch.Tensor], where: str) -> SRResNet:
    """An eval-mode fp32 CPU SRResNet holding `state_dict`; ModelError if the keys do not fit."""
    from srgan_cli.models.srresnet import SRResNet

    try:
        num_blocks, channels, scale = infer_architecture(state_dict)
    except ModelError as e:
        raise ModelError(f"{where}: {e}") from None
    module = SRResNet(scale=scale, num_blocks=num_blocks, channels=channels)
    expected = module.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state_dict) - optional)
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {key_summary(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {key_summary(unexpected)}")
        raise ModelError(
            f"{where}: not an srgan-cli SRResNet ({num_blocks} blocks, {channels} channels, "
            f"x{scale}): {'; '.join(parts)}"
        )
    for k, v in state_dict.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise ModelError(
                f"{where}: tensor {k} has shape {tuple(v.shape)}, expected "
                f"{tuple(expected[k].shape)} for an SRResNet with {channels} channels"
            )
        if not (v.is_floating_point() or k.endswith("num_batches_tracked")):
            raise ModelError(f"{where}: tensor {k} has dtype {v.dtype}, expected floating point")
    module.load_state_dict(dict(state_dict), strict=False)
    module.eval().requires_grad_(False)
    return module


# ----------------------------------------------------------------------------- save


def _unwrap(module: nn.Module) -> nn.Module:
    """The SRResNet inside DDP / DataParallel / torch.compile wrappers."""
    from torch import nn

    from srgan_cli.models.srresnet import SRResNet

    while not isinstance(module, SRResNet):
        inner = getattr(module, "module", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(module, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            raise TypeError(f"save_model expects an SRResNet, got {type(module).__name__}")
        module = inner
    return module


def save_model(module: nn.Module, path: str | Path, card: dict[str, Any]) -> None:
    """Write `module`'s weights and `card` as safetensors, atomically (temp file + os.replace).

    BatchNorm stays unfolded. Free card fields must be JSON-serialisable; the structural fields
    (STRUCTURAL_KEYS) are taken from the module and override any in `card`. Values JSON cannot
    hold become strings (paths, ...); NaN/inf are refused."""
    from safetensors.torch import save

    net = _unwrap(module)
    path = Path(path)
    free = {k: v for k, v in card.items() if k not in STRUCTURAL_KEYS}
    try:
        card_json = json.dumps(free, sort_keys=True, default=str, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ModelError(f"model card for {path} is not JSON-serialisable ({e})") from e
    metadata = {
        "format": FORMAT,
        "architecture": ARCHITECTURE,
        "scale": str(net.scale),
        "num_blocks": str(net.num_blocks),
        "channels": str(net.channels),
        "card": card_json,
    }
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state_dict().items()}
    if not path.parent.is_dir():
        raise OutputError(f"{path}: folder {path.parent} does not exist")
    try:
        with atomic_write(path) as tmp:  # bytes, not save_file: it recreates the file as 0600
            tmp.write_bytes(save(tensors, metadata=metadata))
    except OSError as e:
        raise OutputError(f"{path}: cannot write model file ({e.strerror or e})") from e


# ----------------------------------------------------------------------------- load


def _card_from_metadata(meta: Mapping[str, str], where: str) -> dict[str, Any]:
    """The model card: free fields from the JSON `card`, other string metadata, structural ints."""
    card: dict[str, Any] = {}
    raw = meta.get("card")
    if raw:
        try:
            free = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ModelError(f"{where}: model card is not valid JSON ({e.msg})") from e
        if isinstance(free, dict):
            card.update(free)
    for k, v in meta.items():
        if k == "card":
            continue
        if k in ("scale", "num_blocks", "channels"):
            try:
                card[k] = int(v)
            except ValueError:
                raise ModelError(f"{where}: model card field {k}={v!r} is not an integer") from None
        else:
            card[k] = v
    return card


def _check_card(card: Mapping[str, Any], found: tuple[int, int, int], where: str) -> None:
    fmt = card.get("format")
    if fmt is not None and fmt != FORMAT:
        raise ModelError(f"{where}: file format {fmt!r} is not supported, expected {FORMAT!r}")
    arch = card.get("architecture")
    if arch is not None and arch != ARCHITECTURE:
        raise ModelError(
            f"{where}: architecture {arch!r} is not supported, expected {ARCHITECTURE!r}"
        )
    for key, value in zip(("num_blocks", "channels", "scale"), found, strict=True):
        if key in card and card[key] != value:
            raise ModelError(
                f"{where}: model card says {key}={card[key]} but the tensors have {key}={value}"
            )


def read_safetensors_header(path: Path) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """Metadata and tensor shapes of a safetensors file without reading the tensors (nor
    importing torch: the numpy view of the header reads any dtype)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = dict(f.metadata() or {})
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # SafetensorError, OSError, ...: one line naming the file
        why = one_line(e, first_line=True)
        raise ModelError(f"{path}: not a valid safetensors file ({why})") from None
    return meta, shapes


def load_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors.torch import load_file

    meta, _ = read_safetensors_header(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as e:
        why = one_line(e, first_line=True)
        raise ModelError(f"{path}: not a valid safetensors file ({why})") from None
    return tensors, _card_from_metadata(meta, str(path))


def _unsafe_pickle_message(path: Path, e: BaseException) -> str:
    text = str(e)
    m = re.search(r"GLOBAL\s+([\w.]+)", text)
    what = f"it references {m.group(1)}" if m else "it is not a plain weights file, or corrupt"
    return (
        f"{path}: refusing to load: the safe loader (torch.load weights_only=True) refuses to "
        f"unpickle arbitrary code or unknown objects ({what}); convert it to .safetensors"
    )


def _is_tensor_dict(obj: Any) -> bool:
    import torch

    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def find_state_dict(obj: Any, depth: int = 0) -> dict[str, torch.Tensor] | None:
    """The generator state dict inside a loaded checkpoint, following NESTING_KEYS; or None.

    Our training checkpoints hold "generator" and optionally "ema" (preferred); BasicSR-style
    files hold "params_ema" (preferred) or "params"."""
    if _is_tensor_dict(obj):
        return dict(obj)
    if not isinstance(obj, Mapping) or depth > 4:
        return None
    for key in NESTING_KEYS:
        if key in obj:
            found = find_state_dict(obj[key], depth + 1)
            if found is not None:
                return found
    return None


def strip_wrapper_prefixes(state_dict: Mapping[str, V]) -> dict[str, V]:
    """Remove DDP `module.` and torch.compile `_orig_mod.` prefixes (repeatedly)."""
    out: dict[str, V] = {}
    for k, v in state_dict.items():
        changed = True
        while changed:
            changed = False
            for p in WRAPPER_PREFIXES:
                if k.startswith(p):
                    k = k[len(p) :]
                    changed = True
        out[k] = v
    out.pop("n_averaged", None)  # torch.optim.swa_utils.AveragedModel bookkeeping
    return out


def load_pickle(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch_load_weights_only(path)
    except pickle.UnpicklingError as e:
        raise ModelError(_unsafe_pickle_message(path, e)) from None
    except Exception as e:  # zip/EOF/decode errors of a truncated or garbage file
        why = one_line(e, first_line=True)
        raise ModelError(f"{path}: not a valid PyTorch weights file ({why})") from None
    state = find_state_dict(obj)
    if state is None:
        found = sorted(map(str, obj))[:6] if isinstance(obj, Mapping) else type(obj).__name__
        raise ModelError(
            f"{path}: no state dict found: expected a dict of tensors, possibly under one of "
            f"{', '.join(NESTING_KEYS)}; found {found}"
        )
    return strip_wrapper_prefixes(state)


def _looks_like_name(spec: str) -> bool:
    return not any(sep in spec for sep in ("/", os.sep)) and Path(spec).suffix == ""


def resolve_spec(spec: str) -> tuple[Path, str, str]:
    """(path, name, source) of a model spec: an existing file, or a bundled model name.

    Raises ModelError for an unknown name or a missing / non-file path."""
    path = Path(spec).expanduser()
    name = path.stem
    source = str(path)
    if _looks_like_name(spec) and not path.exists():
        path = bundled_path(spec)
        if not path.is_file():
            names = [m.name for m in bundled_models()] + [BICUBIC]
            raise ModelError(
                f"unknown model {spec!r}: not a bundled model (available: {', '.join(names)}) "
                "nor an existing file"
            )
        name, source = spec, f"bundled:{path}"
    if not path.exists():
        raise ModelError(f"{path}: model file not found")
    if not path.is_file():
        raise ModelError(f"{path}: is not a file, expected a .safetensors, .pth or .pt model")
    return path, name, source


def srresnet_from_state(
    state: Mapping[str, torch.Tensor], card: dict[str, Any], where: str
) -> tuple[SRResNet, dict[str, Any]]:
    """Our SRResNet holding `state`, and its card completed with the structural fields."""
    module = build_module(state, where)
    _check_card(card, (module.num_blocks, module.channels, module.scale), where)
    card = dict(card)
    card.update(
        format=card.get("format", FORMAT),
        architecture=ARCHITECTURE,
        scale=module.scale,
        num_blocks=module.num_blocks,
        channels=module.channels,
    )
    return module, card


def bundled_models() -> list[ModelInfo]:
    """Every weights/*.safetensors shipped with the package, read from the headers only."""
    folder = weights_dir()
    if not folder.is_dir():
        return []
    infos = []
    for path in sorted(folder.glob(f"*{SAFETENSORS_SUFFIX}")):
        size = path.stat().st_size
        try:
            meta, shapes = read_safetensors_header(path)
            card = _card_from_metadata(meta, str(path))
            blocks, channels, scale = infer_from_shapes(strip_wrapper_prefixes(shapes))
            _check_card(card, (blocks, channels, scale), str(path))
        except ModelError as e:
            infos.append(ModelInfo(path.stem, path, None, None, None, {}, size, str(e)))
            continue
        card.update(scale=scale, num_blocks=blocks, channels=channels)
        infos.append(ModelInfo(path.stem, path, scale, blocks, channels, card, size))
    return infos
