"""Upscaler: tiled == untiled, OOM halving, BN folding, devices/precisions, dtypes, ImageData."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from srgan_cli.devices import choose_precision, resolve_device
from srgan_cli.errors import DeviceError, UsageError
from srgan_cli.media.decode import ImageData
from srgan_cli.media.resize import imresize
from srgan_cli.models.descriptor import (
    ALL_PRECISIONS,
    ModelDescriptor,
    SizeRequirements,
    Tiling,
)
from srgan_cli.models.loading import load
from srgan_cli.models.srresnet import SRResNet, fold_batchnorm, fold_conv_bn
from srgan_cli.models.torch_impl import TorchImplementation, parameter_count
from srgan_cli.options import WHOLE_IMAGE
from srgan_cli.upscaling.upscaler import Upscaler, output_size, tiled_forward

pytestmark = pytest.mark.usefixtures("one_thread")


def random_srresnet(
    scale: int = 4, num_blocks: int = 2, channels: int = 8, seed: int = 0
) -> SRResNet:
    """Random weights and non-trivial BN statistics (so BN folding really does something)."""
    torch.manual_seed(seed)
    net = SRResNet(scale=scale, num_blocks=num_blocks, channels=channels)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.1, 0.1)
    return net.eval().requires_grad_(False)


def loaded(net: SRResNet | FakeOOM, scale: int = 4, fold_bn: bool = True) -> ModelDescriptor:
    """An SRResNet (or a wrapper of one) as a descriptor: exact tiling, BN folded if asked."""
    return ModelDescriptor(
        name="test", architecture="srresnet", scale=scale, in_channels=3, out_channels=3,
        parameters=parameter_count(net), precisions=ALL_PRECISIONS, size=SizeRequirements(),
        tiling=Tiling(True, net.receptive_radius), card={}, source="memory",
        implementation=TorchImplementation(net, for_inference=fold_batchnorm if fold_bn else None),
    )


def make_image(h: int = 200, w: int = 300, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise: realistic enough to exercise every pixel."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, (xx + yy) / (w + h)], axis=2) * 200
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def reference(net: nn.Module, arr: np.ndarray) -> np.ndarray:
    """The unfolded network on the whole image, float, HWC."""
    x = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255.0
    with torch.inference_mode():
        return net(x)[0].permute(1, 2, 0).numpy()


# ----------------------------------------------------------------------------- BN folding


def test_fold_conv_bn_matches() -> None:
    torch.manual_seed(1)
    conv, bn = nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6)
    assert bn.running_mean is not None and bn.running_var is not None
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.2, 3)
    nn.init.uniform_(bn.weight, -2, 2)
    nn.init.uniform_(bn.bias, -1, 1)
    bn.eval()
    x = torch.randn(2, 4, 9, 7)
    with torch.no_grad():
        want = bn(conv(x))
        got = fold_conv_bn(conv, bn)(x)
    assert (got - want).abs().max().item() <= 1e-5
    conv_nobias = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    with torch.no_grad():
        assert (fold_conv_bn(conv_nobias, bn)(x) - bn(conv_nobias(x))).abs().max() <= 1e-5


def test_fold_batchnorm_network() -> None:
    net = random_srresnet()
    folded = fold_batchnorm(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 2 * 2 + 1  # untouched
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert (folded(x) - net(x)).abs().max().item() <= 1e-5


# ----------------------------------------------------------------------------- tiled == untiled


@pytest.mark.parametrize(
    ("tile", "batch_size"), [(8, 64), (16, 1), (37, 3), (64, 2), (128, 1), (0, 1)]
)
@pytest.mark.slow
def test_tiled_equals_untiled(tile: int, batch_size: int) -> None:
    """Tile 8 is smaller than the context (receptive radius 12): windows are mostly context."""
    net = random_srresnet()
    arr = make_image(200, 300)
    whole = Upscaler(loaded(net, fold_bn=False), device="cpu", tile=0).upscale_float(arr)
    assert np.abs(whole - reference(net, arr)).max() <= 1e-5
    up = Upscaler(loaded(net), device="cpu", tile=tile, batch_size=batch_size)
    assert up.tile_pad == net.receptive_radius == 12
    out = up.upscale_float(arr)
    assert out.shape == (800, 1200, 3) and out.dtype == np.float32
    assert np.abs(out - whole).max() <= 1e-4


def test_too_little_context_is_visible() -> None:
    """The equality above is not trivial: with less context than the radius, tiles differ."""
    net = random_srresnet()
    arr = make_image(100, 120)
    whole = Upscaler(loaded(net), device="cpu").upscale_float(arr)
    radius = net.receptive_radius
    short = Upscaler(loaded(net), device="cpu", tile=32, tile_pad=radius - 4)
    assert np.abs(short.upscale_float(arr) - whole).max() > 1e-4
    # the radius is tight: one pixel less context already changes the output
    short = Upscaler(loaded(net), device="cpu", tile=32, tile_pad=radius - 1)
    assert np.abs(short.upscale_float(arr) - whole).max() > 1e-6


@pytest.mark.slow
def test_full_default_generator_tiled() -> None:
    """The default 16-block, 64-channel x4 generator: folded and tiled output equals untiled."""
    net = random_srresnet(num_blocks=16, channels=64, seed=3)
    arr = make_image(24, 128, seed=3)  # wider than tile + 2 * radius, so it really is cut
    whole = reference(net, arr)
    up = Upscaler(loaded(net), device="cpu", tile=24, batch_size=2)
    assert up.tile_pad == net.receptive_radius == 40
    assert np.abs(up.upscale_float(arr) - whole).max() <= 1e-4
    rounded = np.clip(np.floor(whole * 255 + 0.5), 0, 255)
    assert np.abs(up.upscale_array(arr).astype(float) - rounded).max() <= 1


def test_upscale_array_dtypes() -> None:
    net = random_srresnet(scale=2)
    arr8 = make_image(30, 40)
    up = Upscaler(loaded(net, 2), device="cpu", tile=16)
    out8 = up.upscale_array(arr8)
    assert out8.dtype == np.uint8 and out8.shape == (60, 80, 3)
    want = np.clip(np.floor(up.upscale_float(arr8) * 255 + 0.5), 0, 255)
    assert np.abs(out8.astype(float) - want).max() <= 1  # float rounding ties only
    arr16 = arr8.astype(np.uint16) * 257
    out16 = up.upscale_array(arr16)
    assert out16.dtype == np.uint16 and out16.shape == (60, 80, 3)
    assert np.abs(out16.astype(float) / 257 - out8).max() <= 1
    with pytest.raises(UsageError):
        up.upscale_array(arr8.astype(np.float32))
    with pytest.raises(UsageError):
        up.upscale_array(arr8[..., :2])


def test_bf16_on_cpu_close_to_fp32() -> None:
    net = random_srresnet()
    arr = make_image(24, 32)
    fp32 = Upscaler(loaded(net), device="cpu").upscale_array(arr).astype(int)
    up = Upscaler(loaded(net), device="cpu", precision="bf16")
    assert up.dtype == torch.bfloat16
    assert np.abs(up.upscale_array(arr).astype(int) - fp32).mean() < 3


# ----------------------------------------------------------------------------- out of memory


class FakeOOM(nn.Module):
    """Wraps a network and raises CUDA's OOM error for inputs of more than `limit` pixels."""

    raised = 0

    def __init__(self, net: SRResNet, limit: int) -> None:
        super().__init__()
        self.net = net
        self.limit = limit

    @property
    def receptive_radius(self) -> int:
        return self.net.receptive_radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] * x.shape[2] * x.shape[3] > self.limit:
            FakeOOM.raised += 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


