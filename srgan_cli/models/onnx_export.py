"""Export a descriptor's PyTorch model to ONNX, verified on onnxruntime before writing.

The graph maps float32 NCHW RGB in [0, 1] to [0, 1] units with dynamic batch, height and width
(the model's own range conventions are inside it; padding to the size requirements is not: the
runner does that, from the descriptor written into the ONNX metadata). The file is written
atomically and only when onnxruntime reproduces PyTorch within `TOLERANCE` on a small input of
another, odd-where-allowed size than the one traced.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import torch

from srgan_cli.errors import ModelError, OutputError
from srgan_cli.fileio import atomic_write
from srgan_cli.messages import one_line
from srgan_cli.models.descriptor import ModelDescriptor
from srgan_cli.models.onnx_runtime import FORMAT, META_PREFIX, require_onnx, session

TOLERANCE = 1e-4
OPSET = 17
DYNAMIC = {0: "batch", 2: "height", 3: "width"}


def _side(descriptor: ModelDescriptor, wanted: int) -> int:
    """The smallest side >= `wanted` that meets the size requirements."""
    m = descriptor.size.multiple_of
    side = max(wanted, descriptor.size.min_size)
    return -(-side // m) * m


def to_onnx_bytes(descriptor: ModelDescriptor) -> bytes:
    """The ONNX graph of `descriptor` with its description in the metadata (not verified)."""
    onnx, _ = require_onnx("ONNX export")
    module = descriptor.torch_module()
    if module is None:
        raise ModelError(f"{descriptor.name}: {descriptor.architecture} has no PyTorch network "
                         "to export")
    side = _side(descriptor, 16)
    dummy = torch.rand(1, descriptor.in_channels, side, side)
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(), (dummy,), buf,  # type: ignore[arg-type]  # file-like works
                input_names=["input"], output_names=["output"],
                dynamic_axes={"input": DYNAMIC, "output": DYNAMIC}, opset_version=OPSET,
                dynamo=False,
            )
    except Exception as e:
        text = one_line(e, first_line=True)
        raise ModelError(f"{descriptor.name}: ONNX export failed ({text})") from None
    model = onnx.load_model_from_string(buf.getvalue())
    meta = {
        "format": FORMAT, "architecture": descriptor.architecture,
        "scale": str(descriptor.scale), "tiling_exact": str(descriptor.tiling.exact).lower(),
        "tiling_pad": str(descriptor.tiling.pad),
        "multiple_of": str(descriptor.size.multiple_of),
        "min_size": str(descriptor.size.min_size),
        "card": json.dumps(dict(descriptor.card), sort_keys=True, default=str),
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = META_PREFIX + key, value
    return bytes(model.SerializeToString())


def parity(descriptor: ModelDescriptor, model_bytes: bytes) -> float:
    """Max abs difference between onnxruntime (CPU) and PyTorch (fp32 CPU) on a 2-image batch
    of an odd size (where the size requirements allow) other than the traced one."""
    module = descriptor.torch_module()
    assert module is not None
    h, w = _side(descriptor, 11), _side(descriptor, 13)
    x = torch.rand(2, descriptor.in_channels, h, w, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = module.eval()(x).numpy()
    got = session(model_bytes, torch.device("cpu")).run(None, {"input": x.numpy()})[0]
    if got.shape != expected.shape:
        return float("inf")
    return float(abs(got - expected).max())


def export_onnx(descriptor: ModelDescriptor, out_path: str | Path) -> float:
    """Write `descriptor` as ONNX to `out_path` once parity holds; returns the max difference.

    ModelError when the model cannot be exported or onnxruntime differs by more than
    TOLERANCE (nothing written); OutputError when the file cannot be written."""
    out = Path(out_path)
    if not out.parent.is_dir():
        raise OutputError(f"{out}: folder {out.parent} does not exist")
    data = to_onnx_bytes(descriptor)
    diff = parity(descriptor, data)
    if not diff <= TOLERANCE:
        raise ModelError(f"{descriptor.name}: ONNX output differs from PyTorch by {diff:.3g} "
                         f"(> {TOLERANCE}); nothing written to {out}")
    try:
        with atomic_write(out) as tmp:
            tmp.write_bytes(data)
    except OSError as e:
        raise OutputError(f"{out}: cannot write ONNX file ({e.strerror or e})") from None
    return diff
