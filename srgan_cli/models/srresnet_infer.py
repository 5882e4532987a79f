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

PReLUs with one parameter (every one in SRResNet) run as leaky ReLUs fused into their conv, and
each residual add into the conv before it (oneDNN post-ops, `fused_conv`; plain in-place ops
where they cannot run); the single-parameter activation commutes with the pixel shuffle, so it
runs before it on the conv output.
The 9x9 tail (3 output channels: oneDNN runs it at a fraction of a 3x3 conv's throughput, a third
of the bf16 forward) runs instead on the last stage's unshuffled r^2 C channels at the coarse
resolution, as an equal conv with r^2 x 3 outputs and a ceil(9 / r)-ish kernel (`coarse_tail`),
whose small output is then shuffled: same maths (to float rounding), ~1.7x faster, and the
largest tensor (the shuffled last stage) is never made.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srgan_cli.models.fused_conv import conv_add, conv_leaky_relu
from srgan_cli.models.srresnet import ResidualBlock, SRResNet, fold_batchnorm, upsample_factors

BANDS = 4  # the upsampler runs on about 1/BANDS of the rows at a time ...
MIN_BAND_ROWS = 32  # ... but on at least this many LR rows (the halo's share stays small)
# Trunk tensors alive at once per LR pixel, in units of `channels`: the head output (kept for
# the long skip), the running features, a block's conv1 output and its conv2 output, plus the
# banded-in features; measured with bench/bench_memory.py and rounded up.
TRUNK_LIVE = 5


def _single_slope(act: nn.Module) -> bool:
    return isinstance(act, nn.PReLU) and act.weight.numel() == 1


def _act_(act: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A PReLU in place: leaky_relu_ with its single slope (a per-channel PReLU out of place)."""
    if _single_slope(act):
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


def coarse_tail(tail: nn.Conv2d, factor: int) -> nn.Conv2d:
    """A conv on the unshuffled input (factor^2 C channels, coarse resolution) equal to `tail`
    on its pixel shuffle, with factor^2 x `tail`'s outputs to pixel-shuffle afterwards.

    Fine output (r i + a, r j + b) takes fine input (r i + a + dy, ...) = coarse pixel
    (i + floor((a + dy) / r)) at channel c r^2 + ((a + dy) mod r) r + ...; weights in float64."""
    radius = int(tail.padding[0])  # type: ignore[index]
    r, half = factor, -(-radius // factor)
    out_c, in_c = tail.out_channels, tail.in_channels
    w = tail.weight.detach().double()
    coarse = torch.zeros(out_c, r, r, in_c, r, r, 2 * half + 1, 2 * half + 1, dtype=w.dtype)
    for a in range(r):
        for b in range(r):
            for dy in range(-radius, radius + 1):
                p, u = divmod(a + dy, r)
                for dx in range(-radius, radius + 1):
                    q, v = divmod(b + dx, r)
                    coarse[:, a, b, :, u, v, p + half, q + half] = w[:, :, dy + radius,
                                                                     dx + radius]
    conv = nn.Conv2d(in_c * r * r, out_c * r * r, 2 * half + 1, padding=half,
                     bias=tail.bias is not None)
    conv.weight = nn.Parameter(coarse.reshape(conv.weight.shape).to(tail.weight.dtype), False)
    if tail.bias is not None:
        bias = tail.bias.detach().double().repeat_interleave(r * r)
        conv.bias = nn.Parameter(bias.to(tail.bias.dtype), False)
    return conv


class LeanSRResNet(nn.Module):
    """A BatchNorm-folded SRResNet run by `lean_forward` with its tail at the coarse resolution
    (inference only; the original weights stay under ``net.``)."""

    def __init__(self, net: SRResNet) -> None:
        super().__init__()
        self.net = net
        last = upsample_factors(net.scale)[-1]
        single = _single_slope(net.upsampler[-1].act)
        self.tail = coarse_tail(net.tail, last) if single else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lean_forward(self.net, x, self.tail)


def for_inference(net: nn.Module) -> nn.Module:
    """The SRResNet descriptor's inference preparation: BN folded, banded lean forward."""
    folded = fold_batchnorm(net)
    return LeanSRResNet(folded) if isinstance(folded, SRResNet) else folded


def _conv_act(conv: nn.Module, act: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """act(conv(x)): one fused oneDNN call for a single-slope PReLU where it runs."""
    if _single_slope(act) and isinstance(conv, nn.Conv2d):
        return conv_leaky_relu(conv, x, float(act.weight))  # type: ignore[arg-type]
    return _act_(act, conv(x))


def _trunk(net: SRResNet, x: torch.Tensor) -> torch.Tensor:
    """Head + residual blocks + body conv + long skip at LR; with BN folded, each block is two
    fused calls (conv + PReLU, conv + residual add in place: `fused_conv`)."""
    head = _conv_act(net.head, net.head_act, x)
    y = head
    for block in net.body:
        assert isinstance(block, ResidualBlock)
        if isinstance(block.bn1, nn.Identity) and isinstance(block.bn2, nn.Identity):
            t = _conv_act(block.conv1, block.act, y)
            y = conv_add(block.conv2, t, y, inplace=y is not head)
        else:
            t = block.bn2(block.conv2(_act_(block.act, block.bn1(block.conv1(y)))))
            y = t.add_(y)
        del t
    if isinstance(net.body_bn, nn.Identity):
        return conv_add(net.body_conv, y, head, inplace=True)
    body = net.body_bn(net.body_conv(y))
    del y
    return body.add_(head)


def _upsample_band(net: SRResNet, feat: torch.Tensor, top: int, rows: int,
                   margins: list[int], tail: nn.Conv2d | None) -> torch.Tensor:
    """Output rows of the LR band [top, top + rows) of `feat` (which holds its context); the
    last stage unshuffled into `tail` (`coarse_tail`) when given."""
    y = feat
    factors = upsample_factors(net.scale)
    for i, (stage, factor, margin) in enumerate(zip(net.upsampler, factors, margins[1:],
                                                    strict=True)):
        if _single_slope(stage.act):  # commutes with the shuffle: on the conv output, fused
            y = _conv_act(stage.conv, stage.act, y)
            if tail is not None and i == len(factors) - 1:
                y = F.pixel_shuffle(tail(y), factor)
                return y[:, :, top * factor: (top + rows) * factor]
            y = F.pixel_shuffle(y, factor)
        else:
            y = stage.act(F.pixel_shuffle(stage.conv(y), factor))
        top, rows = top * factor, rows * factor
        a, b = max(0, top - margin), min(y.shape[-2], top + rows + margin)
        y, top = y[:, :, a:b], top - a
    y = net.tail(y)
    return y[:, :, top: top + rows]


def lean_forward(net: SRResNet, x: torch.Tensor, tail: nn.Conv2d | None = None
                 ) -> torch.Tensor:
    """`net(x)` for an SRResNet in eval mode, in a fraction of the memory (see the module doc);
    `tail`: `coarse_tail(net.tail, last factor)` to run the tail unshuffled (last PReLU with a
    single slope only)."""
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
                                                   margins, tail)
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
           "coarse_tail", "for_inference", "lean_forward"]