def test_oom_halves_tile_and_matches_untiled() -> None:
    net = random_srresnet()
    arr = make_image(90, 110)
    whole = Upscaler(loaded(net), device="cpu").upscale_float(arr)
    FakeOOM.raised = 0
    # batches of 2 windows: the whole image fails, then 55 px tiles (2 x 79^2 px), 27 px pass
    up = Upscaler(loaded(FakeOOM(net, limit=6000)), device="cpu", tile=WHOLE_IMAGE,
                  batch_size=2)
    state = {k: v for k, v in vars(up).items() if k not in ("_prepared", "tile", "tiles")}
    out = up.upscale_float(arr)
    assert FakeOOM.raised == 2
    assert np.abs(out - whole).max() <= 1e-4
    # nothing kept per call but the tile size that fits: 55 px failed, 27 px passed
    assert {k: v for k, v in vars(up).items() if k not in ("_prepared", "tile", "tiles")} == state
    assert up.tile == 27
    out8 = up.upscale_array(arr)  # starts from the learned tile size: no out-of-memory again
    assert FakeOOM.raised == 2
    assert np.abs(out8.astype(float) - np.clip(np.floor(whole * 255 + 0.5), 0, 255)).max() <= 1


def test_halved_tile_persists_for_the_rest_of_a_batch(tmp_path: Path) -> None:
    """Only the first image of a batch runs out of memory; the others start from its tile."""
    from srgan_cli.media.decode import read_image
    from srgan_cli.media.encode import write_image
    from srgan_cli.upscaling.batch import UpscaleOptions
    from srgan_cli.upscaling.pipeline import run_jobs
    from srgan_cli.upscaling.planning import Job

    net = random_srresnet(scale=2, num_blocks=1, channels=4)
    jobs = []
    for i in range(3):
        src = tmp_path / f"{i}.png"
        write_image(src, _image(make_image(60, 72, seed=i)))
        jobs.append(Job(src, tmp_path / f"{i}_x2.png"))
    FakeOOM.raised = 0
    # 64 px tiles: one 60x72 window (4320 px) fails; 32 px tiles: 52x52 windows (radius 10) pass
    assert net.receptive_radius == 10
    up = Upscaler(loaded(FakeOOM(net, limit=3000), 2), device="cpu", tile=64)
    result = run_jobs(jobs, up, UpscaleOptions(tile=64))
    assert [r.status for r in result.records] == ["ok"] * 3 and result.exit_code == 0
    assert FakeOOM.raised == 1 and up.tile == 32
    plain = Upscaler(loaded(net, 2), device="cpu", tile=WHOLE_IMAGE)
    for i in range(3):
        want = plain.upscale_array(make_image(60, 72, seed=i)).astype(int)
        got = read_image(tmp_path / f"{i}_x2.png").color.astype(int)
        assert np.abs(got - want).max() <= 1


