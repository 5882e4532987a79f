"""Image I/O: every mode and format round trip, EXIF, ICC, atomic writes, refusals, uint8 views."""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from helpers import random_pixels
from PIL import Image, ImageCms, ImageFile, ImageOps

from srgan_cli.errors import InputImageError, OutputError, UsageError
from srgan_cli.fileio import atomic_write
from srgan_cli.media import decode, encode, formats
from srgan_cli.media.decode import (
    DEFAULT_MAX_PIXELS,
    ImageData,
    peek_size,
    read_image,
    read_uint8,
)
from srgan_cli.media.encode import check_output_path, write_image
from srgan_cli.media.formats import READ_EXTENSIONS, WRITE_EXTENSIONS

H, W = 5, 7  # non-square, so a transposed read shows up as a wrong shape
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png16(path: Path, arr: np.ndarray, *, interlace: bool = False,
           trns: tuple[int, ...] | None = None) -> Path:
    """A reference 16-bit PNG writer (filter None, optional Adam7), independent of decode.py."""
    a = arr[..., None] if arr.ndim == 2 else arr
    h, w, c = a.shape
    passes = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2),
              (1, 0, 2, 1)] if interlace else [(0, 0, 1, 1)]
    data = b""
    for y0, x0, dy, dx in passes:
        sub = a[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub.astype(">u2"):
            data += b"\0" + row.tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, int(interlace))
    body = _chunk(b"IHDR", ihdr)
    if trns is not None:
        body += _chunk(b"tRNS", struct.pack(">" + "H" * len(trns), *trns))
    body += _chunk(b"IDAT", zlib.compress(data)) + _chunk(b"IEND", b"")
    path.write_bytes(formats.PNG_MAGIC + body)
    return path


def _save(arr: np.ndarray, path: Path, mode: str | None = None, **kw) -> Path:
    im = Image.fromarray(arr)
    if mode is not None:
        im = im.convert(mode)
    im.save(path, **kw)
    return path


def _no_temp_files(folder: Path) -> bool:
    return not [f for f in os.listdir(folder) if f.endswith(".part")]


# --------------------------------------------------------------------------- constants


def test_constants() -> None:
    assert DEFAULT_MAX_PIXELS == 89478485  # Pillow's default Image.MAX_IMAGE_PIXELS
    assert {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"} == READ_EXTENSIONS
    assert WRITE_EXTENSIONS == READ_EXTENSIONS


# --------------------------------------------------------------------------- 8-bit modes

LOSSLESS = [".png", ".tif", ".bmp", ".webp"]


@pytest.mark.parametrize("ext", LOSSLESS)
def test_rgb_round_trip(tmp_path: Path, ext: str) -> None:
    rgb = random_pixels((H, W, 3))
    src = _save(rgb, tmp_path / f"in{ext}", lossless=True) if ext == ".webp" else \
        _save(rgb, tmp_path / f"in{ext}")
    img = read_image(src)
    assert img.color.dtype == np.uint8 and img.bit_depth == 8 and not img.gray
    assert img.alpha is None and img.source_mode == "RGB" and img.size == (W, H)
    np.testing.assert_array_equal(img.color, rgb)
    out = tmp_path / f"out{ext}"
    write_image(out, img, quality=100)
    with Image.open(out) as back:
        assert back.mode == "RGB"
    np.testing.assert_array_equal(read_image(out).color, rgb)


@pytest.mark.parametrize("ext", [".png", ".tif", ".webp"])
def test_rgba_round_trip(tmp_path: Path, ext: str) -> None:
    rgba = random_pixels((H, W, 4))
    rgba[0, 0, 3] = 0
    kw: dict[str, Any] = {"lossless": True, "exact": True} if ext == ".webp" else {}
    img = read_image(_save(rgba, tmp_path / f"in{ext}", **kw))
    assert img.source_mode == "RGBA" and img.alpha is not None
    np.testing.assert_array_equal(img.color, rgba[..., :3])
    np.testing.assert_array_equal(img.alpha, rgba[..., 3])
    out = tmp_path / f"out{ext}"
    write_image(out, img, quality=100)
    back = read_image(out)
    np.testing.assert_array_equal(back.color, rgba[..., :3])
    np.testing.assert_array_equal(back.alpha, rgba[..., 3])


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp"])
def test_gray_round_trip(tmp_path: Path, ext: str) -> None:
    g = random_pixels((H, W))
    img = read_image(_save(g, tmp_path / f"in{ext}"))
    assert img.gray and img.source_mode == "L" and img.alpha is None
    np.testing.assert_array_equal(img.color, np.repeat(g[..., None], 3, axis=2))
    out = tmp_path / f"out{ext}"
    write_image(out, img)
    with Image.open(out) as back:
        assert back.mode == "L"
        np.testing.assert_array_equal(np.asarray(back), g)


def test_gray_jpeg_stays_gray(tmp_path: Path) -> None:
    g = np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1))
    img = read_image(_save(g, tmp_path / "in.jpg", quality=100))
    assert img.gray and img.source_mode == "L"
    write_image(tmp_path / "out.jpg", img, quality=100)
    with Image.open(tmp_path / "out.jpg") as back:
        assert back.mode == "L"
        assert np.abs(np.asarray(back).astype(int) - g).max() <= 3


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_gray_alpha_round_trip(tmp_path: Path, ext: str) -> None:
    la = random_pixels((H, W, 2))
    img = read_image(_save(la, tmp_path / f"in{ext}"))
    assert img.gray and img.source_mode == "LA"
    np.testing.assert_array_equal(img.color[..., 1], la[..., 0])
    np.testing.assert_array_equal(img.alpha, la[..., 1])
    out = tmp_path / f"out{ext}"
    write_image(out, img)
    with Image.open(out) as back:
        assert back.mode == "LA"
        np.testing.assert_array_equal(np.asarray(back), la)


