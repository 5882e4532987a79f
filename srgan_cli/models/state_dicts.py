"""State-dict checks shared by the native loaders (sane declared shapes, strict key matching),
and `blend_states`, the weight-by-weight blend of two networks (`export --interpolate`, `-dn`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from srgan_cli.errors import ModelError

if TYPE_CHECKING:
    import torch
    from torch import nn

# Refused before anything is built: far beyond any published SR model (largest: ~100M params).
MAX_TENSORS = 20_000
MAX_PARAMETERS = 500_000_000
MAX_DIM = 65_536
MAX_KERNEL = 31


def shapes_of(state_dict: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Key -> shape, without touching the data."""
    return {k: tuple(int(d) for d in v.shape) for k, v in state_dict.items()}


def key_summary(keys: list[str], limit: int = 3) -> str:
    """`a, b, c (+N more)`: what one error line shows of a list of keys."""
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def check_sane(shapes: Mapping[str, tuple[int, ...]], where: str) -> int:
    """The parameter count declared by `shapes`; ModelError when it is absurd.

    Called on the declared shapes (a safetensors header, a loaded dict) before any module is
    built, so a file declaring e.g. a (100000, 3, 9, 9) head or 10^6 blocks never allocates."""
    if len(shapes) > MAX_TENSORS:
        raise ModelError(f"{where}: {len(shapes)} tensors, more than any SR model ({MAX_TENSORS})")
    total = 0
    for k, shape in shapes.items():
        if any(d > MAX_DIM for d in shape) or (len(shape) == 4 and max(shape[2:]) > MAX_KERNEL):
            raise ModelError(f"{where}: tensor {k} declares an absurd shape {shape}")
        total += math.prod(shape)
    if total > MAX_PARAMETERS:
        raise ModelError(
            f"{where}: {total:,} parameters declared, more than any SR model ({MAX_PARAMETERS:,})"
        )
    return total


def load_strict(net: nn.Module, state_dict: Mapping[str, torch.Tensor], arch: str) -> nn.Module:
    """`net` in eval mode holding exactly `state_dict`; ModelError naming keys or shapes off."""
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        what = "; ".join(
            f"{label} keys {key_summary(keys)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected)) if keys
        )
        raise ModelError(f"{arch}: {what}")
    for k, v in state_dict.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise ModelError(
                f"{arch}: tensor {k} has shape {tuple(v.shape)}, expected "
                f"{tuple(expected[k].shape)}"
            )
        if not v.is_floating_point():
            raise ModelError(f"{arch}: tensor {k} has dtype {v.dtype}, expected floating point")
    net.load_state_dict(dict(state_dict))
    return net.eval().requires_grad_(False)


def blend_states(
    a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], alpha: float,
) -> dict[str, torch.Tensor]:
    """(1 - alpha) * a + alpha * b, tensor by tensor (ESRGAN's network interpolation).

    alpha 0 gives `a` and alpha 1 gives `b` exactly (copies); integer buffers (BatchNorm's
    step counter) come from `a` in between. The key sets and shapes must match (ValueError)."""
    import torch

    if not 0.0 <= alpha <= 1.0 or alpha != alpha:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if a.keys() != b.keys():
        diff = sorted(set(a) ^ set(b))
        raise ValueError(f"different layers ({', '.join(diff[:3])})")
    out: dict[str, torch.Tensor] = {}
    for k, ta in a.items():
        tb = b[k]
        if ta.shape != tb.shape:
            raise ValueError(f"{k} has shape {tuple(ta.shape)} in one and {tuple(tb.shape)} in "
                             "the other")
        if alpha == 0.0:
            out[k] = ta.clone()
        elif alpha == 1.0:
            out[k] = tb.clone()
        elif ta.is_floating_point():
            out[k] = torch.lerp(ta.float(), tb.float(), alpha).to(ta.dtype)
        else:
            out[k] = ta.clone()
    return out
