"""LPIPS (Zhang et al., CVPR 2018), as its authors define it, through their `lpips` package.

The network is the package's: an ImageNet backbone (AlexNet by default, or VGG16) with the
calibrated linear layers v0.1 that ship inside the package, on RGB inputs in [-1, 1]. Only the
weights are loaded our way: the backbone from torchvision's file (fetched on demand like VGG19,
same offline rule, see `srgan_cli.models.pretrained`), both with ``weights_only=True``. Lower is
better;
0 for identical images."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from srgan_cli.errors import ModelError
from srgan_cli.fileio import torch_load_weights_only
from srgan_cli.messages import one_line
from srgan_cli.models import pretrained

if TYPE_CHECKING:
    import torch

LPIPS_VERSION = "0.1"
BACKBONES = {"alex": pretrained.ALEXNET, "vgg": pretrained.VGG16}  # read at call time (tests)
MIN_SIDE = {"alex": 31, "vgg": 16}  # smallest input whose deepest LPIPS layer is not empty


def _lpips_module(net: str) -> Any:
    """The package's LPIPS network with a random backbone and no weights loaded yet."""
    import lpips

    with warnings.catch_warnings():  # torchvision's `pretrained=` deprecation, from lpips
        warnings.simplefilter("ignore")
        return lpips.LPIPS(net=net, version=LPIPS_VERSION, pretrained=False, pnet_rand=True,
                           verbose=False)


def _linear_weights_path(net: str) -> Path:
    """The calibrated linear layers shipped in the lpips package."""
    import lpips

    return Path(lpips.__file__).parent / "weights" / f"v{LPIPS_VERSION}" / f"{net}.pth"


class Lpips:
    """LPIPS distance of two uint8 images (HxW or HxWx3, same size); a pure function once built."""

    def __init__(self, net: str, backbone: dict[str, torch.Tensor]) -> None:

        if net not in BACKBONES:
            raise ValueError(f"unknown LPIPS backbone {net!r}, expected alex or vgg")
        self.net = net
        model = _lpips_module(net)
        own = model.net.state_dict()  # "slice1.0.weight" <- torchvision's "features.0.weight"
        try:
            model.net.load_state_dict({k: backbone[f"features.{k.split('.', 1)[1]}"]
                                       for k in own})
        except (KeyError, RuntimeError) as e:
            raise ModelError(f"not torchvision {net} ImageNet weights ({e})") from e
        lin_path = _linear_weights_path(net)
        lins = torch_load_weights_only(lin_path)
        missing = [k for k in model.state_dict() if k.startswith("lin") and "lins." not in k
                   and k not in lins]
        if missing:
            raise ModelError(f"{lin_path}: LPIPS linear layers missing {missing[:2]}")
        model.load_state_dict(lins, strict=False)
        self.model = model.eval()

    @staticmethod
    def _tensor(img: np.ndarray) -> torch.Tensor:
        import torch

        if img.ndim == 2:
            img = img[..., None]
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
        return (t / 127.5 - 1.0).permute(2, 0, 1).unsqueeze(0)

    @property
    def min_side(self) -> int:
        """The smallest image side (after the border crop) LPIPS scores."""
        return MIN_SIDE[self.net]

    def __call__(self, sr: np.ndarray, hr: np.ndarray, crop_border: int = 0) -> float:
        """LPIPS of `sr` against `hr` with `crop_border` pixels removed from each edge."""
        import torch

        if sr.shape[:2] != hr.shape[:2]:
            raise ValueError(f"LPIPS of images of different sizes {sr.shape} and {hr.shape}")
        if crop_border < 0:
            raise ValueError(f"crop_border must be >= 0, got {crop_border}")
        if crop_border:
            sr = sr[crop_border:-crop_border, crop_border:-crop_border]
            hr = hr[crop_border:-crop_border, crop_border:-crop_border]
        side = MIN_SIDE[self.net]
        if min(sr.shape[:2]) < side:
            raise ValueError(f"LPIPS ({self.net}) needs at least {side}x{side} pixels after "
                             f"cropping {crop_border}, got {sr.shape[1]}x{sr.shape[0]}")
        with torch.inference_mode():
            return float(self.model(self._tensor(sr), self._tensor(hr)).reshape(()))


def load_lpips(net: str = "alex", *, offline: bool = False) -> Lpips:
    """LPIPS with torchvision's ImageNet backbone, downloaded on demand unless offline
    (ModelError, exit 5, naming the URL and target path when it cannot be had)."""
    if net not in BACKBONES:
        raise ModelError(f"unknown LPIPS backbone {net!r}, expected alex or vgg")
    path = pretrained.fetch(BACKBONES[net], error=ModelError, purpose="for LPIPS",
                            no_download=offline)
    try:
        state = torch_load_weights_only(path)
    except Exception as e:  # truncated, garbage or an unsafe pickle
        raise ModelError(f"{path}: not a readable weights file ({one_line(e, first_line=True)})"
                         ) from e
    if not isinstance(state, dict):
        raise ModelError(f"{path}: not a state dict")
    try:
        return Lpips(net, state)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from e
