"""The one suffix table (`formats`) and the one "what kind of input is this" (`input_kind`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from media_builders import make_animation
from PIL import Image

from srgan_cli.errors import ModelError
from srgan_cli.media import formats
from srgan_cli.media.decode import is_animated, open_animation, read_image
from srgan_cli.media.discovery import input_kind, is_upscale_input, is_video_name, media_suffix
from srgan_cli.media.encode import SAVED_PNG_LEVEL, write_png
from srgan_cli.models.loading import load

IMAGES = [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"]
VIDEOS = [".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"]
MODELS = [".safetensors", ".pth", ".pt", ".ckpt", ".onnx"]


def _cases(suffix: str) -> list[str]:
    return [suffix, suffix.upper(), suffix[:2].upper() + suffix[2:]]


def test_the_tables() -> None:
    assert list(formats.IMAGE_FORMATS) == IMAGES
    assert formats.READ_EXTENSIONS == formats.WRITE_EXTENSIONS == frozenset(IMAGES)
    assert list(formats.VIDEO_FORMATS) == VIDEOS == sorted(formats.VIDEO_SUFFIXES, key=VIDEOS.index)
    assert formats.ANIMATION_SUFFIXES == {".gif", ".apng", ".png", ".webp"}
    assert list(formats.MODEL_FORMATS) == MODELS
    assert set(formats.MODEL_FORMATS.values()) == {"safetensors", "pickle", "onnx"}
    # a name is one kind only: a still PNG and an animated PNG share theirs, nothing else
    assert not formats.VIDEO_SUFFIXES & (formats.READ_EXTENSIONS | formats.ANIMATION_SUFFIXES)
    assert not formats.MODEL_SUFFIXES & (formats.READ_EXTENSIONS | formats.VIDEO_SUFFIXES
                                         | formats.ANIMATION_SUFFIXES)
    assert formats.ANIMATION_SUFFIXES - formats.READ_EXTENSIONS == {".gif", ".apng"}
    assert set(formats.IMAGE_FORMATS.values()) == set(formats.PIL_FORMATS)
    assert formats.listing(formats.MODEL_FORMATS) == ".safetensors, .pth, .pt, .ckpt or .onnx"
    assert formats.listing(frozenset({".b", ".a"})) == ".a or .b"


def test_the_table_imports_nothing_heavy() -> None:
    """`srgan --help` and folder scans read the table without numpy, Pillow, av or torch."""
    code = ("import sys; import srgan_cli.media.formats, srgan_cli.media.discovery; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'numpy', 'PIL', 'av', 'torch'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("suffix", IMAGES)
def test_every_image_suffix_is_an_image_in_any_case(tmp_path: Path, suffix: str) -> None:
    fmt = formats.IMAGE_FORMATS[suffix]
    for i, name in enumerate(_cases(suffix)):
        path = tmp_path / f"still{i}{name}"
        Image.new("RGB", (4, 3), (10, 20, 30)).save(path, format=fmt)
        assert input_kind(path) == "image", path
        assert is_upscale_input(path) and not is_animated(path)


@pytest.mark.parametrize("suffix", VIDEOS)
def test_every_video_suffix_is_a_video_in_any_case(tmp_path: Path, suffix: str) -> None:
    for name in _cases(suffix):
        path = tmp_path / f"clip{name}"  # the name alone says it: nothing is read
        assert input_kind(path) == "video" and is_video_name(path) and is_upscale_input(path)
    assert not is_video_name(tmp_path / f".hidden{suffix}")
    assert not is_upscale_input(tmp_path / f".hidden{suffix}")


@pytest.mark.parametrize("name,fmt", [("a.gif", "GIF"), ("a.GIF", "GIF"), ("a.png", "PNG"),
                                      ("a.apng", "PNG"), ("a.APng", "PNG"), ("a.webp", "WEBP"),
                                      ("a.WebP", "WEBP")])
def test_animated_files_are_animations(tmp_path: Path, name: str, fmt: str) -> None:
    path = tmp_path / name
    make_animation(path, fmt)
    assert input_kind(path) == "animation" and is_animated(path) and is_upscale_input(path)
    anim = open_animation(path)
    frames = [f for f, _ in anim.frames()]
    assert (anim.format, anim.frame_count, len(frames)) == (fmt, 5, 5)
    assert frames[0].shape == (12, 16, 4) and frames[0].dtype == np.uint8


def test_still_gif_and_apng_are_not_inputs(tmp_path: Path) -> None:
    """A still GIF or .apng is not an animation, and the decoder does not read it as an image."""
    for name, fmt in [("s.gif", "GIF"), ("s.GIF", "GIF"), ("s.apng", "PNG")]:
        path = tmp_path / name
        Image.new("RGB", (4, 4)).save(path, format=fmt)
        assert input_kind(path) is None and not is_upscale_input(path), name
    assert input_kind(tmp_path / "missing.gif") is None  # unreadable: not animated


@pytest.mark.parametrize("name", ["a.txt", "a.ppm", "a", "a.png.part", "model.safetensors",
                                  "model.pth", "model.onnx", "a.mp3"])
def test_other_names_are_not_inputs(tmp_path: Path, name: str) -> None:
    assert input_kind(tmp_path / name) is None and not is_upscale_input(tmp_path / name)


def test_an_image_name_is_an_input_without_being_opened(tmp_path: Path) -> None:
    """Folder scans take .png and .webp by their names (the batch tells animations apart)."""
    fake = tmp_path / "not-really.png"
    fake.write_bytes(b"not a png")
    assert is_upscale_input(fake) and input_kind(fake) == "image"
    assert not is_upscale_input(tmp_path / ".hidden.png")


def test_loading_refuses_other_model_suffixes_naming_the_table(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"expected \.safetensors, \.pth, \.pt, \.ckpt or \.onnx"):
        load(str(path))


def test_open_animation_refuses_what_is_not_an_animation_format(tmp_path: Path) -> None:
    from srgan_cli.errors import InputImageError

    jpeg = tmp_path / "a.gif"
    Image.new("RGB", (4, 4)).save(jpeg, format="JPEG")
    with pytest.raises(InputImageError, match="not a GIF, APNG or WebP animation"):
        open_animation(jpeg)
    (tmp_path / "b.gif").write_bytes(b"GIF89a broken")
    with pytest.raises(InputImageError, match="unreadable animation"):
        open_animation(tmp_path / "b.gif")


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3)])
def test_write_png_is_the_pillow_png_at_level_6(tmp_path: Path, shape: tuple[int, ...]) -> None:
    """Eval's SR images, report crops and validation strips: the bytes Pillow wrote before,
    now through the encoder (atomic, an existing file replaced)."""
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out, ref = tmp_path / "out.png", tmp_path / "ref.png"
    out.write_bytes(b"previous")
    write_png(out, pixels[:, ::-1])  # a view that is not contiguous
    Image.fromarray(np.ascontiguousarray(pixels[:, ::-1])).save(ref, format="PNG")
    assert SAVED_PNG_LEVEL == 6 and out.read_bytes() == ref.read_bytes()
    got = read_image(out)
    assert got.gray == (len(shape) == 2)
    assert np.array_equal(got.uint8(keep_gray=True), pixels[:, ::-1])
    assert not list(tmp_path.glob(".*part"))
    with pytest.raises(ValueError, match="uint8"):
        write_png(tmp_path / "f.png", pixels.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        write_png(tmp_path / "rgba.png", np.zeros((2, 2, 4), np.uint8))


@pytest.mark.parametrize("name,fmt,written", [
    ("a.jpg", "GIF", ".gif"), ("a.png", "WEBP", ".webp"), ("a.webp", "PNG", ".png"),
    ("a.tif", "GIF", ".gif"), ("a.gif", "GIF", ".gif"), ("a.apng", "PNG", ".apng")])
def test_an_animation_is_known_by_its_content(tmp_path: Path, name: str, fmt: str,
                                              written: str) -> None:
    """As for stills, the bytes say what a file is: an animated GIF named .jpg is an animation,
    written as .gif; a name that fits its format is kept."""
    path = tmp_path / name
    make_animation(path, fmt)
    assert input_kind(path) == "animation" and media_suffix(path) == written
    assert open_animation(path).format == fmt


def test_media_suffix_of_videos_and_stills(tmp_path: Path) -> None:
    assert media_suffix(tmp_path / "clip.MKV") == ".mkv"
    still = tmp_path / "s.jpg"
    Image.new("RGB", (4, 4)).save(still, format="GIF")
    assert media_suffix(still) is None and input_kind(still) == "image"
    assert media_suffix(tmp_path / "missing.png") is None
