"""The ONNX tracer in a child process, so that a tracer crash is a refusal and not the command's.

`torch.onnx.export` on some architectures does not raise but kills the process (GRL: a
segmentation fault in tracing). The module goes as `torch.save` bytes on stdin to a child
``python -c`` (a plain subprocess: unlike multiprocessing's spawn it does not re-run the caller's
main script); the child writes the graph to a file, or one line of error on stdout. Whatever
the child does (raise, crash, get killed), the parent raises ModelError with one line.
"""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

import srgan_cli
from srgan_cli.errors import ModelError
from srgan_cli.messages import one_line

DYNAMIC = {0: "batch", 2: "height", 3: "width"}
ERROR_MARK = "srgan-onnx-trace-error: "


def child_main(shape: str, opset: int, out: str) -> None:
    """Child side: trace the module read from stdin on a random input of `shape` into `out`;
    on failure one marked line on stdout and status 1."""
    try:
        torch.set_num_threads(1)
        module = torch.load(io.BytesIO(sys.stdin.buffer.read()), weights_only=False)
        dims = tuple(int(v) for v in shape.split("x"))
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(), (torch.rand(*dims),), out,
                input_names=["input"], output_names=["output"],
                dynamic_axes={"input": DYNAMIC, "output": DYNAMIC}, opset_version=opset,
                dynamo=False,
            )
    except BaseException as e:  # everything goes back as one line
        print(ERROR_MARK + (one_line(e, first_line=True) or type(e).__name__), flush=True)
        sys.exit(1)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def trace_in_child(module: nn.Module, shape: tuple[int, ...], opset: int, what: str) -> bytes:
    """The ONNX graph of `module` traced on `shape` in a child process; ModelError naming
    `what` when the tracer fails or the child dies."""
    buf = io.BytesIO()
    try:
        torch.save(module, buf)
    except Exception as e:
        raise ModelError(f"{what}: ONNX export failed (the network cannot be handed to the "
                         f"tracer: {one_line(e, first_line=True)})") from None
    root = str(Path(srgan_cli.__file__).resolve().parent.parent)  # this copy of the package
    with tempfile.TemporaryDirectory(prefix="srgan-onnx-") as tmp:
        out = Path(tmp) / "model.onnx"
        code = (f"import sys; sys.path.insert(0, {root!r}); "
                "from srgan_cli.models.onnx_trace import child_main; "
                f"child_main({'x'.join(map(str, shape))!r}, {opset}, {str(out)!r})")
        proc = subprocess.run([sys.executable, "-c", code], input=buf.getvalue(),
                              capture_output=True, check=False)
        if proc.returncode == 0 and out.is_file():
            return out.read_bytes()
        lines = proc.stdout.decode(errors="replace").splitlines()
        marked = [line[len(ERROR_MARK):] for line in lines if line.startswith(ERROR_MARK)]
        if marked:  # torch's "Unsupported: ..." without its plea for a pull request
            why = marked[-1].split(". Please feel free")[0].split(" [Caused by")[0][:200]
        elif proc.returncode < 0:
            why = f"the tracer crashed ({_signal_name(proc.returncode)})"
        else:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()
            why = f"the tracer exited with status {proc.returncode}" + (
                f": {tail[-1].strip()}" if tail else "")
        raise ModelError(f"{what}: ONNX export failed ({why})")
