"""Convolutions fused with their activation or residual add through oneDNN (CPU inference).

A lean forward spends a third of its CPU time outside the convolutions on bf16 element-wise ops
(a single-slope PReLU's `leaky_relu_`, a residual `add_`), each a full pass over memory. oneDNN
applies both as post-ops while the conv output is still in registers:
`torch.ops.mkldnn._convolution_pointwise` (conv + "leaky_relu") and its in-place binary form
(conv + "add" accumulated into the residual tensor). Same maths: in float32 the same values, in
bf16 one rounding fewer. Per-channel PReLU has no such post-op (the op knows relu, leaky_relu,
gelu, swish, hardtanh, ... only), so it stays a separate module call.

Every function falls back to the plain ops where the fused one cannot run: a torch build without
the op or without oneDNN, a non-CPU tensor, a dtype other than float32/bfloat16 (or bf16 on a
CPU oneDNN does not run bf16 on), a conv with non-zero padding modes, or autograd on.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@functools.cache
def pointwise_ops() -> tuple[Any, Any, Any] | None:
    """(conv + unary op, conv + binary op, the latter in place) of this torch build, or None."""
    try:
        if not torch.backends.mkldnn.is_available():
            return None
        ops = torch.ops.mkldnn
        return (ops._convolution_pointwise.default, ops._convolution_pointwise.binary,
                ops._convolution_pointwise_.binary)
    except (AttributeError, RuntimeError):
        return None


@functools.cache
def _bf16_ok() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def fusable(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    """Whether `conv` on `x` can run as one fused oneDNN call (see the module doc)."""
    if pointwise_ops() is None or not torch.backends.mkldnn.enabled:
        return False
    if x.device.type != "cpu" or x.dtype != conv.weight.dtype or torch.is_grad_enabled():
        return False
    if x.dtype != torch.float32 and not (x.dtype == torch.bfloat16 and _bf16_ok()):
        return False
    return conv.padding_mode == "zeros" and not isinstance(conv.padding, str)


def _geometry(conv: nn.Conv2d) -> tuple[list[int], list[int], list[int], int]:
    return list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups  # type: ignore[arg-type]


def conv_leaky_relu(conv: nn.Conv2d, x: torch.Tensor, slope: float) -> torch.Tensor:
    """leaky_relu(conv(x), slope): a single-slope PReLU after `conv`, fused where possible."""
    ops = pointwise_ops()
    if ops is None or not fusable(conv, x):
        return F.leaky_relu_(conv(x), slope)
    return ops[0](x, conv.weight, conv.bias, *_geometry(conv), "leaky_relu", [slope], "")


def conv_add(conv: nn.Conv2d, x: torch.Tensor, residual: torch.Tensor, *,
             inplace: bool = False) -> torch.Tensor:
    """conv(x) + residual (a residual add), fused where possible; `inplace`: written into
    `residual` (which must not be needed afterwards), saving a map's allocation."""
    ops = pointwise_ops()
    if ops is None or not fusable(conv, x) or residual.dtype != x.dtype:
        return residual.add_(conv(x)) if inplace else conv(x).add_(residual)
    if inplace:
        return ops[2](residual, x, conv.weight, conv.bias, *_geometry(conv), "add", 1.0, None,
                      [], None)
    return ops[1](x, residual, conv.weight, conv.bias, *_geometry(conv), "add", 1.0, None, [],
                  None)


__all__ = ["conv_add", "conv_leaky_relu", "fusable", "pointwise_ops"]
