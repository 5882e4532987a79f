"""Metadata kept from input to output (EXIF, XMP, DPI; strip), and output quality."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from helpers import random_pixels
from PIL import ExifTags, Image, ImageCms

from srgan_cli.errors import UsageError
from srgan_cli.media import metadata
from srgan_cli.media.decode import ImageData, read_image
from srgan_cli.media.encode import write_image
from srgan_cli.media.output_options import METADATA_HELP, QUALITY_HELP
from srgan_cli.messages import render
from srgan_cli.options import check_quality

XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>caf\xc3\xa9</rdf:RDF></x:xmpmeta>'
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
MAKE, DATETIME, ORIENTATION = 0x010F, 0x0132, 0x0112
EXIF_IFD, DATETIME_ORIGINAL, PIXEL_X, PIXEL_Y = 0x8769, 0x9003, 0xA002, 0xA003


def _camera_exif(orientation: int = 1, size: tuple[int, int] = (32, 16)) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "Canon"
    exif[DATETIME] = "2020:01:02 03:04:05"
    exif[ORIENTATION] = orientation
    sub = exif.get_ifd(EXIF_IFD)
    sub[DATETIME_ORIGINAL] = "2019:12:31 23:59:59"
    sub[PIXEL_X], sub[PIXEL_Y] = size
    return exif


def _exif_of(path: Path) -> Image.Exif:
    with Image.open(path) as im:
        exif = im.getexif()
        exif.get_ifd(EXIF_IFD)  # read while the file is open
        return exif


def _x4(img: ImageData) -> ImageData:
    """The same picture at 4 times the size (pixel repetition stands in for a model)."""
    big = np.repeat(np.repeat(img.color, 4, axis=0), 4, axis=1)
    alpha = None if img.alpha is None else np.repeat(np.repeat(img.alpha, 4, 0), 4, 1)
    return img.replace(color=big, alpha=alpha)


def _camera_jpeg(path: Path, orientation: int = 6) -> Path:
    a = np.zeros((16, 32, 3), np.uint8)  # 32 wide, 16 tall; left half black, right white
    a[:, 16:] = 255
    Image.fromarray(a).save(path, exif=_camera_exif(orientation), dpi=(72, 72), xmp=XMP,
                            quality=100)
    return path


# --------------------------------------------------------------------------- EXIF


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_exif_orientation_applied_reset_and_tags_kept(tmp_path: Path, ext: str) -> None:
    img = read_image(_camera_jpeg(tmp_path / "in.jpg"))
    assert img.size == (16, 32)  # turned upright on reading
    assert img.color[:14].max() <= 3 and img.color[18:].min() >= 252  # top black, bottom white
    assert img.exif is not None
    carried = Image.Exif()
    carried.load(img.exif)
    assert carried[ORIENTATION] == 1  # the pixels are upright now: the tag says so
    out = tmp_path / f"out{ext}"
    write_image(out, _x4(img), quality=100)
    back = read_image(out)
    assert back.size == (64, 128)  # not turned a second time by a viewer
    assert back.color[:56].max() <= 3 and back.color[72:].min() >= 252
    exif = _exif_of(out)
    assert exif[ORIENTATION] == 1
    assert exif[MAKE] == "Canon" and exif[DATETIME] == "2020:01:02 03:04:05"
    sub = exif.get_ifd(EXIF_IFD)
    assert sub[DATETIME_ORIGINAL] == "2019:12:31 23:59:59"
    assert (sub[PIXEL_X], sub[PIXEL_Y]) == (64, 128)  # the new size, not the source's
    assert float(exif[0x011A]) == pytest.approx(288) and exif[0x0128] == 2


def _exif_with_thumbnail() -> bytes:
    """Little-endian EXIF: IFD0 (Make) linked to IFD1 holding a JPEG thumbnail, built by hand
    because Pillow never writes IFD1."""
    thumb = b"\xff\xd8THUMBNAIL\xff\xd9"
    ifd0_at, ifd1_at = 8, 8 + 2 + 12 + 4
    make_at = ifd1_at + 2 + 2 * 12 + 4
    thumb_at = make_at + 6
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", MAKE, 2, 6, make_at) \
        + struct.pack("<I", ifd1_at)
    ifd1 = struct.pack("<H", 2) + struct.pack("<HHII", 0x0201, 4, 1, thumb_at) \
        + struct.pack("<HHII", 0x0202, 4, 1, len(thumb)) + struct.pack("<I", 0)
    tiff = b"II*\0" + struct.pack("<I", ifd0_at) + ifd0 + ifd1 + b"Nikon\0" + thumb
    return b"Exif\0\0" + tiff


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_exif_thumbnail_dropped(tmp_path: Path, ext: str) -> None:
    exif = _exif_with_thumbnail()
    check = Image.Exif()
    check.load(exif)
    assert check[MAKE] == "Nikon" and check.get_ifd(ExifTags.IFD.IFD1)  # the fixture is sound
    src = tmp_path / "in.jpg"
    Image.fromarray(random_pixels((8, 8, 3))).save(src, exif=exif)
    img = read_image(src)
    out = tmp_path / f"out{ext}"
    write_image(out, _x4(img))
    assert _exif_of(out)[MAKE] == "Nikon"
    assert img.exif is not None and b"THUMBNAIL" not in img.exif
    assert b"THUMBNAIL" not in out.read_bytes()


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tif", "16.png", "16.tif"])
def test_exif_text_bytes_kept_as_they_are(tmp_path: Path, ext: str) -> None:
    """Pillow reads text tags as Latin-1 and writes ASCII: UTF-8 names must not become '?'."""
    exif = Image.Exif()
    exif[MAKE] = "Café Ærø".encode()
    src = tmp_path / "in.jpg"
    Image.fromarray(random_pixels((8, 8, 3))).save(src, exif=exif)
    img = read_image(src)
    if ext.startswith("16"):
        img = img.replace(color=img.color.astype(np.uint16) * 257, alpha=None)
    out = tmp_path / f"out{ext}"
    write_image(out, img)
    exif_bytes = read_image(out).exif
    assert exif_bytes is not None
    carried = Image.Exif()
    carried.load(exif_bytes)
    assert carried[MAKE].encode("latin-1") == "Café Ærø".encode()
    assert EXIF_IFD not in carried and 0x8825 not in carried  # no empty sub-directories


def test_tiff_structure_tags_are_not_carried(tmp_path: Path) -> None:
    src = tmp_path / "in.tif"
    Image.fromarray(random_pixels((16, 32, 3))).save(src, exif=_camera_exif(), dpi=(150, 150),
                                             compression="tiff_adobe_deflate")
    img = read_image(src)
    assert img.dpi == (150, 150)
    out = tmp_path / "out.jpg"
    write_image(out, _x4(img))
    exif = _exif_of(out)
    assert exif[MAKE] == "Canon" and exif[DATETIME] == "2020:01:02 03:04:05"
    for tag in (0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0111, 0x0116, 0x0117):
        assert tag not in exif  # width, height, bits, compression, strips: the old file's


def test_malformed_exif_is_dropped_with_a_note(tmp_path: Path) -> None:
    src = tmp_path / "in.jpg"
    Image.fromarray(random_pixels((8, 8, 3))).save(src, exif=b"Exif\0\0II*\0\x08\0\0\0\xff\xff\x01")
    img = read_image(src)
    assert img.exif is None and img.size == (8, 8)
    assert any("EXIF not carried" in w for w in img.warnings)


@pytest.mark.parametrize("ext", [".tif", ".png", ".jpg"])
def test_bigtiff_exif_is_carried(tmp_path: Path, ext: str) -> None:
    """A BigTIFF's tags come as BigTIFF EXIF, which Pillow cannot read back: carried as the
    classic TIFF structure every format's EXIF is (it stopped writing with a struct error)."""
    import tifffile

    src = tmp_path / "big.tif"
    tifffile.imwrite(src, random_pixels((8, 8, 3)), bigtiff=True, photometric="rgb",
                     description="a caption", software="scanner 2")
    img = read_image(src)
    assert img.exif is not None and img.exif.startswith(b"Exif\0\0II*\0") and not img.warnings
    out = tmp_path / f"out{ext}"
    write_image(out, _x4(img))
    with Image.open(out) as im:
        assert im.getexif()[0x010E] == "a caption"


