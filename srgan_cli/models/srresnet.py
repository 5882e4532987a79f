"""The SRGAN generator, SRResNet (Ledig et al., CVPR 2017, fig. 4).

Input and output are float RGB in [0, 1], NCHW. State-dict key names are part of our file format
(``models/bundled.py`` infers blocks, channels and scale from them), so do not rename modules.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from srgan_cli.models.scales import SUPPORTED_SCALES, upsample_factors

__all__ = ["SUPPORTED_SCALES", "ResidualBlock", "SRResNet", "UpsampleStage", "upsample_factors"]


class ResidualBlock(nn.Module):
    """conv3x3 - BN - PReLU - conv3x3 - BN, plus the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act = nn.PReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class UpsampleStage(nn.Module):
    """Sub-pixel convolution: conv to r^2 C channels, PixelShuffle(r), PReLU."""

    def __init__(self, channels: int, factor: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * factor * factor, 3, padding=1)
        self.shuffle = nn.PixelShuffle(factor)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class SRResNet(nn.Module):
    """SRResNet generator with `num_blocks` residual blocks of `channels` features, x`scale`."""

    def __init__(self, scale: int = 4, num_blocks: int = 16, channels: int = 64) -> None:
        super().__init__()
        if num_blocks < 1 or channels < 1:
            raise ValueError("num_blocks and channels must be positive")
        self.scale = scale
        self.num_blocks = num_blocks
        self.channels = channels
        self.head = nn.Conv2d(3, channels, 9, padding=4)
        self.head_act = nn.PReLU()
        self.body = nn.Sequential(*[ResidualBlock(channels) for _ in range(num_blocks)])
        self.body_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.body_bn = nn.BatchNorm2d(channels)
        stages = [UpsampleStage(channels, f) for f in upsample_factors(scale)]
        self.upsampler = nn.Sequential(*stages)
        self.tail = nn.Conv2d(channels, 3, 9, padding=4)

    @property
    def receptive_radius(self) -> int:
        """LR pixels of context on each side that one output pixel depends on (rounded up).

        Used by tiling: a tile padded by this much gives exactly the untiled result."""
        from fractions import Fraction

        radius = Fraction(4 + 2 * self.num_blocks + 1)  # head 9x9, two 3x3 per block, body conv
        factor = 1
        for stage_factor in upsample_factors(self.scale):
            radius += Fraction(1, factor)  # 3x3 conv at the current resolution
            factor *= stage_factor
        radius += Fraction(4, factor)  # 9x9 tail at output resolution
        return int(-(-radius.numerator // radius.denominator))
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.head_act(self.head(x))
        body = self.body_bn(self.body_conv(self.body(head)))
        return self.tail(self.upsampler(head + body))


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new conv equal to bn(conv(x)) in eval mode: weights scaled by gamma / sqrt(var + eps),
    bias (b - mean) * gamma / sqrt(var + eps) + beta (computed in float64)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics")
    mean = bn.running_mean.double()
    factor = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.weight is not None:
        factor = factor * bn.weight.detach().double()
    bias = -mean if conv.bias is None else conv.bias.detach().double() - mean
    bias = bias * factor
    if bn.bias is not None:
        bias = bias + bn.bias.detach().double()
    fused = copy.deepcopy(conv)
    w = conv.weight.detach()
    fused.weight = nn.Parameter((w.double() * factor.reshape(-1, 1, 1, 1)).to(w.dtype), False)
    fused.bias = nn.Parameter(bias.to(w.dtype), requires_grad=False)
    return fused


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """A deep copy of `net` with every SRResNet conv+BN pair fused into one conv (for inference).

    Works on an SRResNet or on any module that contains SRResNet parts."""
    net = copy.deepcopy(net)
    for m in list(net.modules()):
        if isinstance(m, ResidualBlock):
            m.conv1, m.bn1 = fold_conv_bn(m.conv1, m.bn1), nn.Identity()  # type: ignore[assignment]
            m.conv2, m.bn2 = fold_conv_bn(m.conv2, m.bn2), nn.Identity()  # type: ignore[assignment]
        elif isinstance(m, SRResNet):
            m.body_conv = fold_conv_bn(m.body_conv, m.body_bn)
            m.body_bn = nn.Identity()  # type: ignore[assignment]
    return net
