"""File formats of the image layer: extensions, what each format can hold, magic numbers.

Shared by the decoder (`imaging`) and the encoder (`imagewrite`)."""

from __future__ import annotations

import numpy as np

# The decoder reads exactly these formats, so folders are scanned for exactly these names.
READ_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
)
WRITE_EXTENSIONS: frozenset[str] = READ_EXTENSIONS

PIL_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP")  # JPEG includes MPO
FORMAT_BY_EXT = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP",
    ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP",
}
SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF"})
ALPHA_FORMATS = frozenset({"PNG", "TIFF", "WEBP"})
ICC_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "WEBP"})
MAX_SIDE = {"JPEG": 65535, "WEBP": 16383}
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I;16", "I;16L", "I;16B", "I;16N", "I"})
TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_16BIT_RAWMODES = {"RGB;16B": ("RGB;16L", 3), "RGBA;16B": ("RGBA;16L", 4)}
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L"
EXIF_FORMATS = frozenset({"PNG", "JPEG", "WEBP"})  # TIFF: `metadata.text_tags` as its own tags
XMP_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "TIFF"})
DPI_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "BMP"})  # WebP: only inside its EXIF
XMP_PNG_KEY = "XML:com.adobe.xmp"
TIFF_XMP_TAG = 700


def icc_space(icc: bytes) -> str:
    """The ICC profile's data colour space ('RGB', 'GRAY', 'CMYK', ...) from its header."""
    return icc[16:20].decode("latin-1").strip() if len(icc) >= 20 else ""
