"""x8 self-ensemble (test-time augmentation): the model on the 8 flips/rotations of its input,
each output transformed back, averaged in float before any rounding (Timofte et al. 2016; EDSR's
"+"). A wrapper around a float NCHW -> NCHW call, so the tiler runs it on whole tiles: every tile
is transformed as a whole, and tiled output stays equal to untiled output for exact tiling."""

from __future__ import annotations

from collections.abc import Callable

import torch

Forward = Callable[[torch.Tensor], torch.Tensor]
# (quarter turns counter-clockwise, mirror left-right first): the dihedral group of the square
TRANSFORMS: tuple[tuple[int, bool], ...] = tuple((k, f) for f in (False, True) for k in range(4))


def transform(x: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    """Mirror (last axis) then rotate by `turns` quarter turns in the H, W plane."""
    if mirror:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, turns, dims=(-2, -1)) if turns % 4 else x


def inverse(y: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    """Undo `transform(., turns, mirror)`."""
    if turns % 4:
        y = torch.rot90(y, -turns, dims=(-2, -1))
    return torch.flip(y, dims=(-1,)) if mirror else y


def self_ensemble(forward: Forward) -> Forward:
    """`forward` averaged over the 8 transforms of its input; the sum is kept in float32 (at
    least), so an fp16/bf16 model's outputs are not rounded before averaging."""

    def run(x: torch.Tensor) -> torch.Tensor:
        total: torch.Tensor | None = None
        for turns, mirror in TRANSFORMS:
            y = inverse(forward(transform(x, turns, mirror)), turns, mirror)
            y = y.float() if y.dtype in (torch.float16, torch.bfloat16) else y
            total = y.clone() if total is None else total.add_(y)
        assert total is not None
        return total / len(TRANSFORMS)

    return run
