"""VGG19 feature extractor for the perceptual (content) loss of SRGAN.

Pretrained ImageNet weights are required outside tests: an explicit path, else torchvision's file
in its cache (``$TORCH_HOME/hub/checkpoints``), downloaded there on demand unless offline (see
`srgan_cli.models.pretrained`); when they cannot be had the error says what to download and
where."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from torch import nn

from srgan_cli.errors import TrainingError
from srgan_cli.fileio import torch_load_weights_only
from srgan_cli.messages import one_line, option
from srgan_cli.models import pretrained

WEIGHTS = pretrained.VGG19  # read at call time: tests swap in a file of their own
VGG19_FILE = WEIGHTS.file
VGG19_URL = WEIGHTS.url
# index after the ReLU that follows conv5_4 / conv2_2 in torchvision's vgg19().features
LAYER_END = {"vgg54": 36, "vgg22": 9}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def torchvision_cache_path() -> Path:
    """Where torchvision keeps downloaded weights (honours TORCH_HOME)."""
    return pretrained.cache_dir() / WEIGHTS.file


def find_vgg19_weights(
    explicit: str | os.PathLike[str] | None = None, *, offline: bool = False,
) -> Path:
    """The explicit path if given (must exist), else torchvision's cached file, downloaded
    first unless `offline` (or SRGAN_OFFLINE=1); else TrainingError."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise TrainingError(f"{option('vgg_weights')} {p}: file not found")
        return p
    purpose = (f"for the perceptual loss (stage gan trains without VGG19 with "
               f"{option('content_loss')} mse or l1)")
    return pretrained.fetch(WEIGHTS, error=TrainingError, purpose=purpose,
                            option="vgg_weights", no_download=offline)


class VGGFeatures(nn.Module):
    """Frozen VGG19 features up to `layer` (after its ReLU) of ImageNet-normalised RGB in [0,1]."""

    mean: torch.Tensor  # buffers (registered in __init__)
    std: torch.Tensor

    def __init__(self, features: nn.Sequential, layer: str = "vgg54") -> None:
        super().__init__()
        if layer not in LAYER_END:
            raise ValueError(f"unknown VGG layer {layer!r}")
        self.features = nn.Sequential(*list(features.children())[: LAYER_END[layer]])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatures:  # always frozen, always eval
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - self.mean) / self.std)


def load_vgg_features(
    layer: str = "vgg54", weights: str | None = None, *, offline: bool = False,
) -> VGGFeatures:
    """VGG19 features up to `layer` with ImageNet weights (``weights_only=True`` load).

    Only the ``features.*`` tensors up to `layer` are needed and checked."""
    if layer not in LAYER_END:
        raise ValueError(f"unknown VGG layer {layer!r}")
    path = find_vgg19_weights(weights, offline=offline)
    try:
        state = torch_load_weights_only(path)
    except pickle.UnpicklingError as e:
        raise TrainingError(
            f"{path}: not a readable VGG19 weights file (corrupt, or a pickle that the safe "
            "loader refuses to run)"
        ) from e
    except Exception as e:  # truncated zip, text, garbage: torch.load raises many types
        raise TrainingError(
            f"{path}: not a readable VGG19 weights file "
            f"({type(e).__name__}: {one_line(e, limit=160)})"
        ) from e
    from torchvision.models import vgg19  # lazy: torchvision takes seconds to import

    with torch.device("meta"):  # no 140M-parameter random init just to overwrite it
        features = nn.Sequential(*list(vgg19().features.children())[: LAYER_END[layer]])
    try:
        if not isinstance(state, dict):
            raise TypeError(f"a {type(state).__name__}, not a state dict")
        wanted = {f"features.{k}": v for k, v in features.state_dict().items()}
        missing = sorted(set(wanted) - set(state))
        if missing:
            raise RuntimeError(f"missing {', '.join(missing[:3])}")
        features.load_state_dict({k[len("features."):]: state[k] for k in wanted}, assign=True)
    except (RuntimeError, TypeError) as e:
        raise TrainingError(
            f"{path}: not torchvision VGG19 weights ({one_line(e, limit=160)})") from e
    return VGGFeatures(features, layer).float()


def random_vgg_features(layer: str = "vgg54", seed: int = 0) -> VGGFeatures:
    """Randomly initialised VGG19 features: for tests only, never used by the CLI."""
    from torchvision.models import vgg19

    torch.manual_seed(seed)
    return VGGFeatures(vgg19().features, layer)
