"""Export a descriptor's PyTorch model to ONNX, verified on onnxruntime before writing.

The graph maps float32 NCHW RGB in [0, 1] to [0, 1] units with dynamic batch, height and width
(the model's own range conventions are inside it; padding to the size requirements is not: the
runner does that, from the descriptor written into the ONNX metadata). The file is written
atomically and only when onnxruntime reproduces PyTorch within `TOLERANCE` on two small inputs of
other, odd-where-allowed, non-square sizes than the one traced. The tracer runs in a child
process (`onnx_trace`): a crash there is a refusal (ModelError), not the end of the command.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from srgan_cli.errors import ModelError, OutputError
from srgan_cli.fileio import atomic_write
from srgan_cli.messages import one_line
from srgan_cli.models.descriptor import ModelDescriptor
from srgan_cli.models.onnx_runtime import FORMAT, META_PREFIX, require_onnx, session
from srgan_cli.models.onnx_trace import trace_in_child

TOLERANCE = 1e-4
OPSET = 17
TRACE_SIDE = 16


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
    side = _side(descriptor, TRACE_SIDE)
    data = trace_in_child(module, (1, descriptor.in_channels, side, side), OPSET,
                          descriptor.name)
    model = onnx.load_model_from_string(data)
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


def probe_sizes(descriptor: ModelDescriptor) -> list[tuple[int, int]]:
    """Two (height, width) sizes for the parity check: non-square, different from the traced
    size and from each other, odd where the size requirements allow, above the minimum; a graph
    specialised to the traced shape fails on them."""
    traced = _side(descriptor, TRACE_SIDE)
    m = descriptor.size.multiple_of
    step = 2 if m == 1 else m
    a = _side(descriptor, traced + 1)
    a += 1 if m == 1 and a % 2 == 0 else 0
    b, c = a + step, a + 2 * step
    return [(a, b), (c, a)]


def parity(descriptor: ModelDescriptor, model_bytes: bytes) -> float:
    """Max abs difference between onnxruntime (CPU) and PyTorch (fp32 CPU) on 2-image batches of
    the `probe_sizes`; ModelError when onnxruntime fails on them or gives another shape."""
    module = descriptor.torch_module()
    assert module is not None
    runner = session(model_bytes, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for h, w in probe_sizes(descriptor):
        x = torch.rand(2, descriptor.in_channels, h, w, generator=gen)
        with torch.no_grad():  # one image at a time: some networks mix a batch up (SeemoRe)
            expected = torch.cat([module.eval()(x[i : i + 1].clone()) for i in range(2)]).numpy()
        try:
            got = runner.run(None, {"input": x.numpy()})[0]
        except Exception as e:  # a shape-specialised graph: onnxruntime refuses the other size
            text = one_line(e, first_line=True)
            node = re.search(r"running (\w+) node", text)
            why = (f"its {node[1]} node is fixed to the traced size" if node else text[:200])
            raise ModelError(f"{descriptor.name}: the ONNX graph fails in onnxruntime on a "
                             f"{w}x{h} input ({why}); nothing written") from None
        if got.shape != expected.shape:
            raise ModelError(f"{descriptor.name}: the ONNX graph gives {got.shape[3]}x"
                             f"{got.shape[2]} on a {w}x{h} input, PyTorch {expected.shape[3]}x"
                             f"{expected.shape[2]} (fixed to the traced size); nothing written")
        worst = max(worst, float(abs(got - expected).max()))
    return worst


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
