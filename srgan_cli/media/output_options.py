"""The output-encoding choices a user makes (quality, metadata): defaults, checks, help text.

Kept free of heavy imports (no numpy, Pillow or torch) so that `srgan --help` can show the
help without loading the codecs; `imaging` applies them when it writes."""

from __future__ import annotations

import numbers

from srgan_cli.errors import UsageError

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
    "--strip-metadata drops them. ICC colour profiles are colour, not metadata: always kept.")


def check_quality(quality: int | None) -> int | None:
    """`quality` if it is None (the format's default) or a whole number from 1 to 100; else a
    UsageError naming ``--quality`` (call it before heavy work, as `write_image` does)."""
    if quality is None:
        return None
    if isinstance(quality, bool) or not isinstance(quality, numbers.Integral) \
            or not 1 <= quality <= 100:
        raise UsageError(f"--quality must be a whole number from 1 to 100, got {quality!r}")
    return int(quality)
