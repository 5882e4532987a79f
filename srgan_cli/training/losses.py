"""Losses: pixel (MSE/L1), VGG content loss (features / 12.75, as in Ledig et al.), adversarial."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srgan_cli.models.vgg import VGGFeatures

VGG_RESCALE = 1.0 / 12.75


def pixel_loss(kind: str, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean squared or mean absolute error."""
    if kind == "mse":
        return F.mse_loss(sr, hr)
    if kind == "l1":
        return F.l1_loss(sr, hr)
    raise ValueError(f"unknown pixel loss {kind!r}")


class ContentLoss(nn.Module):
    """MSE between VGG features (scaled by 1/12.75) of SR and HR, or a pixel loss."""

    def __init__(self, kind: str, vgg: VGGFeatures | None = None) -> None:
        super().__init__()
        self.kind = kind
        if kind.startswith("vgg") and vgg is None:
            raise ValueError("a VGG content loss needs a VGG feature extractor")
        self.vgg = vgg if kind.startswith("vgg") else None

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if self.vgg is None:
            return pixel_loss(self.kind, sr, hr)
        with torch.no_grad():
            target = self.vgg(hr) * VGG_RESCALE
        return F.mse_loss(self.vgg(sr) * VGG_RESCALE, target)


def adversarial_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """BCE with logits against all-ones (real) or all-zeros (fake) targets."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())