def test_gray_written_as_luma_of_model_colour(tmp_path: Path) -> None:
    rgb = random_pixels((H, W, 3), seed=3)
    img = ImageData(color=rgb, alpha=None, gray=True, bit_depth=8, icc_profile=None,
                    source_mode="L")
    write_image(tmp_path / "g.png", img)
    with Image.open(tmp_path / "g.png") as back:
        got = np.asarray(back).astype(int)
    pillow_l = np.asarray(Image.fromarray(rgb).convert("L")).astype(int)
    assert np.abs(got - pillow_l).max() <= 1


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp"])
def test_one_bit(tmp_path: Path, ext: str) -> None:
    bits = random_pixels((H, W)) > 127
    src = tmp_path / f"in{ext}"
    Image.fromarray(bits).save(src)
    with Image.open(src) as im:
        assert im.mode == "1"
    img = read_image(src)
    assert img.gray and img.source_mode == "1" and img.bit_depth == 8
    np.testing.assert_array_equal(img.color[..., 0], bits.astype(np.uint8) * 255)
    write_image(tmp_path / f"out{ext}", img)
    with Image.open(tmp_path / f"out{ext}") as back:
        assert back.mode == "L"
        np.testing.assert_array_equal(np.asarray(back), bits.astype(np.uint8) * 255)


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif"])
def test_palette_without_transparency(tmp_path: Path, ext: str) -> None:
    src = _save(random_pixels((H, W, 3)), tmp_path / f"in{ext}", mode="P")
    with Image.open(src) as im:
        assert im.mode == "P"
        expected = np.asarray(im.convert("RGB"))
    img = read_image(src)
    assert img.source_mode == "P" and img.alpha is None and not img.gray
    np.testing.assert_array_equal(img.color, expected)


def test_palette_with_transparency(tmp_path: Path) -> None:
    pal = Image.fromarray(random_pixels((H, W, 3))).convert("P")
    idx = np.asarray(pal)
    src = tmp_path / "in.png"
    pal.save(src, transparency=int(idx[0, 0]))
    img = read_image(src)
    assert img.source_mode == "P" and img.alpha is not None
    np.testing.assert_array_equal(img.alpha, np.where(idx == idx[0, 0], 0, 255))
    write_image(tmp_path / "out.png", img)
    with Image.open(tmp_path / "out.png") as back:
        assert back.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(back)[..., 3], img.alpha)


def test_single_colour_transparency_rgb_and_gray(tmp_path: Path) -> None:
    rgb = random_pixels((H, W, 3))
    rgb[1, 2] = (1, 2, 3)
    _save(rgb, tmp_path / "rgb.png", transparency=(1, 2, 3))
    img = read_image(tmp_path / "rgb.png")
    assert img.alpha is not None and img.alpha[1, 2] == 0 and (img.alpha == 0).sum() == 1
    g = np.full((H, W), 7, np.uint8)
    g[0, 0] = 9
    img = read_image(_save(g, tmp_path / "g.png", transparency=7))
    assert img.gray and img.alpha is not None
    np.testing.assert_array_equal(img.alpha, np.where(g == 7, 0, 255))


@pytest.mark.parametrize("ext", [".jpg", ".tif"])
def test_cmyk_to_rgb(tmp_path: Path, ext: str) -> None:
    cmyk = Image.fromarray(random_pixels((8, 8, 3))).convert("CMYK")
    src = tmp_path / f"in{ext}"
    cmyk.save(src, quality=100) if ext == ".jpg" else cmyk.save(src)
    with Image.open(src) as im:
        assert im.mode == "CMYK"
        expected = np.asarray(im.convert("RGB"))
    img = read_image(src)
    assert img.source_mode == "CMYK" and not img.gray and img.icc_profile is None
    np.testing.assert_array_equal(img.color, expected)
    write_image(tmp_path / "out.png", img)
    with Image.open(tmp_path / "out.png") as back:
        assert back.mode == "RGB"


def test_cmyk_with_a_non_cmyk_profile_drops_it(tmp_path: Path) -> None:
    src = tmp_path / "in.tif"
    Image.fromarray(random_pixels((4, 4, 3))).convert("CMYK").save(src, icc_profile=SRGB)
    img = read_image(src)
    assert img.icc_profile is None and img.color.shape == (4, 4, 3)


# --------------------------------------------------------------------------- 16 bit


def test_gray16_png_round_trip(tmp_path: Path) -> None:
    g = random_pixels((H, W), np.uint16)
    src = tmp_path / "in.png"
    Image.fromarray(g).save(src)
    img = read_image(src)
    assert img.gray and img.bit_depth == 16 and img.color.dtype == np.uint16
    assert img.source_mode.startswith("I")
    np.testing.assert_array_equal(img.color[..., 2], g)
    for ext in (".png", ".tif"):
        out = tmp_path / f"out{ext}"
        write_image(out, img)
        with Image.open(out) as back:
            assert back.mode == "I;16"
            np.testing.assert_array_equal(np.asarray(back), g)
        back16 = read_image(out)
        assert back16.gray and back16.bit_depth == 16
        np.testing.assert_array_equal(back16.color, img.color)


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("channels", [3, 4, 2])
def test_png16_colour_read_bit_exact(tmp_path: Path, channels: int, interlace: bool) -> None:
    a = random_pixels((11, 9, channels), np.uint16, seed=channels)
    img = read_image(_png16(tmp_path / "in.png", a, interlace=interlace))
    assert img.bit_depth == 16 and img.color.dtype == np.uint16
    if channels == 2:
        assert img.gray and img.source_mode == "LA;16"
        np.testing.assert_array_equal(img.color[..., 0], a[..., 0])
        np.testing.assert_array_equal(img.alpha, a[..., 1])
    else:
        assert not img.gray and img.source_mode == ("RGB;16" if channels == 3 else "RGBA;16")
        np.testing.assert_array_equal(img.color, a[..., :3])
        if channels == 4:
            np.testing.assert_array_equal(img.alpha, a[..., 3])
        else:
            assert img.alpha is None


