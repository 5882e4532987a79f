"""EDSR (Lim et al., CVPRW 2017) in the official EDSR-PyTorch layout, and BasicSR's layout.

Official keys (``sanghyun-son/EDSR-PyTorch`` src/model/edsr.py): ``sub_mean``/``add_mean``
(1x1 MeanShift convs holding the DIV2K mean at rgb_range 255), ``head.0``, ``body.N.body.0/2``
(conv - ReLU - conv, scaled by res_scale), ``body.{N}`` (the conv after the body), ``tail.0.*``
(sub-pixel upsampler), ``tail.1``. The network works on RGB in [0, 255] (`RGB_RANGE`); the
descriptor scales [0, 1] input by that. BasicSR (``basicsr/archs/edsr_arch.py``) has the same
network under other names (``conv_first``, ``body.N.conv1/2``, ``conv_after_body``,
``upsample.*``, ``conv_last``) and keeps the mean outside the state dict: `to_official` renames
its keys and adds the MeanShift weights BasicSR applies, so one module runs both.
res_scale is not stored in either file: 0.1 for EDSR-L (256 features), else 1, as published.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from srgan_cli.errors import ModelError
from srgan_cli.models.state_dicts import load_strict

RGB_RANGE = 255.0
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)
LARGE_FEATURES = 256  # EDSR-L: res_scale 0.1
SCALES = (2, 3, 4, 8)
OFFICIAL_TOPS = frozenset({"sub_mean", "add_mean", "head", "body", "tail"})
BASICSR_TOPS = frozenset({"conv_first", "body", "conv_after_body", "upsample", "conv_last"})


class MeanShift(nn.Conv2d):
    """1x1 conv adding `sign` x rgb_range x mean (identity weight): the official MeanShift."""

    def __init__(self, sign: float) -> None:
        super().__init__(3, 3, 1)
        assert self.bias is not None
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * RGB_RANGE * torch.tensor(DIV2K_MEAN))
        self.requires_grad_(False)


class ResBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3, times res_scale, plus the identity (keys body.0, body.2)."""

    def __init__(self, channels: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


def _upsampler(channels: int, scale: int) -> nn.Sequential:
    factors = [3] if scale == 3 else [2] * (scale.bit_length() - 1)
    layers: list[nn.Module] = []
    for f in factors:
        layers += [nn.Conv2d(channels, channels * f * f, 3, padding=1), nn.PixelShuffle(f)]
    return nn.Sequential(*layers)


class EDSR(nn.Module):
    """EDSR x`scale` on RGB in [0, RGB_RANGE], official key layout."""

    def __init__(self, scale: int = 4, num_blocks: int = 16, channels: int = 64,
                 res_scale: float = 1.0) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"EDSR scale must be one of {SCALES}, got {scale}")
        self.scale = scale
        self.num_blocks = num_blocks
        self.stages = 1 if scale == 3 else scale.bit_length() - 1
        self.sub_mean = MeanShift(-1.0)
        self.add_mean = MeanShift(1.0)
        self.head = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1))
        body: list[nn.Module] = [ResBlock(channels, res_scale) for _ in range(num_blocks)]
        body.append(nn.Conv2d(channels, channels, 3, padding=1))
        self.body = nn.Sequential(*body)
        self.tail = nn.Sequential(_upsampler(channels, scale), nn.Conv2d(channels, 3, 3, padding=1))

    @property
    def receptive_radius(self) -> int:
        """LR pixels of context per side one output pixel depends on (an upper bound)."""
        return 1 + 2 * self.num_blocks + 1 + self.stages + 1  # head, blocks, body conv, tail convs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x))
        x = self.tail(x + self.body(x))
        return self.add_mean(x)


_BASICSR_RENAMES = (
    (r"conv_first\.", "head.0."),
    (r"body\.(\d+)\.conv1\.", r"body.\1.body.0."),
    (r"body\.(\d+)\.conv2\.", r"body.\1.body.2."),
    (r"upsample\.", "tail.0."),
    (r"conv_last\.", "tail.1."),
)


def detect(shapes: Mapping[str, tuple[int, ...]]) -> str | None:
    """"official" or "basicsr" when the keys are one of the EDSR layouts, else None."""
    tops = {k.split(".")[0] for k in shapes}
    if tops <= OFFICIAL_TOPS and {"head.0.weight", "tail.1.weight", "body.0.body.0.weight"} <= set(
            shapes):
        return "official"
    if tops == BASICSR_TOPS and "body.0.conv1.weight" in shapes:
        return "basicsr"
    return None


def to_official(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BasicSR EDSR keys renamed to the official layout, with BasicSR's fixed mean added."""
    blocks = {int(m.group(1)) for k in state_dict if (m := re.match(r"body\.(\d+)\.", k))}
    out: dict[str, torch.Tensor] = {}
    for k, v in state_dict.items():
        new = k.replace("conv_after_body.", f"body.{len(blocks)}.")
        for pattern, repl in _BASICSR_RENAMES:
            new = re.sub("^" + pattern, repl, new)
        out[new] = v
    for name, sign in (("sub_mean", -1.0), ("add_mean", 1.0)):
        for key, value in MeanShift(sign).state_dict().items():
            out[f"{name}.{key}"] = value
    return out


def build(state_dict: Mapping[str, torch.Tensor], layout: str) -> EDSR:
    """An eval-mode EDSR holding `state_dict` in `layout` (see `detect`)."""
    sd = to_official(state_dict) if layout == "basicsr" else dict(state_dict)
    head = tuple(sd["head.0.weight"].shape)
    if len(head) != 4 or head[1] != 3:
        raise ModelError(f"EDSR: head conv has shape {head}, expected (C, 3, 3, 3)")
    channels = head[0]
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.body\.", k))}
    factors = []
    i = 0
    while (w := sd.get(f"tail.0.{i}.weight")) is not None:
        factors.append(round((w.shape[0] / channels) ** 0.5))
        i += 2
    scale = 1
    for f in factors:
        scale *= f
    if scale not in SCALES:
        raise ModelError(f"EDSR: upsampler stages {factors} make no supported scale {SCALES}")
    res_scale = 0.1 if channels >= LARGE_FEATURES else 1.0
    net = EDSR(scale=scale, num_blocks=len(blocks), channels=channels, res_scale=res_scale)
    load_strict(net, sd, "EDSR")
    return net
