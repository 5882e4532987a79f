"""Validation during training: score the generator with the standard SR protocol."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class ValScore:
    psnr: float
    ssim: float
    images: int


def generator_predictor(model: nn.Module, device: torch.device, channels_last: bool = False):
    """LR uint8 HxWx3 -> SR uint8, whole image at once, fp32, eval mode."""

    @torch.no_grad()
    def predict(lr: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(lr)).permute(2, 0, 1)[None].float().div(255)
        x = x.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = model(x).float().clamp_(0, 1).mul_(255).round_()
        return y[0].permute(1, 2, 0).to(torch.uint8).cpu().numpy()

    return predict
