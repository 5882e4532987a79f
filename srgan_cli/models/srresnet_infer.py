"""A memory-lean inference forward for SRResNet: trunk at LR whole, upsampler and tail in bands.

Nearly all of a forward's memory is in the upsampler and the 9x9 tail (the x4 model's 2x conv
writes 256 channels at 2x, i.e. 1024 values per LR pixel, 16 times the trunk's 64). So the head
and residual trunk run on the whole input (in place where possible), and the upsampler + tail run
on horizontal bands of LR rows with an exact halo: after each stage only the rows that the
remaining convolutions still need are kept (1 px per 3x3 conv at its resolution, the tail's
radius at output resolution). A band's edge that is an image edge keeps the image's zero
padding, an inner edge has enough real rows, so the output equals the unbanded forward exactly
(tests: bit-identical in float32). Peak activation memory falls several-fold for a few rows of
extra compute per band.

PReLUs with one parameter (every one in SRResNet) run as in-place leaky ReLUs, and the single-
parameter activation commutes with the pixel shuffle, so it runs before it on the conv output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srgan_cli.models.srresnet import ResidualBlock, SRResNet, fold_batchnorm, upsample_factors

BANDS = 4  # the upsampler runs on about 1/BANDS of the rows at a time ...
MIN_BAND_ROWS = 32  # ... but on at least this many LR rows (the halo's share stays small)
# Trunk tensors alive at once per LR pixel, in units of `channels`: the head output (kept for
# the long skip), the running features, a block's conv1 output and its conv2 output, plus the
# banded-in features; measured with bench/bench_memory.py and rounded up.
TRUNK_LIVE = 5


def _act_(act: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A PReLU in place: leaky_relu_ with its single slope (a per-channel PReLU out of place)."""
    if isinstance(act, nn.PReLU) and act.weight.numel() == 1:
        return F.leaky_relu_(x, float(act.weight))
    return act(x)


def band_margins(net: SRResNet) -> list[int]:
    """Rows of context needed before each upsampling stage and before the tail, each at its own
    resolution: m[-1] is the tail's radius, m[i] = conv radius + ceil(m[i + 1] / factor)."""
    factors = upsample_factors(net.scale)
    margins = [int(net.tail.padding[0])]  # type: ignore[index]
    for stage, factor in zip(reversed(net.upsampler), reversed(factors), strict=True):
        radius = int(stage.conv.padding[0])  # type: ignore[index]
        margins.insert(0, radius + -(-margins[0] // factor))
    return margins


def band_rows(height: int) -> int:
    """LR rows per band of an image `height` rows tall."""
    return max(MIN_BAND_ROWS, -(-height // BANDS))


class LeanSRResNet(nn.Module):
    """A BatchNorm-folded SRResNet run by `lean_forward` (inference only; same weights, same
    state-dict names under ``net.``)."""

    def __init__(self, net: SRResNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lean_forward(self.net, x)


def for_inference(net: nn.Module) -> nn.Module:
    """The SRResNet descriptor's inference preparation: BN folded, banded lean forward."""
    folded = fold_batchnorm(net)
    return LeanSRResNet(folded) if isinstance(folded, SRResNet) else folded


def _trunk(net: SRResNet, x: torch.Tensor) -> torch.Tensor:
    """Head + residual blocks + body conv + long skip at LR (BN already folded or identity)."""
    head = _act_(net.head_act, net.head(x))
    y = head
    for block in net.body:
        assert isinstance(block, ResidualBlock)
        t = block.bn2(block.conv2(_act_(block.act, block.bn1(block.conv1(y)))))
        y = t.add_(y)
    body = net.body_bn(net.body_conv(y))
    del y
    return body.add_(head)


def _upsample_band(net: SRResNet, feat: torch.Tensor, top: int, rows: int,
                   margins: list[int]) -> torch.Tensor:
    """Output rows of the LR band [top, top + rows) of `feat` (which holds its context)."""
    y = feat
    for stage, factor, margin in zip(net.upsampler, upsample_factors(net.scale), margins[1:],
                                     strict=True):
        y = _act_(stage.act, stage.conv(y))  # single-slope PReLU commutes with the shuffle
        y = F.pixel_shuffle(y, factor)
        top, rows = top * factor, rows * factor
        a, b = max(0, top - margin), min(y.shape[-2], top + rows + margin)
        y, top = y[:, :, a:b], top - a
    y = net.tail(y)
    return y[:, :, top: top + rows]


def lean_forward(net: SRResNet, x: torch.Tensor) -> torch.Tensor:
    """`net(x)` for an SRResNet in eval mode, in a fraction of the memory (see the module doc)."""
    feat = _trunk(net, x)
    n, _, h, w = feat.shape
    s = net.scale
    nhwc = feat.is_contiguous(memory_format=torch.channels_last) and not feat.is_contiguous()
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    out = torch.empty((n, net.tail.out_channels, h * s, w * s), dtype=feat.dtype,
                      device=feat.device, memory_format=fmt)
    margins = band_margins(net)
    step = band_rows(h)
    for r0 in range(0, h, step):
        r1 = min(h, r0 + step)
        a, b = max(0, r0 - margins[0]), min(h, r1 + margins[0])
        out[:, :, r0 * s: r1 * s] = _upsample_band(net, feat[:, :, a:b], r0 - a, r1 - r0,
                                                   margins)
    return out


def activation_floats_per_pixel(net: SRResNet) -> float:
    """Peak live activation elements per LR input pixel of `lean_forward` on a large input: the
    trunk's TRUNK_LIVE feature maps, the widest band's two largest stage tensors (conv output
    and shuffled copy) spread over BANDS bands with their halo, and the output."""
    factors = upsample_factors(net.scale)
    widest, area = 0, 1
    for stage, factor in zip(net.upsampler, factors, strict=True):
        widest = max(widest, stage.conv.out_channels * area)  # per LR pixel
        area *= factor * factor
    halo = 1 + 2 * band_margins(net)[0] / MIN_BAND_ROWS
    band = 2 * widest * halo / BANDS
    return TRUNK_LIVE * net.channels + band + net.tail.out_channels * net.scale**2


__all__ = ["LeanSRResNet", "activation_floats_per_pixel", "band_margins", "band_rows",
           "for_inference", "lean_forward"]
