"""models.loading: every family from .pth/.safetensors with nestings -> a descriptor whose call
equals the original architecture; refusals (unsafe pickles, foreign and absurd files)."""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from model_families import HEAVY, SPANDREL_TINY, families, spandrel_family
from safetensors.torch import save_file

from srgan_cli.errors import ModelError
from srgan_cli.models import loading
from srgan_cli.models.descriptor import ModelDescriptor

FAMILIES = families()


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.float().clamp(0, 1) * 255).round()


def save(state: dict[str, torch.Tensor], path: Path, nesting: str) -> Path:
    """`state` as .pth (under `nesting`, keys `module.`-prefixed) or .safetensors."""
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        inner = {f"module.{k}": v for k, v in state.items()}
        torch.save({nesting: inner, "iter": 5} if nesting else inner, path)
    return path


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize(("suffix", "nesting"),
                         [(".pth", "params_ema"), (".ckpt", "state_dict"), (".safetensors", "")])
def test_family_loads_and_matches_the_architecture(tmp_path: Path, family: str, suffix: str,
                                                   nesting: str) -> None:
    state, reference, arch, exact = FAMILIES[family]
    d = loading.load(str(save(state, tmp_path / f"{family}{suffix}", nesting)))
    assert isinstance(d, ModelDescriptor)
    assert (d.architecture, d.name, d.in_channels, d.out_channels) == (arch, family, 3, 3)
    assert d.tiling.exact is exact and d.tiling.pad > 0
    assert d.parameters > 0 and "fp32" in d.precisions
    x = torch.rand(1, 3, 17, 19, generator=torch.Generator().manual_seed(1))
    y = d(x)
    assert y.shape == (1, 3, 17 * d.scale, 19 * d.scale)
    assert (to_uint8(y) - to_uint8(reference(x))).abs().max() <= 1


@pytest.mark.parametrize("arch", [pytest.param(a, marks=pytest.mark.slow) if a in HEAVY else a
                                  for a in sorted(SPANDREL_TINY)])
def test_every_spandrel_sr_family_runs_like_spandrel(tmp_path: Path, arch: str) -> None:
    """Each of spandrel's SR architectures loads and runs through `prepare` (channels-last
    where the network takes it; IPT and AuraSR do not) on an odd non-square batch, as spandrel
    itself computes it (one image at a time: spandrel's IPT and SeemoRe mix a batch up)."""
    state, reference, _, _ = spandrel_family(arch)
    d = loading.load(str(save(state, tmp_path / f"{arch}.safetensors", "")))
    assert (d.architecture, d.card["loaded_by"]) == (arch, "spandrel")
    side = max(d.size.min_size, 17)
    x = torch.rand(2, 3, side, side + 4, generator=torch.Generator().manual_seed(1))
    x = x.contiguous(memory_format=torch.channels_last)  # how the upscaler hands windows over
    y = d.prepare("cpu", "fp32")(x)
    assert y.shape == (2, 3, side * d.scale, (side + 4) * d.scale)
    want = torch.cat([reference(x[i : i + 1].contiguous()) for i in range(2)])  # IPT: batch 1
    assert (to_uint8(y) - to_uint8(want)).abs().max() <= 1


def test_prepared_runner_keeps_the_descriptor_frozen(tmp_path: Path) -> None:
    state, reference, _, _ = FAMILIES["srresnet"]
    d = loading.load(str(save(state, tmp_path / "m.pth", "")))
    runner = d.prepare("cpu", "fp32")
    x = torch.rand(2, 3, 9, 11)
    torch.testing.assert_close(runner(x), reference(x), atol=1e-5, rtol=0)  # BN folded
    with pytest.raises(AttributeError):
        d.scale = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        d.card["x"] = 1  # type: ignore[index]
    assert d.prepare("cpu", "bf16").dtype == torch.bfloat16
    assert runner(x).dtype == torch.float32 and d.scale == 2


@pytest.mark.parametrize("family", ["srresnet", "msrresnet", "edsr_official", "esrgan_old",
                                    "compact"])
