"""`.onnx` models through onnxruntime: the descriptor of a file and its prepared sessions.

Files written by `onnx_export` carry their descriptor in the ONNX metadata (``srgan-cli:*``
keys: architecture, scale, tiling, size requirements, card). Other ONNX files get their scale
from one probe run and approximate tiling. Sessions use the CPU provider, or the CUDA provider
when the device is a GPU and onnxruntime has it. fp32 only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srgan_cli.errors import ModelError
from srgan_cli.messages import one_line
from srgan_cli.models.descriptor import (
    DEFAULT_APPROX_PAD,
    FP32_ONLY,
    Forward,
    ModelDescriptor,
    SizeRequirements,
    Tiling,
    check_declared,
)

EXTRA_HINT = "pip install srgan-cli[onnx]"
META_PREFIX = "srgan-cli:"
ARCHITECTURE_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,64}")
FORMAT = "srgan-cli/onnx-1"  # the `format` metadata value `onnx_export` writes
PROBE = 16  # LR side of the probe run that measures a foreign file's scale


def require_onnx(what: str) -> tuple[Any, Any]:
    """(onnx, onnxruntime) modules; ModelError naming the extra when either is missing."""
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise ModelError(f"{what} needs onnx and onnxruntime ({e.name} is missing): "
                         f"{EXTRA_HINT}") from None
    return onnx, onnxruntime


def providers(device: torch.device) -> list[str]:
    """CUDA then CPU for a GPU device when onnxruntime has CUDA, else CPU only."""
    _, ort = require_onnx("running an .onnx model")
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def session(model_bytes: bytes, device: torch.device) -> Any:
    """An onnxruntime session on `device` (quiet: warnings only)."""
    _, ort = require_onnx("running an .onnx model")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, sess_options=options, providers=providers(device))


@dataclass(frozen=True)
class OnnxImplementation:
    """An ONNX graph mapping float32 NCHW RGB in [0, 1] to [0, 1] units (x scale)."""

    model_bytes: bytes = field(repr=False)
    input_name: str

    def torch_module(self) -> None:
        return None

    def prepare(self, device: torch.device, dtype: torch.dtype) -> Forward:
        sess = session(self.model_bytes, device)

        def forward(x: torch.Tensor) -> torch.Tensor:
            arr = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
            (out,) = sess.run(None, {self.input_name: arr})
            return torch.from_numpy(out).to(device, dtype)

        return forward


def _metadata(model: Any) -> dict[str, str]:
    return {p.key[len(META_PREFIX):]: p.value for p in model.metadata_props
            if p.key.startswith(META_PREFIX)}


def _int(meta: Mapping[str, str], key: str, default: int, where: str) -> int:
    try:
        return int(meta.get(key, default))
    except ValueError:
        raise ModelError(f"{where}: ONNX metadata {key}={meta[key]!r} is not an integer") from None


def _described(meta: Mapping[str, str], where: str) -> tuple[int, Tiling, SizeRequirements]:
    """(scale, tiling, size requirements) from `srgan-cli:*` metadata, every value checked
    against the bounds every descriptor meets (`check_declared`) before anything uses it."""
    fmt = meta.get("format", FORMAT)
    if fmt != FORMAT:
        raise ModelError(f"{where}: ONNX metadata format={fmt!r} is not {FORMAT!r}")
    exact = meta.get("tiling_exact", "false")
    if exact not in ("true", "false"):
        raise ModelError(f"{where}: ONNX metadata tiling_exact={exact!r} is not true or false")
    values = {"scale": _int(meta, "scale", 0, where),
              "multiple_of": _int(meta, "multiple_of", 1, where),
              "min_size": _int(meta, "min_size", 0, where),
              "tiling_pad": _int(meta, "tiling_pad", DEFAULT_APPROX_PAD, where)}
    check_declared(values, where, "ONNX metadata ")
    return (values["scale"], Tiling(exact == "true", values["tiling_pad"]),
            SizeRequirements(values["multiple_of"], values["min_size"]))


def _probe_scale(impl: OnnxImplementation, where: str) -> int:
    x = torch.zeros(1, 3, PROBE, PROBE)
    try:
        y = impl.prepare(torch.device("cpu"), torch.float32)(x)
    except Exception as e:
        raise ModelError(f"{where}: the ONNX model does not run on a {PROBE}x{PROBE} RGB "
                         f"image ({one_line(e, first_line=True)})"
                         ) from None
    h, w = y.shape[-2:]
    if y.ndim != 4 or y.shape[1] != 3 or h != w or h % PROBE:
        raise ModelError(f"{where}: the ONNX model maps 1x3x{PROBE}x{PROBE} to "
                         f"{'x'.join(map(str, y.shape))}, not an integer-scale RGB upscale")
    return h // PROBE


def load_onnx(path: Path, name: str, source: str) -> ModelDescriptor:
    """The descriptor of an ONNX file (one float NCHW input with 3 channels, one output)."""
    onnx, _ = require_onnx(f"{path}: loading an .onnx model")
    where = str(path)
    data = path.read_bytes()
    try:
        model = onnx.load_model_from_string(data)
        onnx.checker.check_model(model)
    except Exception as e:
        raise ModelError(f"{where}: not a valid ONNX model ({one_line(e, first_line=True)})"
                         ) from None
    graph_inputs = [i for i in model.graph.input
                    if i.name not in {t.name for t in model.graph.initializer}]
    if len(graph_inputs) != 1 or len(model.graph.output) != 1:
        raise ModelError(f"{where}: expected one image input and one output, found "
                         f"{len(graph_inputs)} inputs and {len(model.graph.output)} outputs")
    dims = graph_inputs[0].type.tensor_type.shape.dim
    if len(dims) != 4 or (dims[1].HasField("dim_value") and dims[1].dim_value != 3):
        raise ModelError(f"{where}: the input is not an NCHW RGB image (shape "
                         f"{[d.dim_value or d.dim_param for d in dims]})")
    impl = OnnxImplementation(data, graph_inputs[0].name)
    meta = _metadata(model)
    params = int(sum(np.prod(t.dims) for t in model.graph.initializer))
    card: dict[str, Any] = {}
    if "card" in meta:
        try:
            card = dict(json.loads(meta["card"]))
        except (ValueError, TypeError, RecursionError):
            raise ModelError(f"{where}: ONNX metadata card is not a JSON object") from None
    if "scale" in meta:
        scale, tiling, size = _described(meta, where)
        arch = meta.get("architecture", "onnx")
        if not ARCHITECTURE_NAME.fullmatch(arch):
            raise ModelError(f"{where}: ONNX metadata architecture={arch[:80]!r} is not a name "
                             "(letters, digits, '._+-', at most 64)")
    else:
        scale = _probe_scale(impl, where)
        tiling, size, arch = Tiling(False, DEFAULT_APPROX_PAD), SizeRequirements(), "onnx"
    return ModelDescriptor(
        name=name, architecture=arch, scale=scale, in_channels=3, out_channels=3,
        parameters=params, precisions=FP32_ONLY, size=size, tiling=tiling,
        card={**card, "architecture": arch, "scale": scale, "runtime": "onnxruntime"},
        source=source, implementation=impl,
    )
