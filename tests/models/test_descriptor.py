"""models.descriptor: size requirements, tiling, precisions, the prepared call, bicubic."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
from helpers import random_bn_stats
from torch import nn

from srgan_cli.errors import DeviceError, ModelError
from srgan_cli.media.resize import imresize
from srgan_cli.models.descriptor import (
    ALL_PRECISIONS,
    ModelDescriptor,
    SizeRequirements,
    Tiling,
    bicubic,
)
from srgan_cli.models.srresnet import SRResNet, fold_batchnorm
from srgan_cli.models.torch_impl import TorchImplementation


def test_size_requirements_padding() -> None:
    assert SizeRequirements().padding(5, 7) == (0, 0)
    assert SizeRequirements(multiple_of=8).padding(5, 16) == (3, 0)
    assert SizeRequirements(multiple_of=4, min_size=16).padding(5, 17) == (11, 3)
    assert Tiling(True, 12).describe() == "exact (radius 12)"
    assert Tiling(False, 32).describe() == "approximate (pad 32)"


class Shifted(nn.Module):
    """x2 nearest upscale of a net on [0, 255] whose output is input + 1 (to see the range)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x + 1.0, scale_factor=2, mode="nearest")


def descriptor(**changes: Any) -> ModelDescriptor:
    d = ModelDescriptor(
        name="t", architecture="test", scale=2, in_channels=3, out_channels=3, parameters=0,
        precisions=frozenset({"fp32"}), size=SizeRequirements(multiple_of=4),
        tiling=Tiling(True, 1), card={"a": 1}, source="builtin",
        implementation=TorchImplementation(Shifted(), value_range=255.0),
    )
    return dataclasses.replace(d, **changes)


def test_call_handles_range_padding_and_cropping() -> None:
    d = descriptor()
    x = torch.rand(2, 3, 5, 6)
    y = d(x)
    assert y.shape == (2, 3, 10, 12)
    want = nn.functional.interpolate(x, scale_factor=2, mode="nearest") + 1 / 255
    torch.testing.assert_close(y, want)


def test_frozen_card_and_precisions() -> None:
    d = descriptor()
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        d.card["b"] = 2  # type: ignore[index]
    with pytest.raises(DeviceError, match="t: test runs in fp32, not bf16"):
        d.prepare("cpu", "bf16")
    with pytest.raises(ValueError, match="precisions"):
        descriptor(precisions=frozenset({"int8"}))
    assert d.summary()["multiple_of"] == 4 and d.summary()["card"] == {"a": 1}


def test_a_module_off_its_declared_scale_is_refused_when_called() -> None:
    d = descriptor(scale=4, size=SizeRequirements())  # Shifted is x2
    with pytest.raises(ModelError, match=r"model t produced 2x3x10x12 from a 2x3x5x6 input, "
                                         r"expected 2x3x20x24 \(x4\)"):
        d(torch.rand(2, 3, 5, 6))
    padded = descriptor(scale=3)  # the padded 8x8 input is the one checked
    with pytest.raises(ModelError, match=r"produced 1x3x16x16 from a 1x3x8x8 input, expected "
                                         r"1x3x24x24"):
        padded(torch.rand(1, 3, 5, 6))


@pytest.mark.parametrize(("change", "why"), [
    ({"size": SizeRequirements(multiple_of=0)}, r"multiple_of=0 is out of range \(1 to 256\)"),
    ({"size": SizeRequirements(min_size=-1)}, r"min_size=-1 is out of range \(0 to 1024\)"),
    ({"tiling": Tiling(True, 5000)}, r"tiling_pad=5000 is out of range \(0 to 4096\)"),
    ({"scale": 17}, r"scale=17 is out of range \(1 to 16\)"),
])
def test_every_descriptor_meets_the_limits(change: dict[str, Any], why: str) -> None:
    with pytest.raises(ModelError, match=f"t: {why}"):
        descriptor(**change)


def test_srresnet_prepare_folds_batchnorm_and_keeps_the_original() -> None:
    torch.manual_seed(0)
    net = SRResNet(scale=2, num_blocks=1, channels=4)
    random_bn_stats(net)
    net.eval()
    d = descriptor(precisions=ALL_PRECISIONS, size=SizeRequirements(),
                   implementation=TorchImplementation(net, for_inference=fold_batchnorm))
    x = torch.rand(1, 3, 7, 9)
    with torch.no_grad():
        torch.testing.assert_close(d(x), net(x), atol=1e-5, rtol=0)
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())  # original untouched
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fold_batchnorm(net).modules())
    assert d.prepare("cpu", "bf16")(x).dtype == torch.bfloat16


def test_bicubic_is_matlab_imresize() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    d = bicubic(3)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].double() / 255
    y = d(x)[0].permute(1, 2, 0).double().numpy()
    np.testing.assert_allclose(y, imresize(img.astype(np.float64) / 255, 3), atol=1e-6)
    assert np.array_equal(d.implementation.resize_integer(img), imresize(img, 3))  # type: ignore[attr-defined]
    assert d.torch_module() is None and d.precisions == {"fp32"}
    with pytest.raises(ModelError, match=r"bicubic: scale=0 is out of range \(1 to 16\)"):
        bicubic(0)
