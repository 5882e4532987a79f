"""The banded lean SRResNet forward: the same output as the plain forward, less memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from srgan_cli.models import fused_conv, srresnet_infer
from srgan_cli.models.loading import load, srresnet_descriptor
from srgan_cli.models.srresnet import SRResNet, fold_batchnorm
from srgan_cli.models.srresnet_infer import (
    LeanSRResNet,
    activation_floats_per_pixel,
    band_margins,
    band_rows,
    coarse_tail,
    lean_forward,
)
from srgan_cli.options import WHOLE_IMAGE
from srgan_cli.upscaling.upscaler import (
    ACTIVATION_FACTOR,
    Upscaler,
    activation_floats,
    bytes_per_pixel,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def folded(scale: int, channels: int = 8, seed: int = 0) -> SRResNet:
    """A small folded SRResNet with random BN statistics and distinct PReLU slopes."""
    torch.manual_seed(seed)
    net = SRResNet(scale=scale, num_blocks=2, channels=channels)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
        elif isinstance(m, nn.PReLU):
            m.weight.data.uniform_(0.05, 0.4)
    out = fold_batchnorm(net.eval())
    assert isinstance(out, SRResNet)
    return out


@pytest.fixture
def many_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bands of 3+ rows, so small test images are cut into many bands with inner edges."""
    monkeypatch.setattr(srresnet_infer, "MIN_BAND_ROWS", 3)
    monkeypatch.setattr(srresnet_infer, "BANDS", 5)


