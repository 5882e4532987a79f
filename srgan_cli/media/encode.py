"""The one image encoder: every image the project writes (`write_image`, `write_png`) and the
output checks; the decoder is `decode`, the value both share `image_data.ImageData`.

Writes atomically in the format of the output's extension (`fileio.atomic_write`: a hidden
temp file, published only once complete and never over an existing file without
``overwrite``), keeping what the format can hold: gray, alpha, 16-bit depth (TIFF by
`tifffile`, as Pillow writes neither; PNG of any depth by a small streaming encoder here, which
never copies the whole image) and the ICC profile. Metadata is
kept unless ``strip_metadata`` (`metadata` holds the rules): EXIF (Orientation 1, pixel-size
tags set to the new size, no thumbnail), XMP, and DPI scaled with the pixel size so that the
physical size stays the same (`ImageData.replace`: 72 dpi at x4 -> 288 dpi). What each output
holds:

    output       EXIF                          XMP                 DPI              ICC
    PNG 8/16     eXIf chunk                    iTXt XML:com.adobe  pHYs             iCCP
    JPEG         APP1                          APP1                JFIF + EXIF      APP2
    WebP         EXIF chunk                    XMP chunk           in EXIF only     ICCP
    TIFF 8/16    text tags of IFD0 (Make,      tag 700             X/YResolution    tag 34675
                 Model, DateTime, Artist, ...)
                 as TIFF tags; no Exif/GPS sub-directory
    BMP          -                             -                   pixels/metre     -

Output quality (`output_options`, which also holds the defaults and help texts): JPEG and WebP
take `quality` 1-100 (default 95; WebP at 100 is lossless); PNG, TIFF and BMP are lossless and
ignore it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, PngImagePlugin

from srgan_cli.errors import OutputError, SrganError
from srgan_cli.fileio import atomic_write, check_target
from srgan_cli.media import formats as formats
from srgan_cli.media import metadata
from srgan_cli.media.output_options import DEFAULT_QUALITY, PNG_COMPRESS_LEVEL
from srgan_cli.media.pixels import to_uint8
from srgan_cli.messages import one_line, show_path
from srgan_cli.options import check_quality

if TYPE_CHECKING:
    from srgan_cli.media.image_data import ImageData

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L"
SAVED_PNG_LEVEL = 6  # zlib level of `write_png`: pictures kept for reading, not upscale outputs


def check_output_path(path: str | Path, *, overwrite: bool = False) -> None:
    """Refuse, with OutputError, an image output that cannot be written; call before heavy work.

    `fileio.check_target` with the image extensions (`formats.WRITE_EXTENSIONS`)."""
    check_target(path, overwrite=overwrite, kind="image", suffixes=formats.WRITE_EXTENSIONS)


def write_image(
    path: str | Path,
    image: ImageData,
    *,
    overwrite: bool = False,
    quality: int | None = None,
    strip_metadata: bool = False,
) -> None:
    """Write atomically in the format of `path`'s extension, keeping what the format can hold.

    Gray sources are written as one channel (Rec.601 luma of `color`, exact for replicated
    gray), except WebP which has no gray. 16-bit is kept in PNG and TIFF and rounded to 8 bits
    elsewhere. Alpha is kept in PNG, TIFF and WebP; JPEG and BMP get the image composited over
    white. The ICC profile is embedded in PNG, JPEG, TIFF and WebP when its colour space fits
    the channels written. EXIF, XMP and DPI are written where the format holds them (the
    module notes have the table) unless `strip_metadata`. `quality` (1..100, None = 95) is for
    JPEG (4:4:4 chroma) and WebP (100 = lossless); lossless formats ignore it."""
    quality = check_quality(quality)
    p = Path(path)
    check_output_path(p, overwrite=overwrite)
    fmt = formats.IMAGE_FORMATS[p.suffix.lower()]
    limit = formats.MAX_SIDE.get(fmt)
    if limit is not None and max(image.size) > limit:
        w, h = image.size
        raise OutputError(
            f"{show_path(p)}: {w}x{h} is too large for {fmt} (at most {limit} px a side)")
    pixels, icc = _pixels_for(fmt, image)
    meta = _Metadata() if strip_metadata else _metadata_for(fmt, image)
    if fmt == "PNG":  # 8 and 16 bits, streamed (`_write_png_rows`)
        level = 6 if pixels.dtype == np.uint16 else PNG_COMPRESS_LEVEL
        _write(p, overwrite, lambda tmp: _write_png_rows(tmp, pixels, icc, meta, level))
    elif pixels.dtype == np.uint16:
        _write(p, overwrite, lambda tmp: _write_tiff16(tmp, pixels, icc, meta))
    else:
        q = DEFAULT_QUALITY if quality is None else quality
        _write(p, overwrite, lambda tmp: _write_pillow(tmp, fmt, pixels, icc, meta, q))


def write_png(path: str | Path, pixels: np.ndarray) -> None:
    """Write uint8 pixels made here, not decoded (HxW gray or HxWx3 RGB: eval's SR images, the
    crops of a report, validation strips), as a PNG: atomic, an existing file replaced, zlib
    level 6 (`SAVED_PNG_LEVEL`). OutputError naming the file when it cannot be written."""
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or \
            (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ValueError(f"expected HxW or HxWx3 uint8 pixels, got {pixels.shape} {pixels.dtype}")
    p = Path(path)
    check_output_path(p, overwrite=True)
    planes = np.ascontiguousarray(pixels[..., None] if pixels.ndim == 2 else pixels)
    _write(p, True, lambda tmp: _write_pillow(tmp, "PNG", planes, None, _Metadata(), 0,
                                              png_level=SAVED_PNG_LEVEL))


def _write(p: Path, overwrite: bool, encode: Callable[[Path], None]) -> None:
    """Run `encode` on the temp file of `p` and publish it; its errors become OutputErrors."""
    try:
        with atomic_write(p, overwrite=overwrite) as tmp:  # no-clobber publish
            encode(tmp)
    except SrganError:
        raise
    except Exception as e:  # encoders and the OS raise anything
        raise OutputError(f"{show_path(p)}: cannot write image ({one_line(e)})") from e


@dataclass(frozen=True)
class _Metadata:
    """What one output format carries: EXIF bytes (PNG, JPEG, WebP), its text tags (TIFF),
    XMP and DPI; all empty when stripped."""

    exif: bytes | None = None
    tiff_tags: tuple[tuple[int, bytes], ...] = ()
    xmp: bytes | None = None
    dpi: tuple[float, float] | None = None


def _metadata_for(fmt: str, image: ImageData) -> _Metadata:
    exif = tags = None
    if image.exif is not None and fmt in formats.EXIF_FORMATS:
        exif = metadata.output_exif(image.exif, image.size, image.dpi)
    elif image.exif is not None and fmt == "TIFF":
        tags = tuple(metadata.text_tags(image.exif).items())
    return _Metadata(exif=exif, tiff_tags=tags or (),
                     xmp=image.xmp if fmt in formats.XMP_FORMATS else None,
                     dpi=image.dpi if fmt in formats.DPI_FORMATS else None)


def _pixels_for(fmt: str, image: ImageData) -> tuple[np.ndarray, bytes | None]:
    """HxWxC array to encode (C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) and the ICC to embed."""
    color, alpha = image.color, image.alpha
    if image.bit_depth == 16 and fmt not in formats.SIXTEEN_BIT_FORMATS:
        color = to_uint8(color)
        alpha = None if alpha is None else to_uint8(alpha)
    if alpha is not None and fmt not in formats.ALPHA_FORMATS:
        color, alpha = _over_white(color, alpha), None
    gray = image.gray and fmt != "WEBP"
    planes = [_luma(color)[..., None] if gray else color]
    if alpha is not None:
        planes.append(alpha[..., None])
    pixels = np.ascontiguousarray(np.concatenate(planes, axis=2) if len(planes) > 1 else planes[0])
    icc = image.icc_profile
    wanted = "GRAY" if gray else "RGB"
    if fmt not in formats.ICC_FORMATS or not icc or formats.icc_space(icc) != wanted:
        icc = None
    return pixels, icc


def _luma(color: np.ndarray) -> np.ndarray:
    top = np.iinfo(color.dtype).max
    y = np.floor(color.astype(np.float32) @ LUMA + 0.5)
    return np.clip(y, 0, top).astype(color.dtype)


def _over_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    top = float(np.iinfo(color.dtype).max)
    a = alpha.astype(np.float32)[..., None] / top
    out = np.floor(color.astype(np.float32) * a + top * (1.0 - a) + 0.5)
    return np.clip(out, 0, top).astype(color.dtype)


def _write_pillow(tmp: Path, fmt: str, pixels: np.ndarray, icc: bytes | None,
                  meta: _Metadata, quality: int, png_level: int = PNG_COMPRESS_LEVEL) -> None:
    im = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)  # L/LA/RGB/RGBA
    opts: dict[str, Any] = {}
    if icc is not None:
        opts["icc_profile"] = icc
    if meta.exif is not None:
        opts["exif"] = meta.exif
    if meta.dpi is not None:
        opts["dpi"] = meta.dpi
    if fmt == "PNG":
        opts["compress_level"] = png_level
    elif fmt == "JPEG":
        opts.update(quality=quality, subsampling=0)
    elif fmt == "WEBP":
        opts.update(quality=quality, lossless=quality == 100, exact=quality == 100)
    elif fmt == "TIFF":
        tags: dict[int, Any] = dict(meta.tiff_tags)
        if meta.xmp is not None:
            tags[formats.TIFF_XMP_TAG] = meta.xmp
        opts.update(compression="tiff_adobe_deflate", tiffinfo=tags)
    if meta.xmp is not None and fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt(formats.XMP_PNG_KEY, meta.xmp)
        opts["pnginfo"] = info
    elif meta.xmp is not None and fmt in ("JPEG", "WEBP"):
        opts["xmp"] = meta.xmp
    im.save(tmp, format=fmt, **opts)


def _write_tiff16(tmp: Path, pixels: np.ndarray, icc: bytes | None, meta: _Metadata) -> None:
    import tifffile  # a scikit-image dependency; ImportError becomes an OutputError

    channels = pixels.shape[2]
    opts: dict[str, Any] = {"compression": "zlib", "planarconfig": "contig"}
    if icc is not None:
        opts["iccprofile"] = icc
    if meta.dpi is not None:
        opts.update(resolution=meta.dpi, resolutionunit="INCH")
    tags = dict(meta.tiff_tags)
    if 0x010E in tags:  # ImageDescription and Software have their own arguments
        opts["description"] = tags.pop(0x010E)
    if 0x0131 in tags:
        opts["software"] = tags.pop(0x0131)
    extratags: list[tuple[int, int, int, Any, bool]] = [
        (tag, 2, 0, value, True) for tag, value in tags.items()]  # type 2: ASCII
    if meta.xmp is not None:
        extratags.append((formats.TIFF_XMP_TAG, 1, 0, meta.xmp, True))  # type 1: BYTE
    if extratags:
        opts["extratags"] = extratags
    if channels in (2, 4):
        opts["extrasamples"] = ["unassalpha"]
    data = pixels[..., 0] if channels == 1 else pixels
    photometric = "rgb" if channels >= 3 else "minisblack"
    tifffile.imwrite(tmp, data, photometric=photometric, metadata=None, **opts)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _write_png_rows(tmp: Path, pixels: np.ndarray, icc: bytes | None,
                    meta: _Metadata = _Metadata(), level: int = 6,
                    rows_per_block: int = 256) -> None:
    """An 8- or 16-bit PNG (gray, gray+alpha, RGB or RGBA) streamed through zlib a block of
    rows at a time, Sub-filtered, at zlib `level`, with the chunks Pillow writes for the same
    metadata (iCCP, pHYs, eXIf, iTXt XMP). Pillow (8-bit) first copies the whole image into its
    own 4-byte-per-pixel buffer: for a 16000x12000 output that copy, not the model, sets the
    peak memory; here only a block of rows is ever copied."""
    h, w, c = pixels.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    depth = 8 * pixels.dtype.itemsize
    bpp = pixels.dtype.itemsize * c
    comp = zlib.compressobj(level)
    with open(tmp, "wb") as f:
        f.write(formats.PNG_MAGIC)
        f.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)))
        if icc is not None:
            f.write(_png_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc)))
        for kind, data in _png_metadata_chunks(meta):
            f.write(_png_chunk(kind, data))
        for y in range(0, h, rows_per_block):
            block = pixels[y:y + rows_per_block]
            if depth == 16:
                block = block.astype(">u2")
            raw = np.ascontiguousarray(block).reshape(-1, w * c).view(np.uint8)
            rows = np.empty((raw.shape[0], 1 + raw.shape[1]), np.uint8)
            rows[:, 0] = 1  # filter type Sub: byte minus the same byte of the previous pixel
            rows[:, 1:1 + bpp] = raw[:, :bpp]
            np.subtract(raw[:, bpp:], raw[:, :-bpp], out=rows[:, 1 + bpp:])
            data = comp.compress(rows.data)
            if data:
                f.write(_png_chunk(b"IDAT", data))
        f.write(_png_chunk(b"IDAT", comp.flush()))
        f.write(_png_chunk(b"IEND", b""))


def _png_metadata_chunks(meta: _Metadata) -> list[tuple[bytes, bytes]]:
    """pHYs (DPI as pixels per metre), eXIf (EXIF without its ``Exif\\0\\0`` prefix) and an
    uncompressed iTXt XML:com.adobe.xmp chunk, as Pillow writes them."""
    chunks = []
    if meta.dpi is not None:
        ppm = (int(d / 0.0254 + 0.5) for d in meta.dpi)
        chunks.append((b"pHYs", struct.pack(">IIB", *ppm, 1)))
    if meta.exif is not None:
        chunks.append((b"eXIf", meta.exif.removeprefix(b"Exif\0\0")))
    if meta.xmp is not None:
        chunks.append((b"iTXt", formats.XMP_PNG_KEY.encode("latin-1") + b"\0\0\0\0\0" + meta.xmp))
    return chunks
