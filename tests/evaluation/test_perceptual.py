"""LPIPS (`srgan_cli.evaluation.perceptual`) and `srgan eval --metric lpips`: a randomly initialised
AlexNet backbone comes through the real on-demand download (only the transport is fake), with
the lpips package's own calibrated linear layers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import fake_download
import numpy as np
import pytest
import torch
from helpers import RunCli, tiny_set5
from PIL import Image, ImageFilter

from srgan_cli import options
from srgan_cli.errors import ModelError, UsageError
from srgan_cli.evaluation import perceptual
from srgan_cli.models import pretrained


@pytest.fixture(scope="module")
def alexnet_body() -> bytes:
    """torch.save bytes of a random torchvision AlexNet state dict (seeded), cut to the
    `features.*` tensors LPIPS uses (10 MB instead of 233)."""
    from torchvision.models import alexnet

    torch.manual_seed(0)
    features = alexnet().features.state_dict()
    return fake_download.state_bytes({f"features.{k}": v for k, v in features.items()})


@pytest.fixture
def served(alexnet_body: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An empty torchvision cache and a network that serves the random AlexNet."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(options.OFFLINE_ENV, raising=False)
    weights = fake_download.hash_named("AlexNet ImageNet weights", "alexnet-owt", alexnet_body)
    monkeypatch.setitem(perceptual.BACKBONES, "alex", weights)
    return fake_download.serve(monkeypatch, alexnet_body)


def _image() -> np.ndarray:
    """A fixed 64x64 RGB example with edges and texture."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64]
    plane = 127 + 60 * np.sin(x / 3.0) * np.cos(y / 5.0) + rng.normal(0, 20, (64, 64))
    plane = plane.clip(0, 255)
    return np.stack([plane, np.roll(plane, 3, 0), plane[::-1]], 2).astype(np.uint8)


@pytest.mark.slow
def test_lpips_published_properties(served: list[str], one_thread: None) -> None:
    metric = perceptual.load_lpips("alex")
    assert len(served) == 1  # the backbone was downloaded once
    img = _image()
    blurred = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(2)))
    noisy = (img + np.random.default_rng(1).normal(0, 3, img.shape)).clip(0, 255)
    noisy = noisy.astype(np.uint8)
    assert metric(img, img) == 0.0
    assert metric(img, blurred) == pytest.approx(metric(blurred, img), rel=1e-6)
    assert metric(img, blurred) > metric(img, noisy) > 0.0
    gray = img[..., 0]
    assert metric(gray, gray) == 0.0  # gray is scored as three equal channels
    cropped = metric(img, blurred, 4)
    assert cropped == pytest.approx(metric(img[4:-4, 4:-4], blurred[4:-4, 4:-4]), rel=1e-6)
    with pytest.raises(ValueError, match="different sizes"):
        metric(img, img[:32])
    with pytest.raises(ValueError, match="at least 31x31"):
        metric(img[:40, :40], img[:40, :40], 5)


def test_lpips_uses_the_packages_calibrated_layers(served: list[str]) -> None:
    metric = perceptual.load_lpips("alex")
    shipped = torch.load(perceptual._linear_weights_path("alex"), map_location="cpu",
                         weights_only=True)
    own = metric.model.state_dict()
    assert shipped and all(torch.equal(own[k], v) for k, v in shipped.items())


def test_lpips_offline_without_backbone(served: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(options.OFFLINE_ENV, "1")
    with pytest.raises(ModelError, match="downloads are off") as info:
        perceptual.load_lpips("alex")
    assert perceptual.BACKBONES["alex"].url in str(info.value) and served == []
    with pytest.raises(ModelError, match="unknown LPIPS backbone"):
        perceptual.load_lpips("squeeze")


def test_unreadable_backbone_is_one_line_without_class_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    garbage = tmp_path / "alexnet-owt.pth"
    garbage.write_bytes(b"not a pickle at all")
    monkeypatch.setattr(pretrained, "fetch", lambda *a, **k: garbage)
    with pytest.raises(ModelError) as info:
        perceptual.load_lpips("alex")
    msg = str(info.value)
    assert msg.startswith(f"{garbage}: not a readable weights file (") and "\n" not in msg
    assert "Error" not in msg.removeprefix(str(garbage)), msg


@pytest.mark.slow
def test_eval_metric_lpips_in_table_json_csv(
    served: list[str], tmp_path: Path, run_cli: RunCli, no_bundled_weights: None,
) -> None:
    data = tiny_set5(tmp_path / "data", [(40, 40)] * 2)
    j, c = tmp_path / "r.json", tmp_path / "r.csv"
    code, out, err = run_cli(["eval", "--model", "bicubic", "--data-root", str(data),
                              "--scale", "2", "--metric", "psnr", "--metric", "lpips",
                              "--per-image", "--json", str(j), "--csv", str(c)])
    assert code == 0, err
    header = out.splitlines()[0].split()
    assert header == ["dataset", "model", "image", "PSNR", "LPIPS", "s/img"]
    assert "LPIPS v0.1 (alex)" in out
    doc = json.loads(j.read_text())
    per_image = [r["lpips"] for r in doc["images"]]
    assert len(per_image) == 2 and all(v > 0 for v in per_image)
    summary = doc["summary"][0]
    assert summary["mean_lpips"] == pytest.approx(np.mean(per_image))
    assert summary["metrics"] == ["psnr", "lpips"] and summary["lpips_net"] == "alex"
    rows = list(csv.DictReader(io.StringIO(c.read_text())))
    assert [float(r["lpips"]) for r in rows[:2]] == pytest.approx(per_image)
    assert rows[2]["record"] == "summary"
    assert float(rows[2]["lpips"]) == pytest.approx(summary["mean_lpips"])
    code, _, err = run_cli(["eval", "--model", "bicubic", "--data-root", str(data),
                            "--scale", "2", "--metric", "fid"])
    assert code == UsageError.exit_code and "unknown metric" in err
