"""On-demand torchvision weights (`srgan_cli.models.pretrained`, VGG19 of `models.vgg`): the one
download path (`models.download`) with its hash check; only its transport (`urlopen`) is
replaced."""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from functools import partial
from pathlib import Path

import fake_download
import pytest
import torch
from fake_download import hash_named, state_bytes

from srgan_cli import options
from srgan_cli.errors import TrainingError
from srgan_cli.models import pretrained, vgg


def _vgg22_file() -> tuple[bytes, dict[str, torch.Tensor]]:
    """A random VGG19 state dict cut at vgg22 (all the layer needs), as torch.save bytes."""
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in vgg.random_vgg_features("vgg22").features
             .state_dict().items()}
    return state_bytes(state), state


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torchvision cache, downloads allowed."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(options.OFFLINE_ENV, raising=False)
    return tmp_path / "torch_home" / "hub" / "checkpoints"


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Callable[[bytes | BaseException], list[str]]:
    """serve(body or exception): the download's urlopen answers with it; returns the URLs asked."""
    return partial(fake_download.serve, monkeypatch)


def _named_by_hash(monkeypatch: pytest.MonkeyPatch, body: bytes) -> pretrained.WeightsFile:
    """VGG19 weights under a name carrying the body's sha256 prefix, as torchvision names them."""
    weights = hash_named("VGG19 ImageNet weights", "vgg19", body)
    monkeypatch.setattr(vgg, "WEIGHTS", weights)
    return weights


@pytest.mark.slow
def test_vgg19_is_downloaded_once_into_torchvisions_cache(
    home: Path, serve: Callable[..., list[str]], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body, state = _vgg22_file()
    weights = _named_by_hash(monkeypatch, body)
    asked = serve(body)
    net = vgg.load_vgg_features("vgg22")
    assert asked == [weights.url]
    assert (home / weights.file).read_bytes() == body
    assert vgg.torchvision_cache_path() == home / weights.file
    for k, v in net.features.state_dict().items():
        assert torch.equal(v, state[f"features.{k}"])
    assert "downloading VGG19 ImageNet weights" in capsys.readouterr().err
    asked.clear()
    vgg.load_vgg_features("vgg22")  # cached now: no second request
    assert asked == []


@pytest.mark.slow
def test_a_download_with_the_wrong_hash_is_refused_and_not_kept(
    home: Path, serve: Callable[..., list[str]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    body, _ = _vgg22_file()
    weights = _named_by_hash(monkeypatch, body)
    serve(body + b"tampered")
    with pytest.raises(TrainingError, match="the download is corrupt .*invalid hash") as info:
        vgg.load_vgg_features("vgg22")
    assert weights.url in str(info.value) and str(home / weights.file) in str(info.value)
    assert "\n" not in str(info.value)
    assert not (home / weights.file).exists()  # nothing that loads
    assert not (home / f".{weights.file}.partial").exists()  # no partial left


def test_unreachable_network_gives_the_one_line_error(
    home: Path, serve: Callable[..., list[str]],
) -> None:
    serve(urllib.error.URLError("Name or service not known"))
    with pytest.raises(TrainingError) as info:
        vgg.load_vgg_features("vgg22")
    msg = str(info.value)
    assert vgg.VGG19_URL in msg and str(home / vgg.VGG19_FILE) in msg
    assert "(or pass vgg_weights)" in msg and "download failed" in msg and "\n" not in msg


@pytest.mark.parametrize("how", ["flag", "env"])
def test_offline_forbids_any_download(
    how: str, home: Path, serve: Callable[..., list[str]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = serve(b"never read")
    if how == "env":
        monkeypatch.setenv(options.OFFLINE_ENV, "1")
    with pytest.raises(TrainingError, match="downloads are off") as info:
        vgg.load_vgg_features("vgg22", offline=how == "flag")
    assert vgg.VGG19_URL in str(info.value)
    assert asked == []


def test_offline_env_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, off in (("", False), ("0", False), ("1", True), ("yes", True)):
        monkeypatch.setenv(options.OFFLINE_ENV, value)
        assert pretrained.offline() is off
    monkeypatch.delenv(options.OFFLINE_ENV)
    assert pretrained.offline() is False and pretrained.offline(True) is True


@pytest.mark.slow
def test_a_cached_file_missing_the_layers_is_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    body, _ = _vgg22_file()
    weights = _named_by_hash(monkeypatch, body)
    home.mkdir(parents=True)
    (home / weights.file).write_bytes(body)
    with pytest.raises(TrainingError, match="not torchvision VGG19 weights .*missing"):
        vgg.load_vgg_features("vgg54", offline=True)  # vgg54 needs layers the file lacks
