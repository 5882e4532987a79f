"""Learning-rate schedules as pure functions of the step (multipliers of the base lr)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from srgan_cli.training.config import TrainConfig


# Closed-form factors for torch's LambdaLR, not its CosineAnnealingLR/MultiStepLR/SequentialLR:
# those update recursively from their own state (a resume must replay it) and have no 'halve'.
def lr_factor(
    step: int,
    total: int,
    kind: str,
    *,
    warmup: int = 0,
    milestones: Sequence[int] = (),
    gamma: float = 0.5,
    min_ratio: float = 0.0,
) -> float:
    """Multiplier of the base lr at `step` (0-based) of `total` steps.

    constant; cosine (to ``min_ratio`` at the end); step (x``gamma`` at each milestone);
    halve (x0.1 from total/2 on: SRGAN's 1e-4 then 1e-5). A linear warm-up comes first."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    if kind == "cosine":
        span = max(1, total - warmup)
        t = min(1.0, (step - warmup) / span)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))
    if kind == "step":
        return gamma ** sum(1 for m in milestones if step >= m)
    if kind == "halve":
        return 0.1 if step >= total // 2 else 1.0
    raise ValueError(f"unknown schedule {kind!r}")


def effective_schedule(cfg: TrainConfig) -> str:
    """schedule 'auto': constant for stage psnr, SRGAN's 1e-4 then 1e-5 ('halve') for gan."""
    if cfg.schedule != "auto":
        return cfg.schedule
    return "halve" if cfg.stage == "gan" else "constant"


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    """The lr multiplier of a run as a function of the step (for torch's LambdaLR)."""
    kind = effective_schedule(cfg)

    def factor(step: int) -> float:
        return lr_factor(step, cfg.steps, kind, warmup=cfg.warmup_steps,
                         milestones=cfg.milestones, gamma=cfg.gamma, min_ratio=cfg.min_lr / cfg.lr)

    return factor
