"""Image reading and writing at the edges of the pipeline (uint8/uint16 arrays)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from srgan_cli.errors import InputImageError


def load_rgb_uint8(path: str | Path) -> np.ndarray:
    """Decode an image as an HxWx3 uint8 RGB array (EXIF orientation applied).

    Grayscale is replicated to three channels; alpha is dropped. Used by datasets."""
    p = Path(path)
    try:
        with Image.open(p) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                arr = np.clip(np.floor(arr / 257.0 + 0.5), 0, 255).astype(np.uint8)
                return np.repeat(arr[..., None], 3, axis=2)
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError as e:
        raise InputImageError(f"{p}: no such file") from e
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise InputImageError(f"{p}: cannot read image ({e})") from e
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputImageError(f"{p}: image has zero size")
    return np.ascontiguousarray(arr)
