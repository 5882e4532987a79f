"""Learning-rate schedules as pure functions of the step (multipliers of the base lr)."""

from __future__ import annotations

import math
from collections.abc import Sequence


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
