"""Sample images that ship with scikit-image (no download, no third-party data in this repo).

numpy, scikit-image and the resizer are imported when a sample is made, not with the module
(`srgan sample --help` lists SAMPLES without them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from srgan_cli.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "colorwheel")


def sample_hr(name: str = "astronaut") -> np.ndarray:
    """A scikit-image sample as HxWx3 uint8 RGB."""
    if name not in SAMPLES:
        raise UsageError(f"unknown sample {name!r}; choose from {', '.join(SAMPLES)}")
    import numpy as np
    import skimage.data

    from srgan_cli.media.pixels import gray_to_rgb

    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 2:
        img = gray_to_rgb(img)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))


def sample_pair(name: str = "astronaut", scale: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(HR cropped to a multiple of scale, LR = MATLAB bicubic shrink of it)."""
    from srgan_cli.media.resize import imresize, modcrop

    hr = modcrop(sample_hr(name), scale)
    return hr, imresize(hr, 1 / scale)
