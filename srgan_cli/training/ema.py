"""Exponential moving average of the generator: the weights a run exports and validates."""

from __future__ import annotations

import copy

import torch
from torch import nn


# Not torch.optim.swa_utils.AveragedModel: its state_dict adds 'n_averaged' and a 'module.'
# prefix (checkpoints and exports hold the generator's own keys) and it has no decay warm-up.
class EMA:
    """Exponential moving average of a module's weights and BatchNorm statistics.

    The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so the average does not
    carry the random initial weights for thousands of steps; float buffers (BN running mean and
    variance) are averaged like the weights they belong to, integer ones copied."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def decay_at(self, updates: int) -> float:
        """The decay used for update number `updates` (0-based)."""
        return min(self.decay, (1 + updates) / (10 + updates))

    @torch.no_grad()
    def update(self, module: nn.Module, updates: int) -> None:
        w = 1 - self.decay_at(updates)
        for e, p in zip(self.module.parameters(), module.parameters(), strict=True):
            e.lerp_(p.detach(), w)
        for eb, b in zip(self.module.buffers(), module.buffers(), strict=True):
            if eb.is_floating_point():
                eb.lerp_(b, w)
            else:
                eb.copy_(b)
