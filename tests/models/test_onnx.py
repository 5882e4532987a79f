"""ONNX both ways: export with parity check and atomic write, .onnx loading through onnxruntime."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
from model_families import families

from srgan_cli.errors import DeviceError, ModelError
from srgan_cli.models import loading, onnx_export
from srgan_cli.models.descriptor import ModelDescriptor

FAMILIES = families()


def load_family(tmp_path: Path, family: str) -> ModelDescriptor:
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in FAMILIES[family][0].items()}
    path = tmp_path / f"{family}.safetensors"
    save_file(state, str(path))
    return loading.load(str(path))


@pytest.mark.parametrize("family", ["srresnet", "msrresnet", "edsr_basicsr", "compact",
                                    "esrgan_new"])
def test_export_then_load_matches_pytorch(tmp_path: Path, family: str) -> None:
    d = load_family(tmp_path, family)
    out = tmp_path / "m.onnx"
    diff = onnx_export.export_onnx(d, out)
    assert diff <= onnx_export.TOLERANCE
    assert sorted(os.listdir(tmp_path)) == sorted([f"{family}.safetensors", "m.onnx"])
    o = loading.load(str(out))
    assert (o.architecture, o.scale, o.tiling, o.size) == (d.architecture, d.scale, d.tiling,
                                                          d.size)
    assert o.precisions == {"fp32"} and o.card["runtime"] == "onnxruntime"
    assert o.parameters >= d.parameters * 0.9  # folded BatchNorm drops its affine weights
    x = torch.rand(3, 3, 9, 14)  # dynamic batch, height and width
    torch.testing.assert_close(o(x), d(x), atol=1e-4, rtol=0)
    with pytest.raises(DeviceError, match="runs in fp32, not fp16"):
        o.prepare("cpu", "fp16")


def test_foreign_onnx_scale_is_probed(tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 12, 3, padding=1), torch.nn.PixelShuffle(2))
    path = tmp_path / "foreign.onnx"
    dyn = {0: "n", 2: "h", 3: "w"}
    torch.onnx.export(net.eval(), (torch.rand(1, 3, 8, 8),), path, input_names=["img"],
                      output_names=["out"], dynamic_axes={"img": dyn, "out": dyn}, dynamo=False)
    d = loading.load(str(path))
    assert (d.architecture, d.scale, d.tiling.exact) == ("onnx", 2, False)
    x = torch.rand(1, 3, 5, 7)
    with torch.no_grad():
        torch.testing.assert_close(d(x), net(x), atol=1e-5, rtol=0)


def test_parity_failure_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = load_family(tmp_path, "compact")
    monkeypatch.setattr(onnx_export, "TOLERANCE", -1.0)
    with pytest.raises(ModelError, match=r"ONNX output differs from PyTorch by .* nothing written"):
        onnx_export.export_onnx(d, tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == ["compact.safetensors"]


def test_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="bicubic has no PyTorch network"):
        onnx_export.export_onnx(loading.load("bicubic"), tmp_path / "b.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelError, match=r"bad\.onnx: not a valid ONNX model"):
        loading.load(str(tmp_path / "bad.onnx"))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ModelError, match=r"needs onnx and onnxruntime .*pip install "
                                         r"srgan-cli\[onnx\]"):
        loading.load(str(tmp_path / "bad.onnx"))
    assert not (tmp_path / "b.onnx").exists()