def test_exif_that_writing_cannot_read_is_dropped_on_reading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Metadata that cannot be carried is dropped with a note when read, never an error when
    the output is written (whatever the parser raises)."""
    src = tmp_path / "in.jpg"
    Image.fromarray(random_pixels((8, 8, 3))).save(src, exif=_camera_exif())

    def unreadable(exif: bytes) -> dict[int, bytes]:
        raise struct.error("unpack requires a buffer of 8 bytes")

    monkeypatch.setattr(metadata, "text_tags", unreadable)
    img = read_image(src)
    assert img.exif is None
    assert img.warnings == ("EXIF not carried: cannot parse it (unpack requires a buffer of 8 "
                            "bytes)",)
    write_image(tmp_path / "out.tif", _x4(img))


# --------------------------------------------------------------------------- XMP and DPI


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".tif"])
def test_xmp_round_trips(tmp_path: Path, ext: str) -> None:
    img = read_image(_camera_jpeg(tmp_path / "in.jpg"))
    assert img.xmp == XMP
    write_image(tmp_path / f"out{ext}", _x4(img))
    back = read_image(tmp_path / f"out{ext}")
    assert back.xmp == XMP
    write_image(tmp_path / f"again{ext}", back)
    assert read_image(tmp_path / f"again{ext}").xmp == XMP


def test_xmp_read_from_png_itxt(tmp_path: Path) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    src = tmp_path / "in.png"
    Image.fromarray(random_pixels((4, 4, 3))).save(src, pnginfo=info)
    assert read_image(src).xmp == XMP


@pytest.mark.parametrize("src_ext", [".jpg", ".png", ".tif", ".bmp"])
@pytest.mark.parametrize("ext", [".jpg", ".png", ".tif", ".bmp"])
def test_dpi_scaled_with_the_size(tmp_path: Path, src_ext: str, ext: str) -> None:
    src = tmp_path / f"in{src_ext}"
    Image.fromarray(random_pixels((8, 12, 3))).save(src, dpi=(72, 72))
    img = read_image(src)
    assert img.dpi == pytest.approx((72, 72), abs=0.02)  # PNG/BMP store pixels per metre
    write_image(tmp_path / f"out{ext}", _x4(img))
    with Image.open(tmp_path / f"out{ext}") as back:
        assert back.info["dpi"] == pytest.approx((288, 288), abs=0.05)
    assert read_image(tmp_path / f"out{ext}").dpi == pytest.approx((288, 288), abs=0.05)


def test_dpi_follows_each_axis_and_upscaler_output(tmp_path: Path) -> None:
    from srgan_cli import load_model
    from srgan_cli.upscaling.upscaler import Upscaler

    img = ImageData(color=random_pixels((10, 20, 3)), alpha=None, gray=False, bit_depth=8,
                    icc_profile=None, source_mode="RGB", dpi=(100.0, 50.0))
    assert img.replace(color=random_pixels((30, 40, 3)), alpha=None).dpi == (200.0, 150.0)
    assert img.replace(color=random_pixels((10, 20, 3)), alpha=None).dpi == (100.0, 50.0)
    up = Upscaler(load_model("bicubic", scale=4), device="cpu")
    assert up.upscale_image(img).dpi == (400.0, 200.0)
    assert up.upscale_image(img, outscale=2).dpi == (200.0, 100.0)


def test_webp_dpi_travels_in_its_exif(tmp_path: Path) -> None:
    img = read_image(_camera_jpeg(tmp_path / "in.jpg"))
    write_image(tmp_path / "out.webp", _x4(img))
    back = read_image(tmp_path / "out.webp")
    assert back.dpi == pytest.approx((288, 288))


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_writers_carry_metadata(tmp_path: Path, ext: str) -> None:
    src = read_image(_camera_jpeg(tmp_path / "in.jpg"))
    img = _x4(src).replace(color=_x4(src).color.astype(np.uint16) * 257, alpha=None)
    assert img.bit_depth == 16 and img.dpi == (288, 288)
    out = tmp_path / f"out{ext}"
    write_image(out, img)
    back = read_image(out)
    assert back.bit_depth == 16 and back.xmp == XMP
    assert back.dpi == pytest.approx((288, 288), abs=0.05)
    exif = _exif_of(out)
    assert exif[MAKE] == "Canon" and exif[DATETIME] == "2020:01:02 03:04:05"
    if ext == ".png":  # the whole EXIF, as an eXIf chunk
        assert exif[ORIENTATION] == 1
        assert exif.get_ifd(EXIF_IFD)[PIXEL_X] == 64
        with Image.open(out) as im:  # Pillow reads our chunks as its own
            assert im.info["dpi"] == pytest.approx((288, 288), abs=0.05)


def test_16bit_gray_alpha_tiff_metadata_read(tmp_path: Path) -> None:
    """A TIFF Pillow cannot open (16-bit gray+alpha) still gives its XMP and DPI."""
    img = ImageData(color=np.repeat(random_pixels((6, 5, 1), np.uint16), 3, axis=2),
                    alpha=random_pixels((6, 5), np.uint16, seed=1), gray=True, bit_depth=16,
                    icc_profile=None, source_mode="LA;16", xmp=XMP, dpi=(300.0, 300.0),
                    exif=_camera_exif().tobytes())
    write_image(tmp_path / "ga.tif", img)
    back = read_image(tmp_path / "ga.tif")
    assert back.source_mode == "LA;16" and back.xmp == XMP and back.dpi == (300, 300)
    assert back.exif is not None
    exif = Image.Exif()
    exif.load(back.exif)
    assert exif[MAKE] == "Canon" and exif[DATETIME] == "2020:01:02 03:04:05"


# --------------------------------------------------------------------------- strip


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".tif"])
def test_strip_metadata_drops_exif_xmp_dpi_keeps_icc(tmp_path: Path, ext: str) -> None:
    src = tmp_path / "in.jpg"
    Image.fromarray(random_pixels((16, 32, 3))).save(src, exif=_camera_exif(6), dpi=(72, 72),
                                                     xmp=XMP, icc_profile=SRGB)
    img = read_image(src)
    out = tmp_path / f"out{ext}"
    write_image(out, _x4(img), strip_metadata=True)
    back = read_image(out)
    assert back.size == (64, 128)  # orientation still applied to the pixels
    assert back.exif is None and back.xmp is None and back.dpi is None
    assert back.icc_profile == SRGB
    with Image.open(out) as im:
        assert not im.getexif() or set(im.getexif()) <= set(range(0x100, 0x200)) | {0x8773}
        assert b"Canon" not in out.read_bytes() and b"xmpmeta" not in out.read_bytes()


# --------------------------------------------------------------------------- quality


def test_jpeg_quality_orders_file_sizes(tmp_path: Path) -> None:
    img = ImageData(color=random_pixels((48, 64, 3)), alpha=None, gray=False, bit_depth=8,
                    icc_profile=None, source_mode="RGB")
    sizes = []
    for q in (10, 50, 80, 95, 100):
        write_image(tmp_path / f"q{q}.jpg", img, quality=q)
        sizes.append(os.path.getsize(tmp_path / f"q{q}.jpg"))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    write_image(tmp_path / "default.jpg", img)
    assert (tmp_path / "default.jpg").read_bytes() == (tmp_path / "q95.jpg").read_bytes()


def test_webp_quality_100_is_lossless_and_lower_is_not(tmp_path: Path) -> None:
    color, alpha = random_pixels((24, 20, 3), seed=3), random_pixels((24, 20), seed=4)
    img = ImageData(color=color, alpha=alpha, gray=False, bit_depth=8, icc_profile=None,
                    source_mode="RGBA")
    write_image(tmp_path / "l.webp", img, quality=100)
    back = read_image(tmp_path / "l.webp")
    np.testing.assert_array_equal(back.color, color)
    np.testing.assert_array_equal(back.alpha, alpha)
    write_image(tmp_path / "d.webp", img)  # default 95: lossy
    assert not np.array_equal(read_image(tmp_path / "d.webp").color, color)
    write_image(tmp_path / "s.webp", img, quality=20)
    assert os.path.getsize(tmp_path / "s.webp") < os.path.getsize(tmp_path / "d.webp")


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp"])
def test_lossless_formats_ignore_quality(tmp_path: Path, ext: str) -> None:
    img = ImageData(color=random_pixels((9, 7, 3)), alpha=None, gray=False, bit_depth=8,
                    icc_profile=None, source_mode="RGB")
    write_image(tmp_path / f"a{ext}", img, quality=1)
    np.testing.assert_array_equal(read_image(tmp_path / f"a{ext}").color, img.color)


@pytest.mark.parametrize("bad", [0, 101, -5, 2.5, True, "90"])
def test_invalid_quality_refused_in_one_line(tmp_path: Path, bad: object) -> None:
    img = ImageData(color=random_pixels((4, 4, 3)), alpha=None, gray=False, bit_depth=8,
                    icc_profile=None, source_mode="RGB")
    with pytest.raises(UsageError) as e:
        write_image(tmp_path / "o.jpg", img, quality=bad)  # type: ignore[arg-type]
    message = str(e.value)
    assert "\n" not in message and "quality must be" in message and "1 to 100" in message
    assert os.listdir(tmp_path) == []
    with pytest.raises(UsageError):
        check_quality(bad)  # type: ignore[arg-type]


def test_check_quality_and_help_texts() -> None:
    assert check_quality(None) is None and check_quality(1) == 1
    assert check_quality(np.int64(100)) == 100  # type: ignore[arg-type]  # numpy ints accepted
    for word in ("JPEG", "WebP", "lossless", "PNG", "TIFF", "BMP", "95"):
        assert word in QUALITY_HELP
    assert "288" in METADATA_HELP and "--strip-metadata" in render(METADATA_HELP, as_flags=True)
    assert "ICC" in METADATA_HELP


# --------------------------------------------------------------------------- pure helpers


def test_metadata_helpers() -> None:
    assert metadata.clean_dpi((0, 0)) is None and metadata.clean_dpi((float("nan"), 1)) is None
    assert metadata.clean_dpi(None) is None and metadata.clean_dpi((72, 96)) == (72.0, 96.0)
    assert metadata.dpi_from_tags({0x011A: 100, 0x0128: 3}) == pytest.approx((254, 254))
    assert metadata.dpi_from_tags({0x011A: 100, 0x0128: 1}) is None  # aspect ratio only
    assert metadata.dpi_from_tags({}) is None
    assert metadata.scaled_dpi(None, (1, 1), (4, 4)) is None
    assert metadata.xmp_bytes("é") == "é".encode() and metadata.xmp_bytes(b"") is None
    assert metadata.source_exif(Image.Exif()) is None
    kept = Image.Exif()
    kept.load(metadata.output_exif(_camera_exif().tobytes(), (8, 4), None))
    assert 0x011A not in kept and kept.get_ifd(EXIF_IFD)[PIXEL_X] == 8
    assert metadata.text_tags(_camera_exif().tobytes()) == {
        MAKE: b"Canon", DATETIME: b"2020:01:02 03:04:05"}
