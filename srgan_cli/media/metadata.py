"""EXIF, XMP and DPI carried from a source image to its upscaled output (see `imaging`).

EXIF travels as Pillow's bytes (``b"Exif\\0\\0"`` + a TIFF structure). On reading
(`source_exif`), only the descriptive tags of the main directory are kept (camera, dates,
author, resolution, the Exif and GPS sub-directories), never the image-structure tags of a TIFF
source, which describe the old file's layout; the Orientation tag is reset to 1 because the
decoder has already turned the pixels upright. On writing (`output_exif`), the tags that state
the pixel size (PixelXDimension, PixelYDimension) and the resolution are set to the written
image's, and the thumbnail directory (IFD1) is not written, so nothing lies about the new image.
Maker notes are copied as they are (like most tools, offsets inside them are not rewritten).

DPI follows the pixel size (`scaled_dpi`), so the physical (printed) size stays the same:
72 dpi at x4 becomes 288 dpi.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from PIL import Image

ORIENTATION = 0x0112
_X_RES, _Y_RES, _RES_UNIT = 0x011A, 0x011B, 0x0128
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
_INCH, _CM = 2, 3

# ASCII tags of the main directory that describe the picture, not the file: the ones a TIFF
# output carries as its own tags (DocumentName, ImageDescription, Make, Model, Software,
# DateTime, Artist, HostComputer, Copyright).
TEXT_TAGS: frozenset[int] = frozenset(
    {0x010D, 0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x013C, 0x8298})
# Everything kept from the main directory: the text tags, orientation, resolution, white point
# and primaries, rating, the Windows XP* tags and the Exif and GPS sub-directories.
_KEEP_IFD0 = TEXT_TAGS | {
    ORIENTATION, _X_RES, _Y_RES, _RES_UNIT, 0x013E, 0x013F, 0x4746, 0x4749,
    0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F, _EXIF_IFD, _GPS_IFD,
}


def source_exif(exif: Image.Exif) -> bytes | None:
    """The EXIF to carry from a decoded image (its file still open, for the sub-directories):
    descriptive main-directory tags and the Exif and GPS sub-directories, Orientation reset to
    1. None when no tag is left.

    The bytes are checked here the way writing reads them (`output_exif`, `text_tags`), so
    that EXIF which cannot be carried fails on reading, where the caller drops it with a note,
    never when the output is written. Malformed EXIF raises."""
    for tag in [t for t in exif if t not in _KEEP_IFD0]:
        del exif[tag]
    if not len(exif):
        return None
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1
    exif.bigtiff = False  # EXIF is classic TIFF (a BigTIFF source's tags would not read back)
    data = _tobytes(exif)
    output_exif(data, (1, 1), None)
    text_tags(data)
    return data


def output_exif(
    exif: bytes, size: tuple[int, int], dpi: tuple[float, float] | None
) -> bytes:
    """`exif` made true of a written image of `size` (width, height) at `dpi`: pixel
    dimensions set where present, resolution set in inches (or removed without `dpi`)."""
    ex = Image.Exif()
    ex.load(exif)
    sub = ex.get_ifd(_EXIF_IFD) if _EXIF_IFD in ex else {}  # cached: tobytes writes this dict
    for tag, value in ((_PIXEL_X, size[0]), (_PIXEL_Y, size[1])):
        if tag in sub:
            sub[tag] = value
    if dpi is None:
        for tag in (_X_RES, _Y_RES, _RES_UNIT):
            if tag in ex:
                del ex[tag]
    else:
        ex[_X_RES], ex[_Y_RES], ex[_RES_UNIT] = float(dpi[0]), float(dpi[1]), _INCH
    return _tobytes(ex)


def with_tag(exif: bytes | None, tag: int, text: str) -> bytes:
    """`exif` (None: none yet) with the main-directory text `tag` set to `text`."""
    ex = Image.Exif()
    if exif is not None:
        ex.load(exif)
    ex[tag] = text
    return _tobytes(ex)


def text_tags(exif: bytes) -> dict[int, bytes]:
    """The `TEXT_TAGS` of `exif` that hold text, as their bytes, for formats that store them as
    their own tags (TIFF)."""
    ex = Image.Exif()
    ex.load(exif)
    return {t: v.encode("latin-1") for t in sorted(TEXT_TAGS)
            if isinstance(v := ex.get(t), str) and v}


def _tobytes(exif: Image.Exif) -> bytes:
    """``exif.tobytes()`` keeping text bytes as they are: Pillow reads text tags as Latin-1 but
    writes them as ASCII with "?" for the rest, which would garble UTF-8 names and captions."""
    subs = [exif.get_ifd(t) for t in (_EXIF_IFD, _GPS_IFD) if t in exif]  # get_ifd adds one
    for ifd in (exif, *subs):
        for tag, value in list(ifd.items()):
            if isinstance(value, str) and not value.isascii():
                ifd[tag] = value.encode("latin-1", "replace")
    return exif.tobytes()


def dpi_from_tags(tags: Mapping[int, Any]) -> tuple[float, float] | None:
    """DPI from EXIF/TIFF resolution tags (unit inch, centimetre, or absent = inch); None when
    they are missing, relative (unit 1) or not positive."""
    unit = tags.get(_RES_UNIT, _INCH)
    if unit not in (_INCH, _CM) or _X_RES not in tags:
        return None
    try:
        x = float(tags[_X_RES])
        y = float(tags.get(_Y_RES, x))
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    factor = 2.54 if unit == _CM else 1.0
    return clean_dpi((x * factor, y * factor))


def clean_dpi(value: Any) -> tuple[float, float] | None:
    """A pair of finite positive numbers as (x, y) floats, else None (0 or NaN mean unknown)."""
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    ok = all(math.isfinite(v) and v > 0 for v in (x, y))
    return (x, y) if ok else None


def scaled_dpi(
    dpi: tuple[float, float] | None, old_size: tuple[int, int], new_size: tuple[int, int]
) -> tuple[float, float] | None:
    """DPI for the same picture resampled from `old_size` to `new_size` (width, height) pixels,
    keeping its physical size: each axis scaled by its own ratio."""
    if dpi is None or old_size == new_size or 0 in old_size:
        return dpi
    return dpi[0] * new_size[0] / old_size[0], dpi[1] * new_size[1] / old_size[1]


def xmp_bytes(value: Any) -> bytes | None:
    """Pillow's ``info["xmp"]`` (bytes, or str from a PNG iTXt chunk) as UTF-8 bytes; None for
    none or empty."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    return bytes(value) if isinstance(value, (bytes, bytearray)) and value else None
