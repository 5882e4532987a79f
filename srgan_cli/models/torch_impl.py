"""The torch side of `descriptor`: the PyTorch-module implementation of a model.

Kept apart so that `descriptor` (and with it the bicubic baseline, `srgan models` and
`srgan eval --model bicubic`) imports without torch. Imports `descriptor`, never the reverse.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from srgan_cli.models.descriptor import Forward


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one intra-op thread inside the block, the caller's count restored after.

    Loading and preparing a model (state dict copies, BatchNorm folding, dtype and layout
    changes) is ~500 tiny ops: on a thread pool each pays a barrier, 1-2 CPU-s on a busy 2-core
    machine against ~0.1 on one thread."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class RangeScaled(nn.Module):
    """`net` working on [0, value_range] seen as a [0, 1] -> [0, 1] module (EDSR: 255)."""

    def __init__(self, net: nn.Module, value_range: float = 1.0,
                 call: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None) -> None:
        super().__init__()
        self.net = net
        self.value_range = value_range
        self._call = call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.value_range != 1.0:
            x = x * self.value_range
        y = self._call(self.net, x) if self._call is not None else self.net(x)
        return y / self.value_range if self.value_range != 1.0 else y


@dataclass(frozen=True)
class TorchImplementation:
    """A PyTorch module (CPU, fp32, eval) plus its range convention and inference preparation.

    `for_inference` (e.g. SRResNet's BatchNorm folding) is applied to a copy in `prepare`;
    `call` replaces ``net(x)`` for modules that need a special call (some spandrel models);
    `single_image` runs a batch one image at a time."""

    net: nn.Module
    value_range: float = 1.0
    for_inference: Callable[[nn.Module], nn.Module] | None = None
    call: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None
    single_image: bool = False  # the network mixes the images of a batch up (IPT, SeemoRe)

    def torch_module(self) -> nn.Module:
        return RangeScaled(self.net, self.value_range, self.call).eval()

    def prepare(self, device: torch.device, dtype: torch.dtype) -> Forward:
        with one_thread():  # tiny ops (see `one_thread`)
            net = self.for_inference(self.net) if self.for_inference else copy.deepcopy(self.net)
            net = net.eval().requires_grad_(False).to(device, dtype)
            nhwc = device.type in ("cuda", "cpu") and _to_nhwc(net)
        module = RangeScaled(net, self.value_range, self.call)
        # NHWC convolutions are faster on both (oneDNN, cuDNN), but not every architecture takes
        # them (AuraSR has 5-D weights, IPT views its activations): the first call tells.
        layout = ["untried" if nhwc else "nchw"]

        def forward(x: torch.Tensor) -> torch.Tensor:
            if self.single_image and x.shape[0] > 1:
                return torch.cat([forward(x[i : i + 1]) for i in range(x.shape[0])])
            with torch.inference_mode():
                if layout[0] == "untried":
                    try:
                        y = module(x.clone(memory_format=torch.channels_last))
                    except torch.OutOfMemoryError:
                        raise
                    except RuntimeError:  # not an architecture for NHWC: contiguous from now on
                        net.to(memory_format=torch.contiguous_format)
                        layout[0] = "nchw"
                    else:
                        layout[0] = "nhwc"
                        return y
                # a copy either way: some networks (spandrel's RCAN) scale their input in place
                fmt = torch.channels_last if layout[0] == "nhwc" else torch.contiguous_format
                return module(x.clone(memory_format=fmt))

        return forward


def _to_nhwc(net: nn.Module) -> bool:
    """Put `net`'s 4-D weights in channels-last order; False (left contiguous) when it refuses."""
    try:
        net.to(memory_format=torch.channels_last)
    except RuntimeError:
        net.to(memory_format=torch.contiguous_format)
        return False
    return True


def first_output(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The call of networks returning (image, extras) (spandrel's MMRealSR); picklable, unlike
    spandrel's own lambda, so that the module reaches the ONNX tracer's child process."""
    return net(x)[0]


def parameter_count(net: nn.Module) -> int:
    """Number of weights in parameters (buffers such as BatchNorm statistics excluded)."""
    return sum(math.prod(p.shape) for p in net.parameters())
