"""Networks and model files.

Networks: the SRGAN generator (SRResNet), its discriminator, the VGG19 feature extractor, and the
native foreign families (BasicSR MSRResNet, EDSR). Files: `loading.load` turns any supported
file into the frozen `descriptor.ModelDescriptor`; `bundled` is our own safetensors format and
the bundled weights.

`SRResNet` and `Discriminator` are imported on first use, so that importing a torch-free
submodule (`bundled` for `srgan models`, `scales`) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from srgan_cli.models.discriminator import Discriminator
    from srgan_cli.models.srresnet import SRResNet

__all__ = ["Discriminator", "SRResNet"]

_LAZY = {"Discriminator": "srgan_cli.models.discriminator", "SRResNet": "srgan_cli.models.srresnet"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
