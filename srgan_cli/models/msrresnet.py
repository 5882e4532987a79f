"""BasicSR's MSRResNet: SRResNet without BatchNorm (Wang et al., ESRGAN paper, section 3.1).

Key layout of BasicSR ``basicsr/archs/srresnet_arch.py``: ``conv_first``, ``body.N.conv1/conv2``
(ReLU residual blocks), ``upconv1`` (+ ``upconv2`` for x4), ``conv_hr``, ``conv_last``; the
output adds a bilinear upsampling of the input. Input and output are RGB in [0, 1], NCHW.
Written from the published description; outputs match BasicSR's module on the same weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from srgan_cli.errors import ModelError
from srgan_cli.models.state_dicts import load_strict, shapes_of

SCALES = (2, 3, 4)
KEY = "conv_first.weight"
TOPS = frozenset({"conv_first", "body", "upconv1", "upconv2", "conv_hr", "conv_last"})


class ResidualBlockNoBN(nn.Module):
    """conv3x3 - ReLU - conv3x3, plus the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    """MSRResNet x`scale` (2, 3 or 4) with `num_blocks` blocks of `channels` features."""

    def __init__(self, scale: int = 4, num_blocks: int = 16, channels: int = 64) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"MSRResNet scale must be one of {SCALES}, got {scale}")
        self.scale = scale
        self.num_blocks = num_blocks
        self.conv_first = nn.Conv2d(3, channels, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(channels) for _ in range(num_blocks)])
        factor = 2 if scale == 4 else scale
        self.upconv1 = nn.Conv2d(channels, channels * factor * factor, 3, padding=1)
        if scale == 4:
            self.upconv2 = nn.Conv2d(channels, channels * 4, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(factor)
        self.conv_hr = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_last = nn.Conv2d(channels, 3, 3, padding=1)

    @property
    def receptive_radius(self) -> int:
        """LR pixels of context per side one output pixel depends on (an upper bound)."""
        # conv_first + 2 per block + upconv1 (+upconv2), conv_hr and conv_last at >= 2x: 1 each
        # rounded up; the bilinear skip reaches 1 pixel.
        return 1 + 2 * self.num_blocks + (2 if self.scale == 4 else 1) + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = nn.functional.leaky_relu
        out = self.body(act(self.conv_first(x), 0.1))
        out = act(self.pixel_shuffle(self.upconv1(out)), 0.1)
        if self.scale == 4:
            out = act(self.pixel_shuffle(self.upconv2(out)), 0.1)
        out = self.conv_last(act(self.conv_hr(out), 0.1))
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out + base


def detect(shapes: Mapping[str, tuple[int, ...]]) -> bool:
    """Whether the keys are BasicSR's MSRResNet layout."""
    tops = {k.split(".")[0] for k in shapes}
    return tops <= TOPS and {KEY, "conv_hr.weight", "upconv1.weight"} <= set(shapes)


def infer(shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, int, int]:
    """(scale, num_blocks, channels) from key names and shapes; ModelError when inconsistent."""
    first = shapes[KEY]
    if len(first) != 4 or first[1] != 3:
        raise ModelError(f"MSRResNet: conv_first.weight has shape {first}, expected (C, 3, 3, 3)")
    channels = first[0]
    blocks = {int(m.group(1)) for k in shapes if (m := re.match(r"body\.(\d+)\.conv1\.", k))}
    if blocks != set(range(len(blocks))):
        raise ModelError(f"MSRResNet: residual blocks are not body.0 .. body.N-1: {sorted(blocks)}")
    up = shapes["upconv1.weight"][0]
    if "upconv2.weight" in shapes:
        scale = 4
    elif up == channels * 4:
        scale = 2
    elif up == channels * 9:
        scale = 3
    else:
        raise ModelError(f"MSRResNet: upconv1 has {up} outputs, expected {channels} x 4 or x 9")
    return scale, len(blocks), channels


def build(state_dict: Mapping[str, torch.Tensor]) -> MSRResNet:
    """An eval-mode MSRResNet holding `state_dict` (shapes already checked as sane)."""
    scale, blocks, channels = infer(shapes_of(state_dict))
    net = MSRResNet(scale=scale, num_blocks=blocks, channels=channels)
    load_strict(net, state_dict, "MSRResNet")
    return net