def test_png16_rgb_with_trns(tmp_path: Path) -> None:
    a = random_pixels((H, W, 3), np.uint16)
    a[2, 3] = (1000, 2000, 3000)
    img = read_image(_png16(tmp_path / "in.png", a, trns=(1000, 2000, 3000)))
    assert img.alpha is not None and img.alpha.dtype == np.uint16
    np.testing.assert_array_equal(np.argwhere(img.alpha == 0), [[2, 3]])
    assert (img.alpha[img.alpha > 0] == 65535).all()


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_write_round_trip(tmp_path: Path, ext: str, channels: int) -> None:
    a = random_pixels((H, W, channels), np.uint16, seed=10 + channels)
    gray = channels <= 2
    color = np.repeat(a[..., :1], 3, axis=2) if gray else a[..., :3]
    alpha = a[..., -1] if channels in (2, 4) else None
    img = ImageData(color=color, alpha=alpha, gray=gray, bit_depth=16,
                    icc_profile=None, source_mode="x")
    out = tmp_path / f"out{ext}"
    write_image(out, img)
    back = read_image(out)
    assert back.bit_depth == 16 and back.gray == gray
    np.testing.assert_array_equal(back.color, color)
    np.testing.assert_array_equal(back.alpha, alpha)
    if ext == ".png" and channels >= 3:  # Pillow itself accepts our PNG (and sees the high bytes)
        with Image.open(out) as im:
            im.load()
            np.testing.assert_array_equal(np.asarray(im)[..., :3], color >> 8)


