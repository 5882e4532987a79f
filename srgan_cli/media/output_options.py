"""The output-encoding choices a user makes (quality, metadata): defaults and help text.

Kept free of heavy imports (no numpy, Pillow or torch) so that `srgan --help` can show the
help without loading the codecs; `media.encode` applies them when it writes. The quality check
is `options.check_quality`."""

from __future__ import annotations

from srgan_cli.messages import option

__all__ = ["DEFAULT_QUALITY", "METADATA_HELP", "PNG_COMPRESS_LEVEL", "QUALITY_HELP"]

DEFAULT_QUALITY: int = 95
# zlib level of 8-bit PNGs: 1, OpenCV's default (what Real-ESRGAN's outputs use): about 4x faster
# to write than Pillow's 6 for ~20% larger files; 2048x2048 photo: 0.21 s vs 0.83 s.
PNG_COMPRESS_LEVEL: int = 1
QUALITY_HELP: str = (
    "Output quality, 1-100. JPEG: default 95 (4:4:4 chroma). WebP: default 95; 100 is "
    "lossless (exact pixels and alpha). PNG, TIFF and BMP are always lossless and ignore it "
    "(PNG is written with fast zlib level 1, as OpenCV does).")
METADATA_HELP: str = (
    "EXIF (orientation reset once applied to the pixels), XMP and DPI are kept by default, the "
    "DPI multiplied by the scale so the printed size stays the same (72 dpi at x4 -> 288 dpi); "
    f"{option('strip_metadata')} drops them. ICC colour profiles are colour, not metadata: "
    "always kept.")