def test_oom_below_minimum_tile_is_device_error() -> None:
    up = Upscaler(loaded(FakeOOM(random_srresnet(), limit=10)), device="cpu", tile=64)
    with pytest.raises(DeviceError, match="out of memory"):
        up.upscale_array(make_image(40, 40))


def test_tiled_forward_batches_and_other_errors() -> None:
    lr = np.arange(5 * 7 * 3, dtype=np.float32).reshape(5, 7, 3)
    seen: list[tuple[int, ...]] = []

    def nearest(win: np.ndarray) -> np.ndarray:
        seen.append(win.shape)
        return win.repeat(2, axis=1).repeat(2, axis=2)

    out = tiled_forward(nearest, lr, 2, tile=2, pad=0, batch_size=4)
    assert np.array_equal(out, lr.repeat(2, axis=0).repeat(2, axis=1))
    assert seen == [(4, 2, 2, 3)] * 3  # 3 x 4 cores, all windows 2x2 (edge ones shifted in)
    progress: list[tuple[int, int]] = []
    tiled_forward(nearest, lr, 2, tile=3, pad=1, progress_cb=lambda d, t: progress.append((d, t)))
    assert progress[-1] == (35, 35)
    assert all(a[0] < b[0] for a, b in zip(progress, progress[1:], strict=False))

    def broken(win: np.ndarray) -> np.ndarray:
        raise ValueError("not an OOM")

    with pytest.raises(ValueError, match="not an OOM"):
        tiled_forward(broken, lr, 2, tile=2, pad=0)


