"""The SRGAN discriminator (Ledig et al. 2017, fig. 4), for any patch size from 32 px up."""

from __future__ import annotations

import torch
from torch import nn

MIN_PATCH = 32


class Discriminator(nn.Module):
    """Eight 3x3 convs (64 -> 512, strides 1, 2 alternating), BN after all but the first,
    LeakyReLU(0.2), dense 1024, LeakyReLU, dense 1. Returns one logit per image.

    The paper's 96 px input leaves a 6x6 map before the dense layers; an adaptive average pool
    to 6x6 keeps that exact for 96 px and lets other patch sizes through the same weights."""

    def __init__(self, in_channels: int = 3, base_channels: int = 64, pool_size: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        widths = [base_channels * m for m in (1, 1, 2, 2, 4, 4, 8, 8)]
        for i, c_out in enumerate(widths):
            stride = 1 if i % 2 == 0 else 2
            layers.append(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * pool_size * pool_size, 1024),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < MIN_PATCH or x.shape[-2] < MIN_PATCH:
            raise ValueError(
                f"discriminator needs patches of at least {MIN_PATCH}x{MIN_PATCH} px, "
                f"got {x.shape[-2]}x{x.shape[-1]}"
            )
        return self.classifier(self.pool(self.features(x))).squeeze(1)
