"""The SRGAN networks: parameter counts, output shapes, configurability (Ledig et al. 2017)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from srgan_cli.models import Discriminator, SRResNet
from srgan_cli.models.srresnet import upsample_factors


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    ("scale", "params", "factors"),
    [(2, 1_401_749, [2]), (3, 1_586_389, [3]), (4, 1_549_462, [2, 2]), (8, 1_697_175, [2, 2, 2])],
)
def test_generator_parameters_and_shapes(scale: int, params: int, factors: list[int]) -> None:
    torch.manual_seed(0)
    net = SRResNet(scale=scale).eval()
    assert _count(net) == params
    assert upsample_factors(scale) == factors
    with torch.no_grad():
        y = net(torch.rand(2, 3, 7, 9))
    assert y.shape == (2, 3, 7 * scale, 9 * scale)


def test_generator_layout_follows_the_paper() -> None:
    net = SRResNet(scale=4, num_blocks=16, channels=64)
    assert (net.head.kernel_size, net.tail.kernel_size) == ((9, 9), (9, 9))
    assert len(net.body) == 16
    block = net.body[0]
    kinds = [type(m) for m in (block.conv1, block.bn1, block.act, block.conv2, block.bn2)]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.PReLU, nn.Conv2d, nn.BatchNorm2d]
    stage = net.upsampler[0]
    assert stage.get_submodule("conv").out_channels == 4 * 64
    assert stage.get_submodule("shuffle").upscale_factor == 2
    assert isinstance(stage.act, nn.PReLU)


def test_generator_is_configurable() -> None:
    net = SRResNet(scale=2, num_blocks=3, channels=16)
    assert (len(net.body), net.head.out_channels) == (3, 16)
    # 3x3 convs and BN of a block: 2 * (16*16*9 + 16) + 2 * 2 * 16 + 1 PReLU
    assert _count(net.body[0]) == 2 * (16 * 16 * 9 + 16) + 4 * 16 + 1
    with pytest.raises(ValueError, match="scale"):
        SRResNet(scale=5)
    with pytest.raises(ValueError):
        SRResNet(num_blocks=0)


def test_generator_residual_blocks_are_identity_skips() -> None:
    net = SRResNet(scale=2, num_blocks=1, channels=8).eval()
    block = net.body[0]
    nn.init.zeros_(block.get_parameter("bn2.weight"))
    nn.init.zeros_(block.get_parameter("bn2.bias"))
    x = torch.rand(1, 8, 5, 5)
    assert torch.equal(block(x), x)


def test_discriminator_layout_and_parameters() -> None:
    d = Discriminator()
    convs = [m for m in d.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.features) == 7
    acts = [m for m in d.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 9 and all(a.negative_slope == 0.2 for a in acts)
    dense = [m for m in d.classifier if isinstance(m, nn.Linear)]
    assert [(m.out_features) for m in dense] == [1024, 1]
    assert _count(d) == 23_565_505


@pytest.mark.parametrize("size", [32, 40, 96, 128])
def test_discriminator_takes_any_patch_from_32(size: int) -> None:
    d = Discriminator().eval()
    with torch.no_grad():
        out = d(torch.rand(2, 3, size, size + 8))
    assert out.shape == (2,)


def test_discriminator_refuses_patches_under_32() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Discriminator()(torch.rand(1, 3, 31, 64))