def test_16bit_png_multi_block_rows(tmp_path: Path) -> None:
    a = random_pixels((40, 6, 3), np.uint16, seed=5)
    img = ImageData(color=a, alpha=None, gray=False, bit_depth=16, icc_profile=None,
                    source_mode="RGB;16")
    out = tmp_path / "o.png"
    with atomic_write(out) as tmp:
        encode._write_png_rows(tmp, a, None, rows_per_block=7)
    np.testing.assert_array_equal(read_image(out).color, img.color)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_8bit_png_is_streamed_and_decodes_to_the_same_pixels(
        tmp_path: Path, channels: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """No whole-image copy (Pillow's `fromarray` is never called) and the very same pixels and
    metadata back, over several blocks of rows."""
    monkeypatch.setattr(encode.Image, "fromarray", None)  # Pillow's whole-image copy
    monkeypatch.setattr(encode._write_png_rows, "__defaults__", (encode._Metadata(), 6, 7))
    a = random_pixels((40, 9, channels), seed=channels)
    gray = channels <= 2
    color = np.repeat(a[..., :1], 3, axis=2) if gray else a[..., :3]
    img = ImageData(color=color, alpha=a[..., -1] if channels in (2, 4) else None, gray=gray,
                    bit_depth=8, icc_profile=None, source_mode="L", dpi=(72.0, 72.0),
                    xmp=b"<x:xmpmeta>t</x:xmpmeta>")
    out = tmp_path / "o.png"
    write_image(out, img)
    with Image.open(out) as im:
        im.load()
        decoded = np.asarray(im)
        assert im.info["dpi"] == pytest.approx((72, 72), abs=0.01)
        assert im.info["XML:com.adobe.xmp"] == "<x:xmpmeta>t</x:xmpmeta>"
    np.testing.assert_array_equal(decoded.reshape(a.shape), a)


def test_16bit_to_8bit_formats_round(tmp_path: Path) -> None:
    v = np.array([0, 128, 129, 257, 385, 386, 65535], np.uint16)
    color = np.repeat(np.tile(v, (2, 1))[..., None], 3, axis=2)
    img = ImageData(color=color, alpha=None, gray=False, bit_depth=16, icc_profile=None,
                    source_mode="RGB;16")
    write_image(tmp_path / "o.bmp", img)
    got = read_image(tmp_path / "o.bmp").color[0, :, 0]
    np.testing.assert_array_equal(got, [0, 0, 1, 1, 1, 2, 255])  # floor(v/257 + 0.5)
    np.testing.assert_array_equal(read_uint8(_png16(tmp_path / "i.png", color))[0, :, 0],
                                  [0, 0, 1, 1, 1, 2, 255])


def test_16bit_tiff_written_elsewhere(tmp_path: Path) -> None:
    a = random_pixels((H, W, 3), np.uint16)
    tifffile.imwrite(tmp_path / "sep.tif", np.moveaxis(a, 2, 0), photometric="rgb",
                     planarconfig="separate", metadata=None)
    np.testing.assert_array_equal(read_image(tmp_path / "sep.tif").color, a)


# --------------------------------------------------------------------------- alpha without support


@pytest.mark.parametrize("ext", [".jpg", ".bmp"])
def test_alpha_composited_over_white(tmp_path: Path, ext: str) -> None:
    color = np.zeros((8, 8, 3), np.uint8)
    alpha = np.full((8, 8), 255, np.uint8)
    alpha[:, 4:] = 0
    img = ImageData(color=color, alpha=alpha, gray=False, bit_depth=8, icc_profile=None,
                    source_mode="RGBA")
    write_image(tmp_path / f"o{ext}", img, quality=100)
    back = read_image(tmp_path / f"o{ext}")
    assert back.alpha is None
    assert back.color[:, :3].max() <= 2 and back.color[:, 5:].min() >= 253


def test_webp_gray_written_as_rgb(tmp_path: Path) -> None:
    g = random_pixels((H, W))
    img = read_image(_save(g, tmp_path / "in.png"))
    write_image(tmp_path / "o.webp", img, quality=100)
    back = read_image(tmp_path / "o.webp")
    assert not back.gray
    np.testing.assert_array_equal(back.color, img.color)


# --------------------------------------------------------------------------- EXIF, ICC


def test_jpeg_exif_orientation_6(tmp_path: Path) -> None:
    a = np.zeros((16, 32, 3), np.uint8)  # 32 wide, 16 tall; left half black, right white
    a[:, 16:] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    src = tmp_path / "o6.jpg"
    Image.fromarray(a).save(src, exif=exif, quality=100)
    img = read_image(src)
    assert img.size == (16, 32)  # rotated 90 degrees clockwise for display
    assert img.color[:14].max() <= 3 and img.color[18:].min() >= 252  # top black, bottom white
    with Image.open(src) as im:
        np.testing.assert_array_equal(img.color, np.asarray(ImageOps.exif_transpose(im)))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    rgba = random_pixels((H, W, 4))
    exif = Image.Exif()
    exif[0x0112] = orientation
    src = tmp_path / "o.png"
    Image.fromarray(rgba).save(src, exif=exif)
    img = read_image(src)
    with Image.open(src) as im:
        ref = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(img.color, ref[..., :3])
    np.testing.assert_array_equal(img.alpha, ref[..., 3])


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif", ".webp"])
def test_icc_profile_carried(tmp_path: Path, ext: str) -> None:
    img = read_image(_save(random_pixels((H, W, 3)), tmp_path / f"in{ext}", icc_profile=SRGB))
    assert img.icc_profile == SRGB
    write_image(tmp_path / f"out{ext}", img)
    with Image.open(tmp_path / f"out{ext}") as back:
        assert back.info.get("icc_profile") == SRGB
    assert read_image(tmp_path / f"out{ext}").icc_profile == SRGB


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_icc_profile_carried_16bit(tmp_path: Path, ext: str) -> None:
    img = ImageData(color=random_pixels((H, W, 3), np.uint16), alpha=None, gray=False, bit_depth=16,
                    icc_profile=SRGB, source_mode="RGB;16")
    write_image(tmp_path / f"o{ext}", img)
    with Image.open(tmp_path / f"o{ext}") as back:
        assert back.info.get("icc_profile") == SRGB
    assert read_image(tmp_path / f"o{ext}").icc_profile == SRGB


def test_icc_profile_dropped_where_it_does_not_fit(tmp_path: Path) -> None:
    img = read_image(_save(random_pixels((H, W)), tmp_path / "g.png", icc_profile=SRGB))
    assert img.gray and img.icc_profile == SRGB  # an RGB profile on a gray file: kept in memory
    write_image(tmp_path / "g_out.png", img)  # but not embedded in the gray output
    with Image.open(tmp_path / "g_out.png") as back:
        assert "icc_profile" not in back.info
    write_image(tmp_path / "g_out.webp", img)  # WebP has no gray: RGB output keeps it
    with Image.open(tmp_path / "g_out.webp") as back:
        assert back.info.get("icc_profile") == SRGB


# --------------------------------------------------------------------------- atomic writes


def _image(seed: int = 0) -> ImageData:
    return ImageData(color=random_pixels((H, W, 3), seed=seed), alpha=None, gray=False,
                     bit_depth=8, icc_profile=None, source_mode="RGB")


def _failing_png(fp: Path, *args: object) -> None:
    """The PNG encoder running out of disk after some bytes."""
    with open(fp, "wb") as f:
        f.write(b"\x89PNG partial bytes")
    raise OSError("No space left on device")


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encode, "_write_png_rows", _failing_png)
    out = tmp_path / "new.png"
    with pytest.raises(OutputError, match="No space left"):
        write_image(out, _image())
    assert not out.exists()
    assert os.listdir(tmp_path) == []


def test_failed_overwrite_keeps_old_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "old.png"
    write_image(out, _image(1))
    before = out.read_bytes()
    monkeypatch.setattr(encode, "_write_png_rows", _failing_png)
    with pytest.raises(OutputError):
        write_image(out, _image(2), overwrite=True)
    assert out.read_bytes() == before
    assert _no_temp_files(tmp_path)


