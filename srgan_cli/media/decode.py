"""The one image decoder: every image the project reads (upscale, eval, training, reports).

`read_image` refuses anything that is not a fully decodable PNG, JPEG, BMP, TIFF or WebP image of
at most `max_pixels` pixels (whatever the file is named), with an `InputImageError` naming the
file. Colour is always RGB (gray replicated, palette and CMYK converted) so the model sees three
channels; the `ImageData` it returns remembers what writing needs (`encode`): grayscale, alpha,
16-bit depth, the ICC profile and the metadata (EXIF with Orientation reset to 1, as the pixels
are turned upright here; XMP; DPI). Views: `ImageData.uint8` / `read_uint8` (uint8 RGB for
training; HxW for gray sources in eval); `peek_size` reads the header alone.

Pillow decodes 16-bit colour PNGs and TIFFs to 8 bits, so those are read at full depth here:
PNGs by running Pillow's own PNG decoder twice with rawmodes that keep the high and the low byte
of each sample; TIFFs with `tifffile`. Damaged data (files cut short, JPEG scans that end early,
see `jpegscan`) and animations or multi-page files are refused; ``allow_damaged`` accepts damaged
data with a note in `ImageData.warnings`.

Animations (GIF, APNG, animated WebP) are read by their own entry, `open_animation`: the header
first (canvas size and frame count, checked against `max_pixels` as frames x canvas before any
pixel is decoded), then `Animation.frames` decodes one frame at a time, each a full RGBA canvas.
`animation_format` tells animations from still images by their content, whatever the file's
name. `peek_size` reads the size of a still image, an animation or a video from its header.

Whatever a decoder raises on a damaged file becomes an `InputImageError`; metadata that cannot
be carried is dropped with a note in `ImageData.warnings`, never an error. Pillow's warnings
(corrupt EXIF, decompression bomb) are silenced here: what matters becomes a note or an error.
Names in messages go through `messages.show_path`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from srgan_cli.errors import InputImageError, SrganError
from srgan_cli.fileio import not_a_regular_file
from srgan_cli.media import formats as formats
from srgan_cli.media import jpegscan, metadata
from srgan_cli.media.image_data import ImageData
from srgan_cli.media.pixels import gray_to_rgb
from srgan_cli.messages import one_line, option, show_path

# Pillow's own default limit (1024**3 // 4 // 3 pixels), fixed here so that code elsewhere
# changing `Image.MAX_IMAGE_PIXELS` does not change ours.
DEFAULT_MAX_PIXELS: int = 1024 * 1024 * 1024 // 4 // 3
_RAISE_LIMIT = f"raise it with {option('max_pixels')} N (0 = no limit)"
_ANIMATION_PIL_FORMATS = tuple(formats.ANIMATION_WRITE_SUFFIX)  # GIF, PNG (APNG), WEBP
_PEEK_FORMATS = (*formats.PIL_FORMATS, "GIF")  # a still image or an animation's header


# --------------------------------------------------------------------------- reading


def read_image(
    path: str | Path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, allow_damaged: bool = False
) -> ImageData:
    """Fully decode one image (EXIF orientation applied); refuse it with InputImageError.

    `max_pixels=None` lifts the decompression-bomb limit; otherwise width*height is checked
    against it from the header, before any pixel is decoded. Damaged image data (a file cut
    short, a JPEG scan that ends early) is refused unless `allow_damaged`: then what decodes is
    kept, the rest filled, and a note put in `ImageData.warnings`. Animations and multi-page
    files are refused (never silently their first frame)."""
    p = Path(path)
    _check_input_file(p)
    try:
        return _decode_guarded(p, max_pixels, load_truncated=False)
    except _DamagedImageError as e:
        if not allow_damaged:
            raise
        reason = str(e)
    image = _decode_guarded(p, max_pixels, load_truncated=True)
    note = f"damaged image data accepted ({reason.removeprefix(show_path(p) + ': ')})"
    return dataclasses.replace(image, warnings=(*image.warnings, note))


def _decode_guarded(p: Path, max_pixels: int | None, *, load_truncated: bool) -> ImageData:
    """`_decode` with Pillow's globals set for this call and its errors made InputImageErrors;
    an error from the image data itself is marked ``damaged`` (``allow_damaged`` may retry)."""
    try:
        with _pillow_guard(max_pixels, load_truncated=load_truncated):
            return _decode(p, max_pixels, strict=not load_truncated)
    except SrganError:
        raise
    except FileNotFoundError as e:
        raise InputImageError(f"{show_path(p)}: no such file") from e
    except PermissionError as e:
        raise InputImageError(f"{show_path(p)}: permission denied") from e
    except MemoryError as e:
        raise InputImageError(f"{show_path(p)}: not enough memory to decode the image") from e
    except Exception as e:  # decoders raise anything on corrupt data
        raise _DamagedImageError(f"{show_path(p)}: cannot decode image ({one_line(e)})") from e


class _DamagedImageError(InputImageError):
    """The image data itself does not decode (cut short, corrupt): what ``allow_damaged``
    accepts when Pillow can fill the rest."""


def read_uint8(
    path: str | Path, *, keep_gray: bool = False, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """`read_image` viewed as uint8 pixels (training and eval): see `ImageData.uint8`."""
    return read_image(path, max_pixels=max_pixels).uint8(keep_gray=keep_gray)


def peek_size(path: str | Path) -> tuple[int, int] | None:
    """(height, width) from the header alone: of a still image (EXIF orientation applied), of an
    animation's canvas (GIF included) or of a video's frames (`video.frame_size`); None when the
    header does not read as one of those (decoding it then fails with the full reason)."""
    if not_a_regular_file(path) is not None:  # a FIFO would block the open
        return None
    if Path(path).suffix.lower() in formats.VIDEO_SUFFIXES:
        from srgan_cli.media.video import frame_size  # av: only when a video is asked about

        return frame_size(path)
    try:
        with _quiet_pillow(), Image.open(path, formats=_PEEK_FORMATS) as im:
            w, h = im.size
            if im.format in ("PNG", "GIF") and "exif" not in im.info:
                # Pillow would decode all the pixels to look for an eXIf chunk after them
                orientation = 1
            else:
                orientation = im.getexif().get(0x0112, 1)
    except Exception:
        return None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def animation_format(path: str | Path) -> str | None:
    """"GIF", "PNG" (APNG) or "WEBP" when the file at `path` is an animation of more than one
    frame, from its content whatever its name; None for anything else (a still image, another
    format, a file that does not open, anything but a regular file)."""
    p = Path(path)
    if not_a_regular_file(p) is not None:  # before the open: a FIFO would block it
        return None
    try:
        if not _animation_magic(_read_head(p, 16)):
            return None  # most files: no Pillow, no lock
        # no Pillow size limit for the header: a bomb is still an animation, refused by ours
        with _pillow_guard(None), Image.open(p, formats=_ANIMATION_PIL_FORMATS) as im:
            return im.format if getattr(im, "is_animated", False) else None
    except Exception:
        return None


def _animation_magic(head: bytes) -> bool:
    """Whether a file's first bytes are those of a GIF, PNG (APNG) or WebP."""
    return head.startswith((b"GIF87a", b"GIF89a", formats.PNG_MAGIC)) or (
        head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def is_animated(path: str | Path) -> bool:
    """Whether `path` is a GIF, APNG or WebP of more than one frame (`animation_format`)."""
    return animation_format(path) is not None


@dataclass(frozen=True)
class Animation:
    """An animated GIF, APNG or WebP as its header says (`open_animation`); `frames` decodes."""

    path: Path
    format: str  # "GIF", "PNG" or "WEBP"
    width: int
    height: int
    frame_count: int
    loop: int | None  # 0 = forever, None = play once (GIF without a loop extension)

    def frames(self) -> Iterator[tuple[np.ndarray, int]]:
        """Each frame as a full HxWx4 uint8 RGBA canvas (Pillow applies the format's disposal
        and blending when it seeks) with its duration in milliseconds, decoded one at a time.
        InputImageError for a frame that does not decode."""
        p = self.path
        try:
            with _pillow_guard(None):
                im = Image.open(p, formats=[self.format])
        except Exception as e:
            raise InputImageError(f"{show_path(p)}: unreadable animation ({one_line(e)})") from e
        with im:
            for i in range(self.frame_count):
                try:
                    with _pillow_guard(self.width * self.height):
                        im.seek(i)
                        rgba = np.asarray(im.convert("RGBA"))
                        duration = int(im.info.get("duration", 100))
                except MemoryError as e:
                    raise InputImageError(f"{show_path(p)}: not enough memory to decode frame "
                                          f"{i + 1}") from e
                except Exception as e:
                    raise InputImageError(
                        f"{show_path(p)}: damaged animation: frame {i + 1} of "
                        f"{self.frame_count} does not decode ({one_line(e)})") from e
                yield rgba, duration


def open_animation(
    path: str | Path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Animation:
    """The header of the animated GIF, APNG or WebP at `path` (whatever its name), nothing
    decoded yet. InputImageError for anything else, a header that does not read, or an
    animation whose frames hold more than `max_pixels` pixels in all (frames x canvas: the
    decoder's work), checked before any frame is decoded; None lifts the limit."""
    p = Path(path)
    _check_input_file(p)
    try:
        with _pillow_guard(None), Image.open(p, formats=_ANIMATION_PIL_FORMATS) as im:
            fmt, (w, h) = im.format or "", im.size
            count = int(getattr(im, "n_frames", 1))
            loop = im.info.get("loop")
    except UnidentifiedImageError:
        if _animation_magic(_read_head(p, 16)):
            raise InputImageError(f"{show_path(p)}: unreadable animation (damaged header)") \
                from None
        raise InputImageError(f"{show_path(p)}: not a GIF, APNG or WebP animation") from None
    except Exception as e:
        raise InputImageError(f"{show_path(p)}: unreadable animation ({one_line(e)})") from e
    _check_size(p, w, h, max_pixels)
    if max_pixels is not None and w * h * count > max_pixels:
        raise InputImageError(
            f"{show_path(p)}: animation is {count} frames of {w}x{h} = {w * h * count} "
            f"pixels, over the limit of {max_pixels} (possible decompression bomb); "
            f"{_RAISE_LIMIT}")
    return Animation(p, fmt, w, h, count, None if loop is None else int(loop))


def _check_input_file(p: Path) -> None:
    """Clear messages for the commonest ways a path is not a readable file."""
    problem = not_a_regular_file(p)  # before any open: a FIFO would block it
    if problem is not None:
        extra = ", expected an image file" if problem == "is a directory" else ""
        raise InputImageError(f"{show_path(p)}: {problem}{extra}")
    try:
        if p.stat().st_size == 0:
            raise InputImageError(f"{show_path(p)}: empty file (0 bytes), not an image")
    except OSError as e:  # e.g. a parent folder without search permission
        raise InputImageError(f"{show_path(p)}: cannot access ({one_line(e)})") from e
    if not os.access(p, os.R_OK):
        raise InputImageError(f"{show_path(p)}: permission denied")


class _SharedLock:
    """Many holders of the shared side or one of the exclusive side (Pillow's globals)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._shared == 0)
            yield


_PIL_GLOBALS = _SharedLock()


@contextlib.contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Pillow's warnings silenced: decompression-bomb warnings (our own limit is checked) and
    UserWarnings such as "Corrupt EXIF data" (what matters becomes a note or an error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


@contextlib.contextmanager
def _pillow_guard(max_pixels: int | None, *, load_truncated: bool = False) -> Iterator[None]:
    """Make Pillow refuse (or, with `load_truncated`, fill) truncated files and not refuse
    images `max_pixels` allows.

    Pillow's limits are process globals: decodes that agree with them run side by side; one
    that needs them changed waits for those, changes them, decodes alone and restores them.
    Our own size check runs before decoding regardless."""
    with _quiet_pillow():
        with _PIL_GLOBALS.shared():
            current = Image.MAX_IMAGE_PIXELS
            too_strict = current is not None and (max_pixels is None or 2 * current < max_pixels)
            if not too_strict and ImageFile.LOAD_TRUNCATED_IMAGES == load_truncated:
                yield
                return
        with _PIL_GLOBALS.exclusive():
            saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
            if too_strict:
                Image.MAX_IMAGE_PIXELS = max_pixels
            ImageFile.LOAD_TRUNCATED_IMAGES = load_truncated
            try:
                yield
            finally:
                Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _check_size(p: Path, width: int, height: int, max_pixels: int | None) -> None:
    if width <= 0 or height <= 0:
        raise InputImageError(f"{show_path(p)}: image has zero size ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise InputImageError(
            f"{show_path(p)}: image is {width}x{height} = {width * height} pixels, over the "
            f"limit of {max_pixels} (possible decompression bomb); {_RAISE_LIMIT}")


def _decode(p: Path, max_pixels: int | None, *, strict: bool = True) -> ImageData:
    Image.init()  # register every plugin: `formats=` raises KeyError for one not yet loaded (MPO)
    try:
        im = Image.open(p, formats=formats.PIL_FORMATS)
    except Image.DecompressionBombError as e:  # over twice Pillow's own limit, at open
        raise _too_large(p, e, max_pixels) from None
    except UnidentifiedImageError:
        head = _read_head(p)
        if head[:4] in formats.TIFF_MAGIC:  # e.g. 16-bit gray+alpha, which Pillow cannot open
            return _read_tiff16(p, max_pixels, None)
        size = _header_size(head)
        if size is not None:
            _check_size(p, *size, max_pixels)
        _check_gif(p, head)
        raise InputImageError(f"{show_path(p)}: {_unrecognised(head)}") from None
    with im:
        _check_size(p, im.width, im.height, max_pixels)
        _check_single_frame(p, im.format or "", getattr(im, "n_frames", 1))
        if im.format == "TIFF" and im.mode in ("RGB", "RGBA") and _tiff_bits(im) > 8:
            return _read_tiff16(p, max_pixels, im.getexif().get(metadata.ORIENTATION))
        png16 = _png16_rawmodes(im)
        im.load()  # full decode: truncated or corrupt data raises here
        if strict and im.format in ("JPEG", "MPO") and _gray_filled_corner(im) \
                and jpegscan.scan_is_short(_read_head(p, n=-1)):
            raise _DamagedImageError(
                f"{show_path(p)}: cannot decode image (JPEG scan data ends early: the frame "
                f"is {im.width}x{im.height} but the data does not cover it)")
        icc = im.info.get("icc_profile") or None
        orientation = _orientation(im)
        meta = _pillow_metadata(im)
        if png16 is not None:
            color, alpha, mode = _png16_pixels(p, im, *png16)
            gray = png16[1] == 2
        else:
            color, alpha, gray, icc, mode = _pillow_pixels(p, im, icc)
    color = _orient(color, orientation)
    alpha = None if alpha is None else _orient(alpha, orientation)
    return ImageData(color=color, alpha=alpha, gray=gray, bit_depth=8 * color.dtype.itemsize,
                     icc_profile=icc, source_mode=mode, **meta)


def _orientation(im: Image.Image) -> int | None:
    """The EXIF Orientation of an open image; None when it has none or its EXIF does not parse
    (`_pillow_metadata` notes that)."""
    try:
        value = im.getexif().get(metadata.ORIENTATION)
    except Exception:
        return None
    return value if isinstance(value, int) else None


def _pillow_metadata(im: Image.Image) -> dict[str, Any]:
    """ImageData's metadata fields (and warnings) from an open, loaded Pillow image; metadata
    that does not parse is left out with a note in ``warnings``."""
    xmp = metadata.xmp_bytes(im.info.get("xmp"))
    try:
        exif = im.getexif()
    except Exception as e:
        return {"xmp": xmp, "dpi": metadata.clean_dpi(im.info.get("dpi")),
                "warnings": (f"EXIF not carried: cannot parse it ({one_line(e)})",)}
    if im.format in ("TIFF", "WEBP"):  # the TIFF's own tags; WebP has DPI only in its EXIF
        dpi = metadata.dpi_from_tags(exif)
    else:
        dpi = metadata.clean_dpi(im.info.get("dpi"))
    unreadable = len(im.info.get("exif") or b"") > 6 and not len(exif)
    carried = _carried_exif(exif)
    if unreadable:
        # Pillow skips what it cannot parse, with a warning we silence: say so in the record
        carried["warnings"] = ("EXIF not carried: cannot parse it (no readable tag)",)
    return {"xmp": xmp, "dpi": dpi, **carried}


def _carried_exif(exif: Image.Exif) -> dict[str, Any]:
    """``exif`` (and, when it is malformed, a note in ``warnings`` instead)."""
    try:
        return {"exif": metadata.source_exif(exif)}
    except Exception as e:  # Pillow's EXIF parser raises anything on bad data
        return {"exif": None, "warnings": (f"EXIF not carried: cannot parse it ({one_line(e)})",)}


_FRAME_KINDS = {"PNG": "animated PNG", "WEBP": "animated WebP", "TIFF": "multi-page TIFF",
                "GIF": "animated GIF"}


def _gray_filled_corner(im: Image.Image) -> bool:
    """Whether the last pixel is the exact mid-gray libjpeg fills missing blocks with: the
    cheap test before `jpegscan` counts the blocks (a scan that ends early misses the last)."""
    if im.mode not in ("RGB", "L"):
        return False
    corner = im.getpixel((im.width - 1, im.height - 1))
    return corner in (128, (128, 128, 128))


def _check_single_frame(p: Path, fmt: str, frames: int) -> None:
    """Refuse animations and multi-page files: never upscale or score just the first frame.

    MPO (a camera JPEG with previews or a stereo pair in extra frames) is read as its main
    image, as every viewer shows it."""
    if frames > 1 and fmt != "MPO":
        raise InputImageError(
            f"{show_path(p)}: {_FRAME_KINDS.get(fmt, fmt)} with {frames} "
            f"{'pages' if fmt == 'TIFF' else 'frames'}: only single images are supported; "
            "extract the one you want first")


def _check_gif(p: Path, head: bytes) -> None:
    """An animated GIF gets the frame message (GIF itself is not a supported format)."""
    if not head.startswith((b"GIF87a", b"GIF89a")):
        return
    try:
        with Image.open(p, formats=["GIF"]) as im:
            frames = getattr(im, "n_frames", 1)
    except Exception:  # only a better message is at stake
        return
    _check_single_frame(p, "GIF", frames)


def _pillow_pixels(
    p: Path, im: Image.Image, icc: bytes | None
) -> tuple[np.ndarray, np.ndarray | None, bool, bytes | None, str]:
    """Pixels of a decoded Pillow image as (RGB color, alpha, gray, icc, source mode)."""
    mode = im.mode
    trns = im.info.get("transparency")
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        g = np.asarray(im)
        if mode == "I" and g.size and (g.min() < 0 or g.max() > 65535):
            raise InputImageError(
                f"{show_path(p)}: {_integer_kind(im)} image with values outside 0..65535 is not "
                "supported")
        g = g.astype(np.uint16)
        alpha = None
        if isinstance(trns, int):
            alpha = np.where(g == trns, 0, 65535).astype(np.uint16)
        return gray_to_rgb(g), alpha, True, icc, mode
    if mode == "F":
        raise InputImageError(f"{show_path(p)}: floating-point images are not supported")
    if mode == "CMYK":
        return np.asarray(_cmyk_to_rgb(im, icc)), None, False, None, mode
    if mode in ("1", "L", "LA", "La"):
        has_alpha = mode in ("LA", "La") or trns is not None
        a = np.asarray(im.convert("LA" if has_alpha else "L"))
        if has_alpha:
            return gray_to_rgb(a[..., 0]), np.ascontiguousarray(a[..., 1]), True, icc, mode
        return gray_to_rgb(a), None, True, icc, mode
    has_alpha = "A" in mode or "a" in mode or trns is not None
    try:
        rgb = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    except ValueError as e:
        raise InputImageError(f"{show_path(p)}: unsupported image mode {mode}") from e
    if has_alpha:
        return np.ascontiguousarray(rgb[..., :3]), np.ascontiguousarray(rgb[..., 3]), False, \
            icc, mode
    return rgb, None, False, icc, mode


def from_pillow(im: Image.Image) -> ImageData:
    """An in-memory Pillow image as ImageData, converted as `read_image` converts a decoded file
    (modes, 16-bit gray, alpha and transparency, EXIF orientation applied, ICC, EXIF, XMP,
    DPI); for the Python API. InputImageError for modes it cannot hold (float, 32-bit)."""
    orientation = _orientation(im)
    color, alpha, gray, icc, mode = _pillow_pixels(
        Path("<image>"), im, im.info.get("icc_profile") or None)
    color = _orient(color, orientation)
    alpha = None if alpha is None else _orient(alpha, orientation)
    return ImageData(color=color, alpha=alpha, gray=gray, bit_depth=8 * color.dtype.itemsize,
                     icc_profile=icc, source_mode=mode, **_pillow_metadata(im))


def _integer_kind(im: Image.Image) -> str:
    """What Pillow's 32-bit "I" mode holds, for messages: "16-bit signed integer" for a TIFF of
    int16 samples (its BitsPerSample and SampleFormat tags), else "32-bit integer"."""
    tags = getattr(im, "tag_v2", None) or {}
    bits, sample_format = tags.get(258, (32,)), tags.get(339, (1,))
    bits = bits[0] if isinstance(bits, tuple) and bits else bits
    sample_format = sample_format[0] if isinstance(sample_format, tuple) and sample_format \
        else sample_format
    return f"{bits}-bit {'signed ' if sample_format == 2 else ''}integer"


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """CMYK -> sRGB through the embedded CMYK profile if any, else Pillow's naive formula."""
    if icc and formats.icc_space(icc) == "CMYK":
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"),
                                            outputMode="RGB")
            if out is not None:
                return out
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    return im.convert("RGB")


def _png16_rawmodes(im: ImageFile.ImageFile) -> tuple[str, int] | None:
    """For a 16-bit colour or gray+alpha PNG: (rawmode giving the low bytes, channels)."""
    if im.format != "PNG" or len(im.tile) != 1:
        return None
    raw = im.tile[0].args
    if raw == "LA;16B":
        return "RGBA", 2  # one 8-bit RGBA pixel = the 4 bytes of one 16-bit LA pixel
    return formats.PNG_16BIT_RAWMODES.get(raw)  # type: ignore[arg-type]


# Kept: imageio (with scikit-image) reads a 16-bit RGB PNG as uint8 (measured); no codec
# that keeps 16 bits (OpenCV, pypng) is a dependency, so Pillow's decoder is run twice.
def _png16_pixels(
    p: Path, hi_im: Image.Image, low_rawmode: str, channels: int
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Re-decode a 16-bit PNG with Pillow's decoder, keeping every byte.

    Pillow unpacks "RGB;16B" keeping each sample's high byte; "RGB;16L" consumes the same 48
    bits per pixel (so PNG unfiltering is identical) but keeps the other byte. Gray+alpha is
    read raw as 8-bit RGBA = (L high, L low, A high, A low)."""
    with Image.open(p, formats=["PNG"]) as lo_im:
        lo_im.tile = [t._replace(args=low_rawmode) for t in lo_im.tile]
        lo_im.load()
        lo = np.asarray(lo_im).astype(np.uint16)
    if channels == 2:
        g = (lo[..., 0] << 8) | lo[..., 1]
        return gray_to_rgb(g), (lo[..., 2] << 8) | lo[..., 3], "LA;16"
    full = (np.asarray(hi_im).astype(np.uint16) << 8) | lo
    if channels == 4:
        return np.ascontiguousarray(full[..., :3]), np.ascontiguousarray(full[..., 3]), "RGBA;16"
    trns = hi_im.info.get("transparency")
    alpha = None
    if isinstance(trns, tuple) and len(trns) == 3:
        alpha = np.where(np.all(full == np.array(trns, np.uint16), axis=2), 0, 65535)
        alpha = alpha.astype(np.uint16)
    return full, alpha, "RGB;16"


def _tiff_bits(im: Image.Image) -> int:
    bits = getattr(im, "tag_v2", {}).get(258, (8,))
    return max(bits) if isinstance(bits, tuple) and bits else int(bits)


def _read_tiff16(p: Path, max_pixels: int | None, orientation: int | None) -> ImageData:
    """16-bit colour or gray+alpha TIFF via tifffile (first page)."""
    try:
        import tifffile
    except ImportError as e:
        raise InputImageError(
            f"{show_path(p)}: reading 16-bit TIFF needs the 'tifffile' package") from e
    with tifffile.TiffFile(p) as tf:
        _check_single_frame(p, "TIFF", len(tf.pages))
        page = tf.pages.first
        _check_size(p, int(page.imagewidth), int(page.imagelength), max_pixels)
        photometric = int(page.photometric)
        if page.dtype != np.uint16 or photometric not in (0, 1, 2):
            raise InputImageError(
                f"{show_path(p)}: unsupported TIFF layout ({page.dtype} samples, photometric "
                f"{getattr(page.photometric, 'name', photometric)}); expected 8- or 16-bit gray "
                "or RGB")
        axes = page.axes
        arr = page.asarray()
        if orientation is None and 274 in page.tags:
            orientation = int(page.tags[274].value)
        icc_tag = page.tags.get(34675)
        icc = bytes(icc_tag.value) if icc_tag is not None and icc_tag.value else None
        extra = tuple(int(v) for v in np.atleast_1d(page.extrasamples))
    meta = _tiff_metadata(p)
    if axes not in ("YX", "YXS", "SYX"):
        raise InputImageError(f"{show_path(p)}: unsupported TIFF layout (axes {axes})")
    if axes == "YX":
        arr = arr[..., None]
    elif axes == "SYX":
        arr = np.moveaxis(arr, 0, -1)
    n_color = 3 if photometric == 2 else 1
    if arr.shape[2] < n_color:
        raise InputImageError(
            f"{show_path(p)}: TIFF has {arr.shape[2]} samples, expected {n_color}")
    color = arr[..., :n_color]
    if photometric == 0:  # min-is-white
        color = 65535 - color
    # Pillow's rule for 8 bits, kept for 16: the first extra sample is alpha unless the file
    # declares it unspecified data (ExtraSamples 0), which is dropped
    has_alpha = arr.shape[2] > n_color and extra[:1] != (0,)
    alpha = np.ascontiguousarray(arr[..., n_color]) if has_alpha else None
    if alpha is not None and extra[:1] == (1,):  # associated (premultiplied) alpha
        a = alpha.astype(np.float64)[..., None]
        color = np.where(a > 0, np.floor(color * 65535.0 / np.maximum(a, 1) + 0.5), 0)
        color = np.clip(color, 0, 65535).astype(np.uint16)
    gray = n_color == 1
    color = gray_to_rgb(color[..., 0]) if gray else np.ascontiguousarray(color)
    mode = ("LA;16" if alpha is not None else "I;16") if gray else (
        "RGBA;16" if alpha is not None else "RGB;16")
    color = _orient(color, orientation)
    alpha = None if alpha is None else _orient(alpha, orientation)
    return ImageData(color=color, alpha=alpha, gray=gray, bit_depth=16, icc_profile=icc,
                     source_mode=mode, **meta)


def _tiff_metadata(p: Path) -> dict[str, Any]:
    """ImageData's metadata fields from a TIFF's first directory, read with Pillow's tag
    parser (which reads tags of files whose pixels it cannot decode)."""
    with open(p, "rb") as f:
        exif = Image.Exif()
        try:
            exif.load_from_fp(f)
            xmp = metadata.xmp_bytes(exif.get(formats.TIFF_XMP_TAG))
            dpi = metadata.dpi_from_tags(exif)
        except Exception as e:  # the pixels decoded; only metadata is lost
            return {"warnings": (f"TIFF metadata not carried: cannot parse it ({one_line(e)})",)}
        return {"xmp": xmp, "dpi": dpi, **_carried_exif(exif)}


def _read_head(p: Path, n: int = 4096) -> bytes:
    with open(p, "rb") as f:
        return f.read(n)


def _header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, BMP or JPEG header Pillow refused (to spot zero sizes)."""
    if head.startswith(formats.PNG_MAGIC) and head[12:16] == b"IHDR" and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if head[:2] == b"BM" and len(head) >= 26:
        w, h = struct.unpack("<ii", head[18:26])
        return w, abs(h)
    frame = _jpeg_frame(head)
    return None if frame is None else frame[:2]


def _jpeg_frame(head: bytes) -> tuple[int, int, int] | None:
    """(width, height, bits per sample) from the frame header (SOFn) of a JPEG's first bytes."""
    if head[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(head) and head[i] == 0xFF:
        marker = head[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", head[i + 5:i + 9])
            return w, h, head[i + 4]
        i += 2 + struct.unpack(">H", head[i + 2:i + 4])[0]
    return None


def _unrecognised(head: bytes) -> str:
    """Why a file Pillow did not open is refused, from its first bytes: what is wrong with a
    PNG or JPEG header, else that the file is none of the formats read."""
    if head.startswith(formats.PNG_MAGIC):
        if len(head) < 33 or head[12:16] != b"IHDR":
            return "damaged PNG (no IHDR chunk after the signature)"
        if zlib.crc32(head[12:29]) != struct.unpack(">I", head[29:33])[0]:
            return "damaged PNG (bad IHDR checksum)"
        w, h, depth, color = struct.unpack(">IIBB", head[16:26])
        return (f"damaged or unsupported PNG (IHDR: {w}x{h}, bit depth {depth}, colour type "
                f"{color})")
    frame = _jpeg_frame(head)
    if frame is not None and frame[2] != 8:
        return f"{frame[2]}-bit JPEG is not supported (8 bits per sample only)"
    return "not a PNG, JPEG, BMP, TIFF or WebP image"


def _too_large(p: Path, e: Image.DecompressionBombError, max_pixels: int | None
               ) -> InputImageError:
    """Our over-the-limit message for an image Pillow refused at open (its own limit is twice
    ours): the size from the header where it reads, else the pixel count Pillow states."""
    size = _header_size(_read_head(p))
    if size is not None:
        try:
            _check_size(p, *size, max_pixels)
        except InputImageError as ours:
            return ours
    stated = re.search(r"\((\d+) pixels\)", str(e))
    if max_pixels is None or stated is None:
        return InputImageError(f"{show_path(p)}: image too large ({one_line(e)})")
    return InputImageError(
        f"{show_path(p)}: image is {stated.group(1)} pixels, over the limit of {max_pixels} "
        f"(possible decompression bomb); {_RAISE_LIMIT}")


# Not ImageOps.exif_transpose: it takes a PIL Image, and 16-bit RGB(A) has no Pillow mode.
def _orient(a: np.ndarray, orientation: Any) -> np.ndarray:
    """Apply an EXIF orientation (1..8) the way `ImageOps.exif_transpose` does."""
    ops = {
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: x.swapaxes(0, 1),
        6: lambda x: np.rot90(x, -1),
        7: lambda x: x[::-1, ::-1].swapaxes(0, 1),
        8: lambda x: np.rot90(x, 1),
    }
    op = ops.get(orientation) if isinstance(orientation, int) else None
    return a if op is None else np.ascontiguousarray(op(a))

__all__ = [
    "DEFAULT_MAX_PIXELS", "Animation", "ImageData", "animation_format", "from_pillow",
    "is_animated", "open_animation", "peek_size", "read_image", "read_uint8",
]