# ----------------------------------------------------------------------------- devices, precision


def test_resolve_device_and_precision() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    for bad in ("gpu0", "cuda:x", "tpu"):
        with pytest.raises(DeviceError, match="unknown device"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(DeviceError):
        resolve_device(f"cuda:{torch.cuda.device_count() + 3}")
    cpu = torch.device("cpu")
    assert choose_precision("auto", cpu) == "fp32"  # conftest: SRGAN_CPU_BF16=0
    assert choose_precision("fp32", cpu) == "fp32"
    assert choose_precision("bf16", cpu) == "bf16"
    with pytest.raises(DeviceError, match="fp16 is not supported on the CPU"):
        choose_precision("fp16", cpu)
    with pytest.raises(DeviceError, match="unknown precision"):
        choose_precision("int8", cpu)


def test_bad_options() -> None:
    model = loaded(random_srresnet())
    bad: list[dict[str, Any]] = [{"tile": -1}, {"tile_pad": -2}, {"batch_size": 0}]
    for kwargs in bad:
        with pytest.raises(UsageError):
            Upscaler(model, device="cpu", **kwargs)


# ----------------------------------------------------------------------------- images


def _image(color: np.ndarray, alpha: np.ndarray | None = None, gray: bool = False) -> ImageData:
    return ImageData(color=color, alpha=alpha, gray=gray, bit_depth=8 * color.dtype.itemsize,
                     icc_profile=b"icc", source_mode="RGBA" if alpha is not None else "RGB")


def test_upscale_image_alpha_and_outscale() -> None:
    net = random_srresnet()
    arr = make_image(20, 30)
    alpha = np.linspace(0, 255, 20 * 30).reshape(20, 30).astype(np.uint8)
    up = Upscaler(loaded(net), device="cpu", tile=16)
    out = up.upscale_image(_image(arr, alpha))
    assert out.size == (120, 80) and out.icc_profile == b"icc"
    assert np.array_equal(out.color, up.upscale_array(arr))
    assert out.alpha is not None and np.array_equal(out.alpha, imresize(alpha, 4))
    small = up.upscale_image(_image(arr, alpha), outscale=2.5)
    assert small.size == (75, 50) and small.alpha is not None and small.alpha.shape == (50, 75)
    assert np.array_equal(small.color, imresize(out.color, size=(50, 75)))
    odd = up.upscale_image(_image(arr), outscale=1.25)  # 37.5 x 25 -> rounds half up to 38
    assert odd.size == (38, 25) and odd.alpha is None
    with pytest.raises(UsageError):
        up.upscale_image(_image(arr), outscale=0.0)


def test_bicubic_model() -> None:
    model = load("bicubic", scale=3)
    up = Upscaler(model, device="cpu")
    arr = make_image(10, 12)
    assert np.array_equal(up.upscale_array(arr), imresize(arr, 3))
    img16 = _image(arr.astype(np.uint16) * 257)
    out = up.upscale_image(img16, outscale=2)  # one direct resize to the exact size
    assert out.bit_depth == 16 and np.array_equal(out.color, imresize(img16.color, size=(20, 24)))
    assert output_size(10, 12, 2) == (20, 24)


# ----------------------------------------------------------------------------- non-finite output


def test_nan_weights_are_a_model_error_not_a_black_image(tmp_path: Path) -> None:
    from srgan_cli.errors import ModelError
    from srgan_cli.models.bundled import save_model

    net = random_srresnet(scale=2)
    with torch.no_grad():
        net.tail.weight[0, 0, 0, 0] = float("nan")
    save_model(net, tmp_path / "nan.safetensors", {})
    up = Upscaler(load(str(tmp_path / "nan.safetensors")), device="cpu", precision="fp32")
    with pytest.raises(ModelError, match=r"model nan produced NaN/inf values; its weights"):
        up.upscale_array(make_image(12, 14))
    with pytest.raises(ModelError, match="NaN/inf"):
        up.upscale_float(make_image(12, 14))
    bf16 = Upscaler(load(str(tmp_path / "nan.safetensors")), device="cpu", precision="bf16")
    with pytest.raises(ModelError, match=r"in bf16 \(try precision fp32\)"):
        bf16.upscale_array(make_image(12, 14))


@pytest.mark.slow
def test_nan_model_through_the_cli_exits_with_the_model_code(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from srgan_cli.cli.app import main
    from srgan_cli.errors import ModelError
    from srgan_cli.media.encode import write_image
    from srgan_cli.models.bundled import save_model

    net = random_srresnet(scale=2)
    with torch.no_grad():
        net.get_parameter("head.bias").fill_(float("inf"))
    save_model(net, tmp_path / "inf.safetensors", {})
    write_image(tmp_path / "a.png", _image(make_image(10, 12)))
    with pytest.raises(SystemExit) as exc:
        main(["upscale", str(tmp_path / "a.png"), "--output", str(tmp_path / "b.png"),
              "--model", str(tmp_path / "inf.safetensors"), "--device", "cpu"])
    assert exc.value.code == ModelError.exit_code
    assert "model inf produced NaN/inf values" in capsys.readouterr().err
    assert not (tmp_path / "b.png").exists()


# ----------------------------------------------------------------------------- precision auto


def test_choose_precision_follows_the_cpu_and_the_descriptor(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan_cli.models.descriptor import FP32_ONLY

    cpu = torch.device("cpu")
    model = loaded(random_srresnet())
    monkeypatch.setenv("SRGAN_CPU_BF16", "1")
    assert choose_precision("auto", cpu, model.precisions) == "bf16"
    assert choose_precision("auto", cpu, load("bicubic").precisions) == "fp32"  # fp32 only
    fp32_only = dataclasses.replace(model, precisions=FP32_ONLY)
    assert choose_precision("auto", cpu, fp32_only.precisions) == "fp32"
    with pytest.raises(DeviceError, match="runs in fp32, not bf16"):
        Upscaler(fp32_only, device="cpu", precision="bf16")
    with pytest.raises(DeviceError, match="fp16 is not supported on the CPU"):
        Upscaler(model, device="cpu", precision="fp16")
    assert choose_precision(" FP32 ", cpu, model.precisions) == "fp32"
    assert Upscaler(model, device="cpu").precision == "bf16"
    assert Upscaler(fp32_only, device="cpu").precision == "fp32"
    monkeypatch.setenv("SRGAN_CPU_BF16", "0")
    assert choose_precision("auto", cpu, model.precisions) == "fp32"
    up = Upscaler(model, device="cpu")
    assert (up.precision, up.dtype) == ("fp32", torch.float32)


# ----------------------------------------------------------------------------- tiles by memory


def test_tile_for_budget() -> None:
    from srgan_cli.upscaling.tiling import tile_for_budget

    assert tile_for_budget(100, 120, 10, 100, 100 * 120 * 100) == WHOLE_IMAGE  # fits
    # 1 MB at 100 B per pixel: a 100 px window, 80 px tile after 10 px of context per side
    assert tile_for_budget(1000, 1200, 10, 100, 1_000_000) == 80
    assert tile_for_budget(1000, 1200, 10, 100, 1_000_000, multiple=16) == 80
    assert tile_for_budget(1000, 1200, 10, 100, 1_000_000, multiple=12) == 72
    # 512 px with at most 336 px: two equal tiles of 256, not 336 + 176
    assert tile_for_budget(512, 512, 40, 1, 416**2) == 256
    assert tile_for_budget(400, 512, 40, 1, 416**2) == 336  # two strips: fewer pixels
    assert tile_for_budget(700, 512, 40, 1, 416**2) == 234  # 700 in three
    assert tile_for_budget(336, 336, 40, 1, 416**2) == WHOLE_IMAGE
    assert tile_for_budget(1000, 1200, 40, 100, 1_000_000) == 32  # never below min_tile
    with pytest.raises(ValueError):
        tile_for_budget(10, 10, 1, 0, 100)


def test_auto_tile_follows_the_memory_budget() -> None:
    net = random_srresnet()
    model = loaded(net)
    arr = make_image(60, 80)
    whole = Upscaler(model, device="cpu").upscale_array(arr)
    roomy = Upscaler(model, device="cpu", tile=None, memory_budget=1 << 30)
    assert np.array_equal(roomy.upscale_array(arr), whole)
    assert roomy.tile == WHOLE_IMAGE and roomy.tiles == 1 and roomy.tiling_exact
    per_pixel = roomy.bytes_per_pixel
    assert per_pixel > 4 * 3 * 16  # more than the float output alone
    window = 12 + 2 * net.receptive_radius  # room for a 12 px core and its context
    tight = Upscaler(model, device="cpu", tile=None, memory_budget=per_pixel * window**2)
    assert np.array_equal(tight.upscale_array(arr), whole)  # exact model: same bytes
    assert tight.tile == 32 and tight.tiles > 1  # min_tile: 32
    budget = per_pixel * (48 + 2 * net.receptive_radius) ** 2  # 72^2 px: more than 60x80
    mid = Upscaler(model, device="cpu", tile=None, memory_budget=budget)
    assert np.array_equal(mid.upscale_array(arr), whole)
    assert mid.tile == WHOLE_IMAGE and mid.tiles == 1
    big = make_image(90, 110)
    assert np.array_equal(mid.upscale_array(big), roomy.upscale_array(big))
    assert mid.tile == 48 and mid.tiles == 2 * 3
    with pytest.raises(UsageError, match="memory_budget must be positive"):
        Upscaler(model, device="cpu", memory_budget=0)


def test_activation_estimate_grows_with_width_and_scale() -> None:
    from srgan_cli.upscaling.upscaler import activation_floats

    small = activation_floats(loaded(random_srresnet(scale=2, channels=8), 2))
    wide = activation_floats(loaded(random_srresnet(scale=2, channels=32), 2))
    x4 = activation_floats(loaded(random_srresnet(scale=4, channels=8)))
    assert wide == pytest.approx(4 * small) and x4 > small
    assert small == 8 * 4  # the x2 upsampling conv: 4 C channels per LR pixel


# ----------------------------------------------------------------------------- size multiples


@pytest.mark.slow
def test_exact_tiling_with_a_size_multiple_stays_exact() -> None:
    """ESRGAN x2 pixel-unshuffles its input (multiple of 2): padded image, aligned windows."""
    from spandrel.architectures.ESRGAN import ESRGAN

    from srgan_cli.models.loading import from_state_dict

    torch.manual_seed(0)
    net = ESRGAN(in_nc=12, out_nc=3, num_filters=8, num_blocks=1, scale=4, shuffle_factor=2)
    d = from_state_dict(net.state_dict(), name="rrdb2", source="memory", card={}, where="x")
    assert d.tiling.exact and d.scale == 2 and d.size.multiple_of % 2 == 0
    assert d.tiling.pad == 44
    arr = make_image(101, 123)  # more than one window of tile + 2 x radius
    whole = Upscaler(d, device="cpu").upscale_array(arr)
    with torch.no_grad():
        x = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255
        want = d(x)[0].permute(1, 2, 0).numpy()
    assert whole.shape == (202, 246, 3)
    assert np.abs(whole.astype(float) - np.clip(np.floor(want * 255 + 0.5), 0, 255)).max() <= 1
    for tile in (5, 13):
        up = Upscaler(d, device="cpu", tile=tile)
        assert up.tile % d.size.multiple_of == 0 and up.tile_pad % d.size.multiple_of == 0
        assert np.array_equal(up.upscale_array(arr), whole) and up.tiles > 1
