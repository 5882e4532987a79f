"""The one table of file suffixes (images, animations, videos, model files) and what each image
format can hold.

Suffixes are compared lower-cased. Pure data, no import beyond the standard library: `srgan
--help`, `srgan models` and folder scans read it without numpy, Pillow or av. What kind of input
a given file is (its suffix and, for an image or animation suffix, its content) is
`discovery.input_kind`.
"""

from __future__ import annotations

# Still images: suffix -> Pillow format. The decoder reads exactly these and the encoder writes
# them, so folders are scanned for exactly these names.
IMAGE_FORMATS: dict[str, str] = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP",
    ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP",
}
READ_EXTENSIONS: frozenset[str] = frozenset(IMAGE_FORMATS)
WRITE_EXTENSIONS: frozenset[str] = READ_EXTENSIONS

# Animations: suffix -> Pillow format. A .png or .webp is an animation when it has more than one
# frame, else a still image; .gif and .apng are inputs only when animated. Any image suffix may
# hold an animation (its content says): it is written with its format's suffix here.
ANIMATION_FORMATS: dict[str, str] = {".gif": "GIF", ".png": "PNG", ".apng": "PNG", ".webp": "WEBP"}
ANIMATION_SUFFIXES: frozenset[str] = frozenset(ANIMATION_FORMATS)
ANIMATION_WRITE_SUFFIX: dict[str, str] = {"GIF": ".gif", "PNG": ".png", "WEBP": ".webp"}

# Videos: suffix -> FFmpeg muxer name (the temp name has no useful suffix, so the format is
# explicit).
VIDEO_FORMATS: dict[str, str] = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
    ".avi": "avi",
}
VIDEO_SUFFIXES: frozenset[str] = frozenset(VIDEO_FORMATS)

# Model files: suffix -> how `models.loading` reads it (pickles only weights-only).
SAFETENSORS_SUFFIX = ".safetensors"
ONNX_SUFFIX = ".onnx"
MODEL_FORMATS: dict[str, str] = {
    SAFETENSORS_SUFFIX: "safetensors", ".pth": "pickle", ".pt": "pickle", ".ckpt": "pickle",
    ONNX_SUFFIX: "onnx",
}
MODEL_SUFFIXES: frozenset[str] = frozenset(MODEL_FORMATS)

# What each image format can hold.
PIL_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP")  # JPEG includes MPO
SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF"})
ALPHA_FORMATS = frozenset({"PNG", "TIFF", "WEBP"})
ICC_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "WEBP"})
MAX_SIDE = {"JPEG": 65535, "WEBP": 16383}
TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_16BIT_RAWMODES = {"RGB;16B": ("RGB;16L", 3), "RGBA;16B": ("RGBA;16L", 4)}
EXIF_FORMATS = frozenset({"PNG", "JPEG", "WEBP"})  # TIFF: `metadata.text_tags` as its own tags
XMP_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "TIFF"})
DPI_FORMATS = frozenset({"PNG", "JPEG", "TIFF", "BMP"})  # WebP: only inside its EXIF
XMP_PNG_KEY = "XML:com.adobe.xmp"
TIFF_XMP_TAG = 700


def listing(suffixes: frozenset[str] | dict[str, str]) -> str:
    """'.a, .b or .c': suffixes in table order, for messages."""
    names = list(suffixes) if isinstance(suffixes, dict) else sorted(suffixes)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def icc_space(icc: bytes) -> str:
    """The ICC profile's data colour space ('RGB', 'GRAY', 'CMYK', ...) from its header."""
    return icc[16:20].decode("latin-1").strip() if len(icc) >= 20 else ""
