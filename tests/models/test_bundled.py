"""Model files: safetensors round trip with card, .pth nestings, refusals, bundled models
(read back through `loading.load`, the one loader)."""

from __future__ import annotations

import os
import pathlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import random_bn_stats
from safetensors.torch import save_file
from torch import nn

from srgan_cli.errors import ModelError, OutputError
from srgan_cli.models.bundled import (
    DEFAULT_MODEL,
    FORMAT,
    build_module,
    bundled_models,
    default_model_spec,
    infer_architecture,
    save_model,
)
from srgan_cli.models.descriptor import ModelDescriptor
from srgan_cli.models.discriminator import Discriminator
from srgan_cli.models.loading import load
from srgan_cli.models.srresnet import SRResNet


def small_net(scale: int = 2, seed: int = 0, num_blocks: int = 2, channels: int = 8) -> SRResNet:
    torch.manual_seed(seed)
    net = SRResNet(scale=scale, num_blocks=num_blocks, channels=channels)
    random_bn_stats(net)
    return net.eval()


def net_of(m: ModelDescriptor) -> SRResNet:
    """The SRResNet a descriptor runs (CPU, fp32, eval, BatchNorm unfolded)."""
    net = getattr(m.implementation, "net", None)
    assert isinstance(net, SRResNet)
    return net


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ----------------------------------------------------------------------------- safetensors


def test_round_trip_with_card(tmp_path: Path) -> None:
    net = small_net(scale=2)
    path = tmp_path / "m.safetensors"
    card = {"training_data": "DIV2K", "steps": 1000, "metrics": {"Set5": {"psnr": 30.1}},
            "scale": 99}  # structural fields come from the module
    save_model(net, path, card)
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]  # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    m = load(str(path))
    assert (m.architecture, m.scale, m.name, m.source) == ("srresnet", 2, "m", str(path))
    assert m.card["training_data"] == "DIV2K" and m.card["steps"] == 1000
    assert m.card["metrics"] == {"Set5": {"psnr": 30.1}}
    assert m.card["format"] == FORMAT and m.card["architecture"] == "srresnet"
    assert (m.card["scale"], m.card["num_blocks"], m.card["channels"]) == (2, 2, 8)
    assert not net_of(m).training
    assert any(isinstance(x, nn.BatchNorm2d) for x in net_of(m).modules())  # stored unfolded
    assert same_weights(net_of(m), net)
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        assert torch.equal(net_of(m)(x), net(x))
    save_model(net, path, {"steps": 2})  # replaces atomically
    assert load(str(path)).card["steps"] == 2


def test_save_unwraps_and_refuses_bad_targets(tmp_path: Path) -> None:
    net = small_net()
    wrapper = nn.Module()
    wrapper.module = net  # like DistributedDataParallel
    save_model(wrapper, tmp_path / "w.safetensors", {})
    assert same_weights(net_of(load(str(tmp_path / "w.safetensors"))), net)
    with pytest.raises(OutputError, match="does not exist"):
        save_model(net, tmp_path / "nope" / "m.safetensors", {})
    with pytest.raises(ModelError, match="JSON"):
        save_model(net, tmp_path / "x.safetensors", {"psnr": float("nan")})


def test_bf16_weights_load_as_fp32(tmp_path: Path) -> None:
    net = small_net()
    save_model(net.to(torch.bfloat16), tmp_path / "h.safetensors", {})
    m = load(str(tmp_path / "h.safetensors"))
    assert net_of(m).head.weight.dtype == torch.float32


