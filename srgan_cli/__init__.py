"""srgan-cli: single-image super-resolution (SRResNet / SRGAN) from the command line and Python.

The public Python API (`srgan_cli.api`, imported on first use so `import srgan_cli` stays
light: no torch, numpy or Pillow until an image or model is touched):

- ``upscale(image, model="srresnet_x4", **options)``: a PIL image or numpy array (RGB, RGBA,
  gray, 8 or 16 bit) upscaled, returned as the same kind;
- ``load_model(model="srresnet_x4", scale=None)``: the `ModelDescriptor` `--model` reads;
- ``evaluate(model, dataset, ...)``: the PSNR/SSIM `EvalResult` `srgan eval` prints.

Errors are `srgan_cli.errors.SrganError` subclasses with one-line messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from srgan_cli.version import __version__

if TYPE_CHECKING:
    from srgan_cli.api import evaluate, load_model, upscale

__all__ = ["__version__", "evaluate", "load_model", "upscale"]

_API = frozenset({"evaluate", "load_model", "upscale"})


def __getattr__(name: str) -> Any:
    if name in _API:
        from srgan_cli import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
