"""ONNX both ways: export with parity check and atomic write, .onnx loading through onnxruntime."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import RunCli
from model_families import families, spandrel_family

from srgan_cli.errors import DeviceError, ModelError
from srgan_cli.media.encode import write_png
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


# ----------------------------------------------------------------------------- hostile graphs


def resize_graph(path: Path, *, scales: tuple[float, ...] | None = None,
                 fixed: tuple[int, int] | None = None, meta: dict[str, str] | None = None
                 ) -> Path:
    """An ONNX file of one nearest Resize: by `scales` (NCHW), or to a `fixed` HxW whatever the
    input size; `meta` as `srgan-cli:*` metadata."""
    import onnx
    from onnx import TensorProto, helper

    dims: list[str | int | None] = ["n", 3, "h", "w"]
    if fixed is not None:
        const = helper.make_tensor("sizes", TensorProto.INT64, [2], list(fixed))
        node = helper.make_node("Resize", ["img", "", "", "sizes"], ["out"], mode="nearest",
                                axes=[2, 3])
    else:
        assert scales is not None
        const = helper.make_tensor("scales", TensorProto.FLOAT, [4], list(scales))
        node = helper.make_node("Resize", ["img", "", "scales"], ["out"], mode="nearest")
    graph = helper.make_graph(
        [node], "hostile", [helper.make_tensor_value_info("img", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 3, "H", "W"])],
        initializer=[const])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    helper.set_model_props(model, {f"srgan-cli:{k}": v for k, v in (meta or {}).items()})
    onnx.save(model, path)
    return path


def test_a_graph_larger_than_its_metadata_says_is_refused(tmp_path: Path,
                                                        run_cli: RunCli) -> None:
    from srgan_cli.upscaling.upscaler import Upscaler

    path = resize_graph(tmp_path / "x4.onnx", scales=(1, 1, 4, 4), meta={"scale": "2"})
    d = loading.load(str(path))
    assert d.scale == 2  # what it declares; the lie shows when it runs
    with pytest.raises(ModelError, match=r"model x4 produced 2x3x32x40 from a 2x3x8x10 input, "
                                         r"expected 2x3x16x20 \(x2\)"):
        d(torch.rand(2, 3, 8, 10))
    image = np.zeros((8, 10, 3), np.uint8)
    for up in (Upscaler(d, device="cpu", tile=4, tile_pad=2), Upscaler(d, device="cpu", tta=True)):
        with pytest.raises(ModelError, match="model x4 produced"):
            up.upscale_array(image)
    write_png(tmp_path / "a.png", image)
    code, _, err = run_cli(["upscale", str(tmp_path / "a.png"), "--output",
                            str(tmp_path / "b.png"),
                            "--model", str(path), "--device", "cpu"])
    assert code == ModelError.exit_code and "expected 1x3x16x20 (x2)" in err
    assert not (tmp_path / "b.png").exists()


def test_a_fixed_size_graph_is_refused_at_other_sizes(tmp_path: Path) -> None:
    d = loading.load(str(resize_graph(tmp_path / "fixed.onnx", fixed=(64, 64))))
    assert d.scale == 4  # the 16x16 probe gave 64x64
    with pytest.raises(ModelError, match=r"produced 1x3x64x64 from a 1x3x8x8 input, expected "
                                         r"1x3x32x32 \(x4\)"):
        d(torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize(("key", "value", "why"), [
    ("multiple_of", "0", r"multiple_of=0 is out of range \(1 to 256\)"),
    ("tiling_pad", "-50", r"tiling_pad=-50 is out of range \(0 to 4096\)"),
    ("min_size", "1000000", r"min_size=1000000 is out of range \(0 to 1024\)"),
    ("scale", "0", r"scale=0 is out of range \(1 to 16\)"),
    ("scale", "100000", r"scale=100000 is out of range"),
    ("multiple_of", "2.5", r"multiple_of='2.5' is not an integer"),
    ("tiling_exact", "yes", r"tiling_exact='yes' is not true or false"),
    ("format", "srgan-cli/onnx-9", r"format='srgan-cli/onnx-9' is not 'srgan-cli/onnx-1'"),
    ("architecture", "x\x1b[2J", r"architecture='x\\x1b\[2J' is not a name"),
    ("card", "[" * 100_000, "card is not a JSON object"),
])
def test_every_metadata_value_is_checked(tmp_path: Path, key: str, value: str, why: str) -> None:
    path = resize_graph(tmp_path / "m.onnx", scales=(1, 1, 2, 2), meta={"scale": "2", key: value})
    with pytest.raises(ModelError, match=rf"m\.onnx: ONNX metadata {why}"):
        loading.load(str(path))


# What the export of each family gives (tiny random weights; README's ONNX table): True when
# the file is written, else the words the one-line refusal names.
EXPORTS: dict[str, bool | str] = {
    "srresnet": True, "msrresnet": True, "edsr_official": True, "edsr_basicsr": True,
    "esrgan_old": True, "esrgan_new": True, "compact": True,
    "swinir": "Reshape node is fixed to the traced size",
    "ATD": "operator Sort", "AuraSR": "kernel of unknown shape",
    "CRAFT": "LayerNormalization node is fixed", "DAT": "LayerNormalization node is fixed",
    "DCTLSA": "Reshape node is fixed", "DITN": "Reshape node is fixed",
    "DRCT": "differs from PyTorch", "FDAT": "Reshape node is fixed",
    "GRL": "the tracer crashed (SIGSEGV)", "HAT": "Reshape node is fixed",
    "IPT": "cannot be handed to the tracer", "MMRealSR": True, "MoESR": True, "MoSR": True,
    "OmniSR": "Reshape node is fixed", "PLKSR": True, "RCAN": True,
    "RGT": "LayerNormalization node is fixed", "RealCUGAN": "fixed to the traced size",
    "SAFMN": "adaptive pooling", "SPAN": True, "SeemoRe": True, "SwiftSRGAN": True,
    "Swin2SR": "Reshape node is fixed",
}


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(EXPORTS))
def test_every_family_exports_or_is_refused_in_one_line(tmp_path: Path, family: str) -> None:
    """The tracer runs in a child: GRL's segfault is a refusal; a graph fixed to the traced
    size fails on the two probe sizes instead of being written."""
    from safetensors.torch import save_file

    state = FAMILIES[family][0] if family in FAMILIES else spandrel_family(family)[0]
    path = tmp_path / f"{family}.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    d = loading.load(str(path))
    out = tmp_path / "m.onnx"
    want = EXPORTS[family]
    if want is True:
        assert onnx_export.export_onnx(d, out) <= onnx_export.TOLERANCE
        x = torch.rand(1, 3, 21, 19)  # yet another size than traced and probed
        torch.testing.assert_close(loading.load(str(out))(x), d(x), atol=1e-4, rtol=0)
    else:
        with pytest.raises(ModelError) as info:
            onnx_export.export_onnx(d, out)
        text = str(info.value)
        assert isinstance(want, str) and want in text and "\n" not in text and len(text) < 300
        assert not out.exists()


def test_probe_sizes_differ_from_the_trace_and_each_other(tmp_path: Path) -> None:
    """OmniSR's minimum 16 used to round both probes to the traced 16x16."""
    d = load_family(tmp_path, "swinir")  # minimum 16, multiple of 4
    traced = onnx_export._side(d, onnx_export.TRACE_SIDE)
    sizes = onnx_export.probe_sizes(d)
    flat = {s for hw in sizes for s in hw}
    assert traced not in flat and len(set(sizes)) == 2 and all(h != w for h, w in sizes)
    assert all(s >= d.size.min_size and s % d.size.multiple_of == 0 for s in flat)
    c = load_family(tmp_path, "compact")
    assert all(h % 2 and w % 2 for h, w in onnx_export.probe_sizes(c))  # odd where allowed