def test_band_margins_are_the_exact_halo() -> None:
    assert band_margins(folded(4)) == [3, 3, 4]  # LR: 1 + ceil(3 / 2); 2x: 1 + ceil(4 / 2)
    assert band_margins(folded(2)) == [3, 4]
    assert band_margins(folded(3)) == [3, 4]
    assert band_margins(folded(8)) == [3, 3, 3, 4]
    assert band_rows(10) == srresnet_infer.MIN_BAND_ROWS
    assert band_rows(10_000) == -(-10_000 // srresnet_infer.BANDS)


@pytest.fixture
def unfused(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a torch build without oneDNN's fused conv ops: the plain ops run instead."""
    monkeypatch.setattr(fused_conv, "pointwise_ops", lambda: None)


@pytest.mark.usefixtures("many_bands", "unfused")
@pytest.mark.parametrize("scale", [2, 3, 4, 8])
@pytest.mark.parametrize("size", [(37, 23), (5, 9), (2, 3), (41, 40)])
def test_lean_forward_is_bit_identical_in_float32(scale: int, size: tuple[int, int]) -> None:
    """Unfused, channels_last (as prepared): exactly equal; NCHW within float rounding of the
    conv algorithm oneDNN picks per shape."""
    net = folded(scale)
    x = torch.rand(1, 3, *size)
    with torch.inference_mode():
        plain = net(x)
        lean = lean_forward(net, x)
        cl = net.to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        plain_cl, lean_cl = cl(x_cl), lean_forward(cl, x_cl)
    assert lean.shape == plain.shape == (1, 3, size[0] * scale, size[1] * scale)
    assert torch.equal(lean_cl, plain_cl)
    assert lean_cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(lean, plain, atol=1e-6, rtol=0)


def grey(y: torch.Tensor) -> torch.Tensor:
    return (y.float().clamp(0, 1) * 255).round()


@pytest.mark.usefixtures("many_bands")
def test_lean_forward_bf16_within_one_grey_level() -> None:
    net = folded(4, channels=16).to(torch.bfloat16).to(memory_format=torch.channels_last)
    x = torch.rand(2, 3, 33, 29).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        plain, lean = net(x), lean_forward(net, x)
    assert (grey(plain) - grey(lean)).abs().max() <= 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_forward_matches_the_plain_ops_and_bands_exactly(
        dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused oneDNN calls run (this torch has them) and give the unfused lean forward's
    output to float rounding (fp32) or 1 grey level (bf16); banding stays bit-identical."""
    net = folded(4, channels=16).to(dtype).to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 41, 30).to(dtype).contiguous(memory_format=torch.channels_last)
    calls: list[str] = []
    ops = fused_conv.pointwise_ops()
    assert ops is not None

    def counted(i: int):
        def call(*args: object) -> torch.Tensor:
            calls.append(str(i))
            return ops[i](*args)
        return call

    with torch.inference_mode():
        monkeypatch.setattr(fused_conv, "pointwise_ops", lambda: (counted(0), counted(1),
                                                                  counted(2)))
        fused = lean_forward(net, x)
        trunk, upsampling = calls[:6], calls[6:]
        monkeypatch.setattr(srresnet_infer, "MIN_BAND_ROWS", 3)
        monkeypatch.setattr(srresnet_infer, "BANDS", 6)
        banded = lean_forward(net, x)
        monkeypatch.setattr(fused_conv, "pointwise_ops", lambda: None)
        plain_ops = lean_forward(net, x)
    # head + act; per block conv1 + act, conv2 + add (in place but into the head); body + skip
    assert trunk == ["0", "0", "1", "0", "2", "2"]
    assert upsampling == ["0", "0"] * 2  # 2 stages in each of 2 bands (41 rows, 32 a band)
    assert torch.equal(fused, banded)
    if dtype == torch.float32:
        assert torch.allclose(fused, plain_ops, atol=1e-6, rtol=0)
    assert (grey(fused) - grey(plain_ops)).abs().max() <= 1


def test_fused_conv_falls_back_where_it_cannot_run() -> None:
    """float64, autograd on, a missing op: the plain conv + activation / add, same values."""
    conv = nn.Conv2d(4, 4, 3, padding=1).double()
    x, r = torch.rand(1, 4, 9, 7, dtype=torch.float64), torch.rand(1, 4, 9, 7,
                                                                   dtype=torch.float64)
    assert not fused_conv.fusable(conv, x)
    with torch.no_grad():
        assert torch.equal(fused_conv.conv_leaky_relu(conv, x, 0.2),
                           torch.nn.functional.leaky_relu(conv(x), 0.2))
        assert torch.equal(fused_conv.conv_add(conv, x, r), conv(x) + r)
    conv32, x32 = conv.float(), x.float()
    assert not fused_conv.fusable(conv32, x32)  # autograd on
    with torch.inference_mode():
        assert fused_conv.fusable(conv32, x32)


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_coarse_tail_equals_the_tail_on_the_shuffled_input(scale: int) -> None:
    net = folded(scale).double()
    factor = 3 if scale == 3 else 2
    tail = coarse_tail(net.tail, factor)
    assert tail.kernel_size == (5, 5) and tail.out_channels == 3 * factor**2
    y = torch.randn(1, 8 * factor**2, 13, 10, dtype=torch.float64)
    with torch.inference_mode():
        fine = net.tail(torch.nn.functional.pixel_shuffle(y, factor))
        coarse = torch.nn.functional.pixel_shuffle(tail(y), factor)
    assert torch.allclose(coarse, fine, atol=1e-12, rtol=0)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lean_module_matches_the_plain_forward(scale: int, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    """With the coarse tail: within float rounding in fp32, 1 grey level in bf16; and banding
    stays bit-identical (many bands vs one, channels_last float32)."""
    net = folded(scale)
    lean = LeanSRResNet(net).to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 29, 17).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        plain, one = net(x), lean(x)
        monkeypatch.setattr(srresnet_infer, "MIN_BAND_ROWS", 3)
        monkeypatch.setattr(srresnet_infer, "BANDS", 7)
        banded = lean(x)
        lean16 = lean.to(torch.bfloat16)
        b16 = lean16(x.to(torch.bfloat16)).float()
    assert lean.tail is not None
    assert torch.equal(one, banded)
    assert torch.allclose(one, plain, atol=2e-6, rtol=0)
    grey = (b16.clamp(0, 1) * 255).round() - (plain.clamp(0, 1) * 255).round()
    assert grey.abs().max() <= 1


def test_per_channel_prelu_falls_back_to_the_module() -> None:
    net = folded(2)
    net.head_act = nn.PReLU(8)
    net.upsampler[-1].act = nn.PReLU(8)
    for act in (net.head_act, net.upsampler[-1].act):
        nn.init.uniform_(act.weight, 0.05, 0.4)
    x = torch.rand(1, 3, 11, 13)
    lean = LeanSRResNet(net)
    assert lean.tail is None  # a per-channel PReLU does not commute with the shuffle
    with torch.inference_mode():
        assert torch.allclose(lean(x), net(x), atol=1e-6, rtol=0)


def test_descriptor_prepares_the_lean_forward_and_knows_its_memory() -> None:
    torch.manual_seed(1)
    module = SRResNet(scale=4, num_blocks=2, channels=8).eval()
    model = srresnet_descriptor(module, name="t", source="memory", card={})
    prepared = model.prepare("cpu", "fp32")
    x = torch.rand(1, 3, 70, 45)
    with torch.inference_mode():
        plain = fold_batchnorm(module)(x)
    assert torch.allclose(prepared(x), plain, atol=1e-6, rtol=0)
    exported = model.torch_module()
    assert exported is not None and not any(isinstance(m, LeanSRResNet)
                                            for m in exported.modules())  # ONNX: plain graph
    assert model.activations_per_pixel == activation_floats_per_pixel(module)
    probe = ACTIVATION_FACTOR * activation_floats(model)
    assert model.activations_per_pixel is not None and model.activations_per_pixel < probe / 2


def test_bundled_model_runs_512_untiled_and_big_images_in_large_tiles() -> None:
    """The issue's cases at the default CPU budget (bf16): whole 512^2 image, and 4000x3000
    in tiles far larger than the old estimate allowed (estimates only: no forward runs)."""
    model = load("srresnet_x4")
    up = Upscaler(model, device="cpu", precision="bf16", tile=None)
    assert up._tile_for(512, 512) == WHOLE_IMAGE
    old_bpp = int(ACTIVATION_FACTOR * activation_floats(model) * 2 + 4 * (3 + 2 * 3 * 16))
    assert up.bytes_per_pixel < old_bpp / 2
    assert up.bytes_per_pixel == bytes_per_pixel(model, torch.bfloat16)
    big = up._tile_for(3000, 4000)
    up.bytes_per_pixel = old_bpp
    assert big >= 1.8 * up._tile_for(3000, 4000)  # 500 vs 267 px


def test_upscaler_output_unchanged_by_banding(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(2)
    model = srresnet_descriptor(SRResNet(scale=2, num_blocks=1, channels=8).eval(), name="t",
                                source="memory", card={})
    arr = np.random.default_rng(0).integers(0, 256, (50, 31, 3), dtype=np.uint8)
    one_band = Upscaler(model, device="cpu", precision="fp32").upscale_array(arr)
    monkeypatch.setattr(srresnet_infer, "MIN_BAND_ROWS", 4)
    banded = Upscaler(model, device="cpu", precision="fp32").upscale_array(arr)
    assert np.array_equal(one_band, banded)