def test_failed_16bit_write_leaves_no_file(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real = zlib.compressobj

    class Exploding:
        def __init__(self, level: int) -> None:
            self.inner = real(level)
            self.calls = 0

        def compress(self, data: bytes) -> bytes:
            self.calls += 1
            if self.calls > 1:
                raise OSError("disk unplugged")
            return self.inner.compress(data)

        def flush(self) -> bytes:
            return self.inner.flush()

    monkeypatch.setattr(encode.zlib, "compressobj", Exploding)
    img = ImageData(color=random_pixels((600, 2, 3), np.uint16), alpha=None, gray=False,
                    bit_depth=16, icc_profile=None, source_mode="RGB;16")
    with pytest.raises(OutputError, match="disk unplugged"):
        write_image(tmp_path / "o.png", img)
    assert os.listdir(tmp_path) == []


def test_atomic_write_temp_name_and_interrupt(tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    out.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(out) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".x.png.")
            assert tmp.suffix == ".part" and tmp.exists()
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert out.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["x.png"]
    with atomic_write(out) as tmp:
        tmp.write_bytes(b"new")
        assert out.read_bytes() == b"old"  # untouched until the body is done
    assert out.read_bytes() == b"new" and sorted(os.listdir(tmp_path)) == ["x.png"]


def test_atomic_write_uses_normal_permissions(tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    ref.write_bytes(b"")
    write_image(tmp_path / "o.png", _image())
    assert stat.S_IMODE((tmp_path / "o.png").stat().st_mode) == stat.S_IMODE(ref.stat().st_mode)


# --------------------------------------------------------------------------- refused inputs


def _truncated_png(p: Path) -> Path:
    _save(random_pixels((64, 64, 3)), p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return p


def _truncated_jpeg(p: Path) -> Path:
    _save(random_pixels((64, 64, 3)), p, format="JPEG", quality=95)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) * 2 // 3])
    return p


def _corrupt_png(p: Path) -> Path:
    _save(random_pixels((32, 32, 3)), p)
    data = bytearray(p.read_bytes())
    i = data.find(b"IDAT") + 20
    data[i:i + 40] = bytes(40)
    p.write_bytes(bytes(data))
    return p


def _zero_png(p: Path) -> Path:
    ihdr = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    p.write_bytes(formats.PNG_MAGIC + _chunk(b"IHDR", ihdr)
                  + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b""))
    return p


def _zero_bmp(p: Path) -> Path:
    p.write_bytes(b"BM" + struct.pack("<IHHI", 54, 0, 0, 54)
                  + struct.pack("<IiiHHIIiiII", 40, 4, 0, 1, 24, 0, 0, 0, 0, 0, 0))
    return p


def _zero_jpeg(p: Path) -> Path:
    _save(random_pixels((4, 4, 3)), p, format="JPEG")
    data = bytearray(p.read_bytes())
    i = data.find(b"\xff\xc0")
    data[i + 5:i + 7] = b"\0\0"
    p.write_bytes(bytes(data))
    return p


REFUSALS = {
    "missing": (lambda p: p, "no such file"),
    "directory": (lambda p: (p.mkdir(), p)[1], "is a directory"),
    "text": (lambda p: (p.write_text("hello, not an image\n"), p)[1], "not a PNG, JPEG"),
    "empty": (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
    "gif": (lambda p: _save(random_pixels((4, 4, 3)), p, format="GIF"), "not a PNG, JPEG"),
    "truncated_png": (_truncated_png, "cannot decode"),
    "truncated_jpeg": (_truncated_jpeg, "cannot decode"),
    "corrupt_png": (_corrupt_png, "cannot decode"),
    "zero_png": (_zero_png, "zero size"),
    "zero_bmp": (_zero_bmp, "zero size"),
    "zero_jpeg": (_zero_jpeg, "zero size"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_inputs(tmp_path: Path, case: str) -> None:
    make, words = REFUSALS[case]
    path = make(tmp_path / "bad.png")
    with pytest.raises(InputImageError) as info:
        read_image(path)
    msg = str(info.value)
    assert str(path) in msg and words in msg and "\n" not in msg
    with pytest.raises(InputImageError):
        read_uint8(path)


def test_truncated_refused_even_if_pillow_allows_it(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for path in (_truncated_png(tmp_path / "t.png"), _truncated_jpeg(tmp_path / "t.jpg")):
        with pytest.raises(InputImageError, match="cannot decode"):
            read_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_truncated_16bit_png_and_tiff(tmp_path: Path) -> None:
    p = _png16(tmp_path / "t.png", random_pixels((40, 40, 3), np.uint16))
    p.write_bytes(p.read_bytes()[:2000])
    with pytest.raises(InputImageError, match="cannot decode"):
        read_image(p)
    img = ImageData(color=random_pixels((40, 40, 3), np.uint16), alpha=None, gray=False,
                    bit_depth=16, icc_profile=None, source_mode="RGB;16")
    write_image(tmp_path / "t.tif", img)
    data = (tmp_path / "t.tif").read_bytes()
    (tmp_path / "t.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputImageError, match="t.tif"):
        read_image(tmp_path / "t.tif")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(random_pixels((4, 4, 3)), tmp_path / "locked.png")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):  # root reads anything: simulate the refusal instead
            monkeypatch.setattr(decode.os, "access", lambda p, m: False)
        with pytest.raises(InputImageError, match="locked.png: permission denied"):
            read_image(path)
    finally:
        path.chmod(0o644)


def test_decompression_bomb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(random_pixels((H, W, 3)), tmp_path / "big.png")
    with pytest.raises(InputImageError, match=r"big.png: image is 7x5 = 35 pixels, over .* 34"):
        read_image(path, max_pixels=34)
    assert read_image(path, max_pixels=35).size == (W, H)
    p16 = _png16(tmp_path / "big16.png", random_pixels((H, W, 3), np.uint16))
    with pytest.raises(InputImageError, match="over the limit"):
        read_image(p16, max_pixels=10)
    # A stricter global Pillow limit does not override ours, and is restored afterwards.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4)
    assert read_image(path, max_pixels=None).size == (W, H)
    assert read_image(path, max_pixels=100).size == (W, H)
    assert Image.MAX_IMAGE_PIXELS == 4
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # nor does a lifted one lift ours
    with pytest.raises(InputImageError, match="over the limit"):
        read_image(path, max_pixels=20)


# --------------------------------------------------------------------------- refused outputs


def test_check_output_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_output_path(tmp_path / "ok.PNG")
    cases = [
        (tmp_path / "x.gif", "unknown output extension '.gif'"),
        (tmp_path / "noext", "unknown output extension none"),
        (tmp_path / "missing" / "x.png", "does not exist"),
    ]
    (tmp_path / "exists.png").write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()
    cases += [(tmp_path / "exists.png", "exists; use overwrite"),
              (tmp_path / "dir.png", "is a directory")]
    for path, words in cases:
        with pytest.raises(OutputError) as info:
            check_output_path(path)
        assert str(path) in str(info.value) and words in str(info.value)
        with pytest.raises(OutputError):
            write_image(path, _image())
    check_output_path(tmp_path / "exists.png", overwrite=True)
    assert (tmp_path / "exists.png").read_bytes() == b"x"
    monkeypatch.setattr(decode.os, "access", lambda p, m: False)
    with pytest.raises(OutputError, match="is not writable"):
        check_output_path(tmp_path / "ok.png")


def test_unwritable_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(OutputError, match="not writable"):
            write_image(folder / "o.png", _image())
    finally:
        folder.chmod(0o755)


def test_write_refusals(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="quality"):
        write_image(tmp_path / "o.jpg", _image(), quality=0)
    wide = ImageData(color=np.zeros((1, 16384, 3), np.uint8), alpha=None, gray=False,
                     bit_depth=8, icc_profile=None, source_mode="RGB")
    with pytest.raises(OutputError, match="too large for WEBP"):
        write_image(tmp_path / "o.webp", wide)
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- ImageData


def test_image_data_replace_and_validation() -> None:
    img = _image()
    big = img.replace(color=np.zeros((10, 14, 3), np.uint16), alpha=None)
    assert big.size == (14, 10) and big.bit_depth == 16 and big.source_mode == "RGB"
    with pytest.raises(ValueError):
        img.replace(color=np.zeros((4, 4), np.uint8), alpha=None)
    with pytest.raises(ValueError):
        img.replace(color=np.zeros((4, 4, 3), np.uint8), alpha=np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError):
        img.replace(color=np.zeros((4, 4, 3), np.float32), alpha=None)
    with pytest.raises(ValueError):
        ImageData(color=np.zeros((2, 2, 3), np.uint8), alpha=None, gray=False, bit_depth=16,
                  icc_profile=None, source_mode="RGB")


# --------------------------------------------------------------------------- uint8 views


def test_uint8_views_of_every_kind(tmp_path: Path) -> None:
    """RGB for training; gray kept HxW for eval; alpha dropped; 16-bit rounded v/257."""
    rgba = np.dstack([random_pixels((8, 9, 3), seed=4), np.full((8, 9), 7, np.uint8)])
    _save(rgba, tmp_path / "rgba.png")
    for keep_gray in (False, True):
        np.testing.assert_array_equal(read_uint8(tmp_path / "rgba.png", keep_gray=keep_gray),
                                      rgba[..., :3])
    g16 = np.arange(72, dtype=np.uint16).reshape(8, 9) * 900
    Image.fromarray(g16).save(tmp_path / "g16.png")
    out = read_uint8(tmp_path / "g16.png", keep_gray=True)
    assert out.ndim == 2 and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.floor(g16 / 257.0 + 0.5).astype(np.uint8))
    rgb = read_uint8(tmp_path / "g16.png")
    assert rgb.shape == (8, 9, 3) and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb, np.repeat(out[..., None], 3, axis=2))
    g8 = random_pixels((6, 5), seed=5)
    _save(g8, tmp_path / "g8.png")
    np.testing.assert_array_equal(read_uint8(tmp_path / "g8.png", keep_gray=True), g8)
    la = np.dstack([g8, np.full_like(g8, 9)])
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_uint8(tmp_path / "la.png", keep_gray=True), g8)


def test_uint8_view_refuses_what_read_image_refuses(tmp_path: Path) -> None:
    gif = _save(random_pixels((4, 4, 3)), tmp_path / "gif.png", format="GIF")
    for keep_gray in (False, True):
        with pytest.raises(InputImageError, match="not a PNG, JPEG"):
            read_uint8(gif, keep_gray=keep_gray)
    big = _save(random_pixels((20, 30, 3)), tmp_path / "big.png")
    with pytest.raises(InputImageError, match="decompression bomb"):
        read_uint8(big, max_pixels=599)
    assert read_uint8(big, max_pixels=600).shape == (20, 30, 3)


def test_peek_size_reads_the_header_with_orientation(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: the 20x10 file is a 10x20 (w x h) image
    Image.fromarray(random_pixels((10, 20, 3))).save(tmp_path / "r.png", exif=exif)
    assert peek_size(tmp_path / "r.png") == (20, 10)
    assert peek_size(_save(random_pixels((10, 20, 3)), tmp_path / "p.jpg")) == (10, 20)
    # a GIF (whatever its name) is read too: animations are checked against the output limit
    assert peek_size(_save(random_pixels((4, 6, 3)), tmp_path / "g.png", format="GIF")) == (4, 6)
    (tmp_path / "t.png").write_text("not an image")
    assert peek_size(tmp_path / "t.png") is None
    assert peek_size(tmp_path / "missing.png") is None


# --------------------------------------------------------------------------- damaged data


def _jpeg_bytes(arr: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", **kw)
    return buf.getvalue()


def _short_scan_jpeg(path: Path, gray: bool = False, size: tuple[int, int] = (640, 480),
                     **kw: object) -> Path:
    """Scan data for 64x48 under a header that says `size` (the hostile-input sweep's file)."""
    data = bytearray(_jpeg_bytes(random_pixels((48, 64) if gray else (48, 64, 3)), **kw))
    i = 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    data[i + 5:i + 9] = struct.pack(">HH", size[1], size[0])
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("gray", "size", "kw"), [
    (False, (640, 480), {}), (True, (640, 480), {}),
    (False, (640, 480), {"progressive": True}),  # the bound on the first DC scan
    (False, (4000, 3000), {}),  # too many blocks to decode: the bound alone
])
def test_jpeg_scan_ending_early_is_refused_unless_allowed(
        tmp_path: Path, gray: bool, size: tuple[int, int], kw: dict[str, object]) -> None:
    path = _short_scan_jpeg(tmp_path / "short.jpg", gray, size, **kw)
    with pytest.raises(InputImageError) as info:
        read_image(path)
    msg = str(info.value)
    assert str(path) in msg and "scan data ends early" in msg and "\n" not in msg
    with pytest.raises(InputImageError, match="ends early"):
        read_uint8(path)
    img = read_image(path, allow_damaged=True)
    assert img.size == size and len(img.warnings) == 1
    assert img.warnings[0].startswith("damaged image data accepted (cannot decode image (JPEG")
    assert img.replace(color=img.color, alpha=None).warnings == img.warnings
    assert read_image(_save(random_pixels((8, 8, 3)), tmp_path / "ok.png")).warnings == ()


def test_complete_jpegs_with_a_gray_corner_pass(tmp_path: Path) -> None:
    flat = np.full((40, 56, 3), 128, np.uint8)
    gray = random_pixels((33, 47))
    gray[-8:, -8:] = 128
    cases: list[tuple[np.ndarray, dict[str, Any]]] = [
        (flat, {}), (gray, {}), (flat, {"subsampling": 0}), (flat, {"restart_marker_blocks": 2}),
        (flat, {"progressive": True})]
    for i, (arr, kw) in enumerate(cases):
        path = tmp_path / f"ok{i}.jpg"
        path.write_bytes(_jpeg_bytes(arr, **kw))
        img = read_image(path)
        assert img.warnings == () and img.size == (arr.shape[1], arr.shape[0])


def _cut(path: Path, fmt: str, **kw: object) -> Path:
    Image.fromarray(random_pixels((120, 90, 3))).save(path, fmt, **kw)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    return path


@pytest.mark.parametrize("fmt,ext", [("PNG", ".png"), ("JPEG", ".jpg"), ("TIFF", ".tif"),
                                     ("BMP", ".bmp")])
def test_cut_short_files_refused_unless_allowed(tmp_path: Path, fmt: str, ext: str) -> None:
    path = _cut(tmp_path / f"cut{ext}", fmt)
    with pytest.raises(InputImageError, match="cannot decode image"):
        read_image(path)
    img = read_image(path, allow_damaged=True)
    assert img.size == (90, 120) and len(img.warnings) == 1
    assert "damaged image data accepted" in img.warnings[0] and "\n" not in img.warnings[0]
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # Pillow's global is restored


def test_damaged_beyond_repair_stays_refused(tmp_path: Path) -> None:
    for path in (_cut(tmp_path / "cut.webp", "WEBP"),
                 _cut(tmp_path / "cut.tif", "TIFF", compression="tiff_adobe_deflate")):
        with pytest.raises(InputImageError):
            read_image(path, allow_damaged=True)
    with pytest.raises(InputImageError, match="zero size"):  # not image data: no retry
        read_image(_zero_png(tmp_path / "zero.png"), allow_damaged=True)


def test_allow_damaged_leaves_other_threads_strict(tmp_path: Path) -> None:
    import threading

    cut = _cut(tmp_path / "cut.png", "PNG")
    results: list[str] = []

    def strict() -> None:
        for _ in range(20):
            try:
                read_image(cut)
                results.append("accepted")
            except InputImageError:
                results.append("refused")

    threads = [threading.Thread(target=strict) for _ in range(2)]
    for t in threads:
        t.start()
    for _ in range(20):
        assert read_image(cut, allow_damaged=True).warnings
    for t in threads:
        t.join()
    assert set(results) == {"refused"}


# --------------------------------------------------------------------------- several frames


def _frames(n: int, size: tuple[int, int] = (20, 16)) -> list[Image.Image]:
    return [Image.fromarray(random_pixels((size[1], size[0], 3), seed=i)) for i in range(n)]


@pytest.mark.parametrize("fmt,ext,n,words", [
    ("PNG", ".png", 3, "animated PNG with 3 frames"),
    ("WEBP", ".webp", 4, "animated WebP with 4 frames"),
    ("TIFF", ".tif", 2, "multi-page TIFF with 2 pages"),
    ("GIF", ".gif", 12, "animated GIF with 12 frames"),
])
def test_multi_frame_inputs_refused(tmp_path: Path, fmt: str, ext: str, n: int,
                                    words: str) -> None:
    first, *rest = _frames(n)
    path = tmp_path / f"anim{ext}"
    first.save(path, fmt, save_all=True, append_images=rest, duration=50)
    with pytest.raises(InputImageError) as info:
        read_image(path)
    msg = str(info.value)
    assert msg == f"{path}: {words}: only single images are supported; extract the one you " \
                  "want first"
    with pytest.raises(InputImageError, match="only single images"):
        read_uint8(path)


def test_multi_page_16bit_tiff_refused(tmp_path: Path) -> None:
    cases: list[tuple[str, np.ndarray, dict[str, Any]]] = [
        ("rgb16.tif", random_pixels((8, 9, 3), np.uint16), {"photometric": "rgb"}),
        ("la16.tif", random_pixels((8, 9, 2), np.uint16),
         {"photometric": "minisblack", "extrasamples": ["unassalpha"], "planarconfig": "contig"})]
    for name, arr, kw in cases:
        path = tmp_path / name
        with tifffile.TiffWriter(path) as tw:
            for _ in range(2):
                tw.write(arr, **kw)
        with pytest.raises(InputImageError, match="multi-page TIFF with 2 pages"):
            read_image(path)


def test_single_frame_gif_keeps_the_format_message(tmp_path: Path) -> None:
    path = tmp_path / "still.gif"
    _frames(1)[0].save(path, "GIF")
    with pytest.raises(InputImageError, match="not a PNG, JPEG, BMP, TIFF or WebP image"):
        read_image(path)


# --------------------------------------------------------------------------- odd names


def test_newline_in_a_name_gives_one_line(tmp_path: Path) -> None:
    path = _truncated_png(tmp_path / "a\nb.png")
    with pytest.raises(InputImageError) as info:
        read_image(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(tmp_path / "a\\nb.png") + ": cannot decode")
    for out in (tmp_path / "c\nd.gif", tmp_path / "e\x1b[2J.png"):
        if out.suffix == ".png":
            out.write_bytes(b"x")
        with pytest.raises(OutputError) as refused:
            write_image(out, _image())
        assert "\n" not in str(refused.value) and "\x1b" not in str(refused.value)


def test_write_image_publish_is_no_clobber(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan_cli import fileio

    out = tmp_path / "o.png"

    def rival(stage: str, tmp: Path) -> None:  # another writer finishes first
        if stage == "publish":
            out.write_bytes(b"rival")

    monkeypatch.setattr(fileio, "fault_hook", rival)
    with pytest.raises(OutputError, match="o.png: exists; use overwrite"):
        write_image(out, _image())
    assert out.read_bytes() == b"rival" and _no_temp_files(tmp_path)
    write_image(out, _image(), overwrite=True)
    assert read_image(out).size == _image().size


def test_peek_size_is_silent_on_corrupt_exif(tmp_path: Path) -> None:
    """Pillow warns "Corrupt EXIF data" while reading the header: -q must stay quiet."""
    import warnings

    path = tmp_path / "e.jpg"
    Image.fromarray(random_pixels((4, 6, 3))).save(
        path, exif=b"Exif\0\0MM\0*\0\0\0\x08\xff\xff")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert peek_size(path) == (4, 6)
    assert [str(w.message) for w in seen] == []


# --------------------------------------------------------------------------- what is wrong, said


def test_a_png_with_a_bad_ihdr_checksum_is_called_damaged(tmp_path: Path) -> None:
    data = bytearray(_save(random_pixels((4, 4, 3)), tmp_path / "ok.png").read_bytes())
    data[29] ^= 0xFF  # the IHDR CRC
    (tmp_path / "bad.png").write_bytes(bytes(data))
    with pytest.raises(InputImageError, match=r"bad\.png: damaged PNG \(bad IHDR checksum\)$"):
        read_image(tmp_path / "bad.png")


def test_a_12_bit_jpeg_is_named_as_such(tmp_path: Path) -> None:
    data = bytearray(_save(random_pixels((4, 4, 3)), tmp_path / "ok.jpg").read_bytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 1], data[sof + 4] = 0xC1, 12  # extended sequential, 12 bits per sample
    (tmp_path / "deep.jpg").write_bytes(bytes(data))
    with pytest.raises(InputImageError, match="deep.jpg: 12-bit JPEG is not supported"):
        read_image(tmp_path / "deep.jpg")


def test_an_int16_tiff_is_named_16_bit_signed(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "s.tif", np.array([[-5, 7], [300, 2]], np.int16))
    with pytest.raises(InputImageError, match="s.tif: 16-bit signed integer image") as e:
        read_image(tmp_path / "s.tif")
    assert "32-bit" not in str(e.value)


def test_a_huge_bmp_header_gets_our_limit_and_the_option(tmp_path: Path) -> None:
    """Pillow refuses over twice its own limit at open, with its own number: ours is shown."""
    header = b"BM" + struct.pack("<IHHI", 154, 0, 0, 54) + struct.pack(
        "<IiiHHIIiiII", 40, 60000, 60000, 1, 24, 0, 0, 0, 0, 0, 0)
    (tmp_path / "big.bmp").write_bytes(header + bytes(100))
    with pytest.raises(InputImageError) as e:
        read_image(tmp_path / "big.bmp")
    assert str(e.value).endswith(
        f"big.bmp: image is 60000x60000 = 3600000000 pixels, over the limit of "
        f"{DEFAULT_MAX_PIXELS} (possible decompression bomb); raise it with max_pixels N "
        "(0 = no limit)")


@pytest.mark.parametrize("bits", [8, 16])
def test_unspecified_extra_tiff_samples_are_dropped_at_both_depths(tmp_path: Path,
                                                                   bits: int) -> None:
    """ExtraSamples 0 is data of no stated meaning, not alpha (Pillow's rule, also for 16 bits);
    a first extra sample declared alpha (or with no ExtraSamples tag) is alpha."""
    dtype = np.uint8 if bits == 8 else np.uint16
    px = random_pixels((4, 6, 5), dtype)
    tifffile.imwrite(tmp_path / "x.tif", px, photometric="rgb", planarconfig="contig",
                     extrasamples=[0, 0])
    img = read_image(tmp_path / "x.tif")
    assert img.alpha is None and np.array_equal(img.color, px[..., :3]) and img.bit_depth == bits
    tifffile.imwrite(tmp_path / "a.tif", px[..., :4], photometric="rgb", planarconfig="contig",
                     extrasamples=[2])
    img = read_image(tmp_path / "a.tif")
    assert img.alpha is not None and np.array_equal(img.alpha, px[..., 3])