def test_exact_tiling_radius_is_an_upper_bound(tmp_path: Path, family: str) -> None:
    """Changing an input pixel farther than the radius leaves an output pixel unchanged."""
    state, _, _, _ = FAMILIES[family]
    d = loading.load(str(save(state, tmp_path / "m.safetensors", "")))
    r = d.tiling.pad
    size = 2 * r + 3
    x = torch.rand(1, 3, size, size)
    far = x.clone()
    far[..., :, : size // 2 - r - 1] = torch.rand_like(far[..., :, : size // 2 - r - 1])
    s = d.scale
    c = (size // 2) * s
    torch.testing.assert_close(d(x)[..., c : c + s, c : c + s], d(far)[..., c : c + s, c : c + s],
                               atol=1e-5, rtol=0)


def test_size_requirements_pad_and_crop(tmp_path: Path) -> None:
    state, reference, _, _ = FAMILIES["swinir"]
    d = loading.load(str(save(state, tmp_path / "s.pth", "params")))
    assert d.size.min_size == 16 and not d.tiling.exact
    x = torch.rand(1, 3, 5, 7)  # smaller than the minimum: padded, then cropped back
    assert d(x).shape == (1, 3, 10, 14)


def test_scale_mismatch_and_bicubic(tmp_path: Path) -> None:
    state, _, _, _ = FAMILIES["compact"]
    path = save(state, tmp_path / "c.pth", "")
    with pytest.raises(ModelError, match="model is x4, but x2 was asked"):
        loading.load(str(path), scale=2)
    b = loading.load("bicubic", scale=3)
    assert (b.architecture, b.scale, b.parameters, b.tiling.exact) == ("bicubic", 3, 0, True)
    assert b(torch.full((1, 3, 4, 5), 0.5)).shape == (1, 3, 12, 15)


class WritesAFile:
    target = ""

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.target, "w"))


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".ckpt"])
def test_malicious_pickle_refused_with_nothing_created(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "pwned"
    WritesAFile.target = str(marker)
    path = tmp_path / f"evil{suffix}"
    with open(path, "wb") as f:
        pickle.dump({"params_ema": {"conv_first.weight": WritesAFile()}}, f)
    torch.save({"params": {"x": WritesAFile()}}, tmp_path / f"evil_zip{suffix}")
    for p in (path, tmp_path / f"evil_zip{suffix}"):
        with pytest.raises(ModelError, match="refuses to unpickle arbitrary code"):
            loading.load(str(p))
    assert not marker.exists()


def test_non_sr_spandrel_model_refused(tmp_path: Path) -> None:
    from spandrel.architectures.DnCNN import DnCNN

    path = save(DnCNN(in_nc=3, out_nc=3).state_dict(), tmp_path / "dn.pth", "")
    with pytest.raises(ModelError, match=r"spandrel detected DnCNN, a restoration model \(x1\), "
                                         "not super-resolution"):
        loading.load(str(path))


def test_face_model_refused_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What spandrel returns for a GFPGAN file (built for real it is 80M parameters)."""
    from spandrel import MAIN_REGISTRY, ImageModelDescriptor, ModelLoader

    arch = MAIN_REGISTRY.get("GFPGAN").architecture
    net = torch.nn.Conv2d(3, 3, 1)
    fake = ImageModelDescriptor(net, net.state_dict(), arch, "FaceSR", [], False, True, 1, 3, 3)
    monkeypatch.setattr(ModelLoader, "load_from_state_dict", lambda self, sd: fake)
    path = save({"stylegan_decoder.x": torch.zeros(2)}, tmp_path / "face.pth", "")
    with pytest.raises(ModelError) as e:
        loading.load(str(path))
    assert str(e.value) == (f"{path}: spandrel detected GFPGAN, a face-restoration model, "
                            "not super-resolution")


def test_unknown_layout_names_keys(tmp_path: Path) -> None:
    path = save({"a.weight": torch.zeros(2), "b.bias": torch.zeros(2), "c": torch.zeros(1)},
                tmp_path / "u.pth", "")
    with pytest.raises(ModelError, match=r"u\.pth: unknown layout: keys a\.weight, b\.bias, c$"):
        loading.load(str(path))


@pytest.mark.slow
def test_absurd_shapes_refused_before_allocation(tmp_path: Path) -> None:
    import json
    import struct

    nbytes = 100_000 * 3 * 9 * 9 * 4  # a real header; the data is a sparse hole on disk
    header = json.dumps({"head.weight": {"dtype": "F32", "shape": [100_000, 3, 9, 9],
                                         "data_offsets": [0, nbytes]}}).encode()
    huge = tmp_path / "huge.safetensors"
    with open(huge, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 + len(header) + nbytes)
    start = time.perf_counter()
    with pytest.raises(ModelError, match=r"huge\.safetensors: tensor head\.weight declares an "
                                         r"absurd shape \(100000, 3, 9, 9\)"):
        loading.load(str(huge))
    many = {f"body.{i}.conv1.weight": torch.zeros(1) for i in range(25_000)}
    save_file(many, str(tmp_path / "many.safetensors"))
    with pytest.raises(ModelError, match="25000 tensors"):
        loading.load(str(tmp_path / "many.safetensors"))
    assert time.perf_counter() - start < 10


def test_native_layout_errors_name_the_family(tmp_path: Path) -> None:
    state, _, _, _ = FAMILIES["msrresnet"]
    broken = {k: v for k, v in state.items() if k != "conv_hr.bias"}
    with pytest.raises(ModelError, match=r"b\.pth: MSRResNet: missing keys conv_hr\.bias"):
        loading.load(str(save(broken, tmp_path / "b.pth", "")))
    state, _, _, _ = FAMILIES["edsr_official"]
    bad = dict(state, **{"tail.1.weight": torch.zeros(3, 5, 3, 3)})
    with pytest.raises(ModelError, match=r"EDSR: tensor tail\.1\.weight has shape"):
        loading.load(str(save(bad, tmp_path / "e.pth", "")))


def test_bundled_name_and_our_safetensors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan_cli.models.bundled import save_model
    from srgan_cli.models.srresnet import SRResNet
    from srgan_cli.options import WEIGHTS_ENV

    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    save_model(SRResNet(scale=4, num_blocks=1, channels=4).eval(), tmp_path / "mine.safetensors",
               {"training_data": "DIV2K"})
    d = loading.load("mine")
    assert (d.name, d.architecture, d.scale) == ("mine", "srresnet", 4)
    assert d.source == f"bundled:{tmp_path / 'mine.safetensors'}"
    assert d.card["training_data"] == "DIV2K" and d.card["num_blocks"] == 1
    assert d.precisions == {"fp32", "bf16", "fp16"}
    assert d.summary()["tiling"] == {"exact": True, "pad": d.tiling.pad}
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        loading.load("nope")
    (tmp_path / "x.bin").write_bytes(b"1")
    with pytest.raises(ModelError, match="unknown model file type '.bin'"):
        loading.load(str(tmp_path / "x.bin"))


def test_an_empty_safetensors_file_says_it_holds_no_tensors(tmp_path: Path) -> None:
    """It was "unknown layout: keys " with nothing after it."""
    path = tmp_path / "empty.safetensors"
    save_file({}, str(path))
    with pytest.raises(ModelError) as e:
        loading.load(str(path))
    assert str(e.value) == f"{path}: the file holds no tensors (an empty state dict), not a model"


def test_loading_and_preparing_run_on_one_thread_then_restore_the_count(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """~500 tiny ops: on the thread pool each pays a barrier (bench/bench_prepare.py)."""
    from srgan_cli.models import bundled, srresnet_infer, torch_impl

    seen: list[int] = []

    def spy(fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            seen.append(torch.get_num_threads())
            return fn(*args, **kwargs)
        return call

    monkeypatch.setattr(bundled, "srresnet_from_state", spy(bundled.srresnet_from_state))
    monkeypatch.setattr(srresnet_infer, "coarse_tail", spy(srresnet_infer.coarse_tail))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        loading.load("srresnet_x4").prepare("cpu", "fp32")
        assert seen == [1, 1]  # loading, then preparing
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError), torch_impl.one_thread():
            raise ValueError
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