@pytest.mark.parametrize(
    "damage",
    [lambda b: b[: len(b) // 2], lambda b: b[:5], lambda b: b"", lambda b: os.urandom(4000),
     lambda b: b[:8] + b"{garbage" + b[16:]],
    ids=["truncated", "header-only", "empty", "garbage", "bad-header"],
)
def test_corrupt_safetensors(tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    good = tmp_path / "good.safetensors"
    save_model(small_net(), good, {})
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(ModelError, match=r"bad\.safetensors: not a valid safetensors file"):
        load(str(bad))


def test_foreign_metadata_refused(tmp_path: Path) -> None:
    state = {k: v.contiguous() for k, v in small_net().state_dict().items()}
    save_file(state, tmp_path / "a.safetensors", metadata={"architecture": "rrdbnet"})
    with pytest.raises(ModelError, match="architecture 'rrdbnet' is not supported"):
        load(str(tmp_path / "a.safetensors"))
    save_file(state, tmp_path / "b.safetensors", metadata={"num_blocks": "3"})
    with pytest.raises(ModelError, match="num_blocks=3 but the tensors have num_blocks=2"):
        load(str(tmp_path / "b.safetensors"))
    save_file(state, tmp_path / "c.safetensors")  # no card at all: inferred from the tensors
    assert load(str(tmp_path / "c.safetensors")).scale == 2


# ----------------------------------------------------------------------------- .pth imports


def _nestings(net: SRResNet, other: SRResNet) -> dict[str, object]:
    sd, od = net.state_dict(), other.state_dict()
    ddp = {f"module.{k}": v for k, v in sd.items()}
    return {
        "plain": sd,
        "params_ema": {"params": od, "params_ema": sd},  # EMA preferred
        "params": {"params": sd},
        "state_dict": {"state_dict": sd, "epoch": 3},
        "model": {"model": sd},
        "generator": {"generator": sd},
        "nested": {"state_dict": {"generator": sd}},
        "module_prefix": {"state_dict": ddp},
        "compiled_ddp": {k.replace("module.", "module._orig_mod."): v for k, v in ddp.items()},
        "training_ckpt": {"generator": od, "ema": sd, "discriminator": Discriminator().state_dict(),
                          "step": 10},
    }


@pytest.mark.parametrize("nesting", list(_nestings(small_net(), small_net(seed=1))))
def test_pth_nestings(tmp_path: Path, nesting: str) -> None:
    net, other = small_net(seed=0), small_net(seed=1)
    path = tmp_path / f"{nesting}.pth"
    torch.save(_nestings(net, other)[nesting], path)
    m = load(str(path), scale=2)
    assert m.architecture == "srresnet" and m.scale == 2 and m.name == nesting
    assert same_weights(net_of(m), net)


def test_pt_suffix_and_missing_bn_counters(tmp_path: Path) -> None:
    sd = {k: v for k, v in small_net(scale=3).state_dict().items()
          if not k.endswith("num_batches_tracked")}
    torch.save(sd, tmp_path / "x3.pt")
    assert load(str(tmp_path / "x3.pt")).scale == 3


class _TouchFile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (pathlib.Path.touch, (self.target,))


class _System:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("payload", [_TouchFile, _System])
@pytest.mark.parametrize("how", ["pickle-2", "pickle-default", "torch.save"])
def test_malicious_pickle_is_refused_and_never_runs(
    tmp_path: Path, payload: Callable[[Path], object], how: str
) -> None:
    target = tmp_path / "pwned"
    evil = {"state_dict": payload(target)}
    path = tmp_path / "evil.pth"
    if how == "torch.save":
        torch.save(evil, path)
    else:
        path.write_bytes(pickle.dumps(evil, protocol=2 if how == "pickle-2" else None))
    with pytest.raises(ModelError, match="refuses to unpickle arbitrary code"):
        load(str(path))
    assert not target.exists()


def test_corrupt_pth(tmp_path: Path) -> None:
    torch.save(small_net().state_dict(), tmp_path / "good.pth")
    data = (tmp_path / "good.pth").read_bytes()
    (tmp_path / "trunc.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"trunc\.pth: not a valid PyTorch weights file"):
        load(str(tmp_path / "trunc.pth"))
    (tmp_path / "garbage.pth").write_bytes(os.urandom(3000))
    with pytest.raises(ModelError, match=r"garbage\.pth"):
        load(str(tmp_path / "garbage.pth"))


def test_other_architecture_refused(tmp_path: Path) -> None:
    torch.save(Discriminator().state_dict(), tmp_path / "disc.pth")
    with pytest.raises(ModelError, match=r"not an srgan-cli SRResNet.*head\.weight.*found keys"):
        build_module(Discriminator().state_dict(), "disc.pth")
    with pytest.raises(ModelError, match=r"disc\.pth: unknown layout: keys"):
        load(str(tmp_path / "disc.pth"))
    sd = dict(small_net().state_dict())
    sd["extra.weight"] = torch.zeros(3)
    del sd["tail.bias"]
    torch.save(sd, tmp_path / "keys.pth")
    with pytest.raises(ModelError, match=r"missing keys tail\.bias; unexpected keys extra\.weight"):
        load(str(tmp_path / "keys.pth"))
    torch.save({"optimizer": {"lr": 1.0}}, tmp_path / "nostate.pth")
    with pytest.raises(ModelError, match="no state dict found"):
        load(str(tmp_path / "nostate.pth"))


def test_scale_missing_and_unknown(tmp_path: Path) -> None:
    save_model(small_net(scale=2), tmp_path / "x2.safetensors", {})
    with pytest.raises(ModelError, match="model is x2, but x4 was asked"):
        load(str(tmp_path / "x2.safetensors"), scale=4)
    with pytest.raises(ModelError, match="model file not found"):
        load(str(tmp_path / "none.safetensors"))
    with pytest.raises(ModelError, match="unknown model 'no_such_model'"):
        load("no_such_model")
    (tmp_path / "m.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="unknown model file type '.bin'"):
        load(str(tmp_path / "m.bin"))


def test_bicubic() -> None:
    m = load("bicubic")
    assert (m.architecture, m.scale, m.torch_module()) == ("bicubic", 4, None)
    assert load("bicubic", scale=3).scale == 3


@pytest.mark.parametrize(("scale", "blocks", "channels"), [(2, 1, 4), (3, 2, 8), (4, 3, 6),
                                                           (8, 1, 4)])
def test_infer_architecture(scale: int, blocks: int, channels: int) -> None:
    net = SRResNet(scale=scale, num_blocks=blocks, channels=channels)
    assert infer_architecture(net.state_dict()) == (blocks, channels, scale)


# ----------------------------------------------------------------------------- bundled


def test_bundled_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRGAN_WEIGHTS_DIR", str(tmp_path))
    assert default_model_spec() == "bicubic" and bundled_models() == []
    net = small_net(scale=4)
    save_model(net, tmp_path / f"{DEFAULT_MODEL}.safetensors", {"training_data": "DIV2K"})
    (tmp_path / "broken.safetensors").write_bytes(b"nonsense")
    assert default_model_spec() == DEFAULT_MODEL
    infos = {i.name: i for i in bundled_models()}
    assert set(infos) == {"broken", DEFAULT_MODEL}
    good = infos[DEFAULT_MODEL]
    assert (good.scale, good.num_blocks, good.channels, good.error) == (4, 2, 8, None)
    assert good.card["training_data"] == "DIV2K"
    assert infos["broken"].error is not None and "not a valid safetensors" in infos["broken"].error
    m = load(DEFAULT_MODEL)
    assert m.source.startswith("bundled:") and m.name == DEFAULT_MODEL
    assert same_weights(net_of(m), net)
    with pytest.raises(ModelError, match=f"available: broken, {DEFAULT_MODEL}, bicubic"):
        load("srresnet_x3")


def test_weights_dir_prefers_the_package_data(tmp_path, monkeypatch) -> None:
    """An install carries the bundled models as package data (srgan_cli/weights, found with
    importlib.resources); a source checkout has them in weights/ beside the package."""
    from srgan_cli.models import bundled
    monkeypatch.delenv("SRGAN_WEIGHTS_DIR", raising=False)
    site = tmp_path / "site-packages" / "srgan_cli"
    site.mkdir(parents=True)
    monkeypatch.setattr(bundled.resources, "files", lambda package: site)
    assert bundled.weights_dir() == tmp_path / "site-packages" / "weights"  # nothing installed
    (tmp_path / "site-packages" / "weights").mkdir()
    assert bundled.weights_dir() == tmp_path / "site-packages" / "weights"  # a source checkout
    (site / "weights").mkdir()
    assert bundled.weights_dir() == site / "weights"  # the package data wins
    monkeypatch.setenv("SRGAN_WEIGHTS_DIR", str(tmp_path / "env"))
    assert bundled.weights_dir() == tmp_path / "env"


# ----------------------------------------------------------------------------- training's loader


def test_load_srresnet_gives_our_module_or_one_line(tmp_path: Path) -> None:
    """Training starts from our SRResNet only: other families are refused in one line."""
    from srgan_cli.models.loading import load_srresnet
    from srgan_cli.models.msrresnet import MSRResNet

    net = small_net(scale=2)
    save_model(net, tmp_path / "m.safetensors", {"steps": 3})
    assert same_weights(load_srresnet(str(tmp_path / "m.safetensors"), scale=2), net)
    torch.save({"params": MSRResNet(scale=4, num_blocks=1, channels=4).state_dict()},
               tmp_path / "msr.pth")
    with pytest.raises(ModelError, match=r"msr: is msrresnet, not an srgan-cli SRResNet"):
        load_srresnet(str(tmp_path / "msr.pth"))
    with pytest.raises(ModelError, match="bicubic: is bicubic"):
        load_srresnet("bicubic")
