"""VGG19 content loss: the paper's layers, ImageNet normalisation, 1/12.75 scaling; weights are
found on disk only (explicit path or torchvision's cache) and bad files are refused."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import vgg19

from srgan_cli.errors import TrainingError
from srgan_cli.models.vgg import (
    VGG19_FILE,
    VGG19_URL,
    VGGFeatures,
    load_vgg_features,
)
from srgan_cli.training.losses import ContentLoss


@pytest.fixture(scope="module")
def net() -> nn.Module:
    torch.manual_seed(123)
    return vgg19().eval()


@pytest.fixture(scope="module")
def weights_file(net: nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dict saved from a random torchvision vgg19. The classifier (unused by the loss,
    102M parameters) is saved as zero-stride views so that the file stays ~80 MB, not 550."""
    state = {
        k: v if k.startswith("features.") else torch.zeros((), dtype=v.dtype).expand(v.shape)
        for k, v in net.state_dict().items()
    }
    path = tmp_path_factory.mktemp("vgg") / "vgg19-random.pth"
    torch.save(state, path)
    return path


def _features(net: nn.Module) -> nn.Sequential:
    """torchvision's VGG types `features` as any Module: it is the conv/ReLU/pool Sequential."""
    features = net.features
    assert isinstance(features, nn.Sequential)
    return features


def _convs_and_last(m: VGGFeatures) -> tuple[int, nn.Module]:
    layers = list(m.features.children())
    return sum(isinstance(x, nn.Conv2d) for x in layers), layers[-1]


@pytest.mark.slow
def test_layers_are_the_papers(net: nn.Module) -> None:
    convs, last = _convs_and_last(VGGFeatures(_features(net), "vgg54"))
    assert convs == 16 and isinstance(last, nn.ReLU)  # after the ReLU of conv5_4, before pool 5
    convs, last = _convs_and_last(VGGFeatures(_features(net), "vgg22"))
    assert convs == 4 and isinstance(last, nn.ReLU)  # after the ReLU of conv2_2
    with pytest.raises(ValueError):
        VGGFeatures(_features(net), "vgg99")


def test_content_loss_matches_direct_vgg19_computation(net: nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 40, 40, generator=g)
    sr = (hr + 0.1 * torch.randn(2, 3, 40, 40, generator=g)).clamp(0, 1).requires_grad_(True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        f_sr = _features(net)[:36]((sr - mean) / std)
        f_hr = _features(net)[:36]((hr - mean) / std)
    want = F.mse_loss(f_sr / 12.75, f_hr / 12.75)

    loss_fn = ContentLoss("vgg54", VGGFeatures(_features(net), "vgg54"))
    got = loss_fn(sr, hr)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=0)
    assert got.item() > 0
    got.backward()  # the loss is differentiable in SR, the VGG stays frozen
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert loss_fn.vgg is not None
    assert all(not p.requires_grad and p.grad is None for p in loss_fn.vgg.parameters())
    loss_fn.train()
    assert not loss_fn.vgg.training  # always in eval mode

    with torch.no_grad():  # the pixel content losses need no VGG
        assert ContentLoss("mse")(sr, hr) == F.mse_loss(sr, hr)
        assert ContentLoss("l1")(sr, hr) == F.l1_loss(sr, hr)
    with pytest.raises(ValueError):
        ContentLoss("vgg54")


def test_missing_weights_name_url_and_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    with pytest.raises(TrainingError) as info:
        load_vgg_features("vgg54")
    msg = str(info.value)
    assert VGG19_URL in msg
    assert str(tmp_path / "th" / "hub" / "checkpoints" / VGG19_FILE) in msg
    assert "(or pass vgg_weights)" in msg and "\n" not in msg
    assert "stage gan trains without VGG19 with content_loss mse or l1" in msg
    with pytest.raises(TrainingError, match=r"vgg_weights .*nope\.pth: file not found"):
        load_vgg_features("vgg54", str(tmp_path / "nope.pth"))


def test_weights_from_explicit_path_and_from_torch_cache(
    net: nn.Module, weights_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = torch.rand(1, 3, 32, 32)
    ref = VGGFeatures(_features(net), "vgg22")(x)
    m = load_vgg_features("vgg22", str(weights_file))
    assert m.features[0].weight.dtype == torch.float32 and not m.features[0].weight.is_meta
    torch.testing.assert_close(m(x), ref, rtol=0, atol=0)
    assert all(not p.requires_grad for p in m.parameters())

    cache = tmp_path / "th" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    os.symlink(weights_file, cache / VGG19_FILE)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    m = load_vgg_features("vgg54")
    torch.testing.assert_close(m(x), VGGFeatures(_features(net), "vgg54")(x), rtol=0, atol=0)


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo owned > /dev/null",))


@pytest.mark.parametrize("kind", ["garbage", "empty", "text", "pickle_code", "wrong_keys", "list"])
def test_bad_weights_files_are_refused(tmp_path: Path, kind: str) -> None:
    p = tmp_path / f"{kind}.pth"
    if kind == "garbage":
        p.write_bytes(bytes(range(256)) * 8)
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("these are not weights\n")
    elif kind == "pickle_code":
        p.write_bytes(pickle.dumps(_Evil()))
    elif kind == "wrong_keys":
        torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, p)
    else:
        torch.save([torch.zeros(2)], p)
    with pytest.raises(TrainingError) as info:
        load_vgg_features("vgg54", str(p))
    msg = str(info.value)
    assert msg.startswith(f"{p}: not ") and "\n" not in msg and len(msg) < 400
