"""Animated GIF/APNG/WebP through a frame function: frames, durations, loop and alpha kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from media_builders import AH as H
from media_builders import ANIMATION_DURATIONS as DURATIONS
from media_builders import AW as W
from media_builders import make_animation as make
from media_builders import nearest_x2
from media_builders import read_animation as read
from PIL import GifImagePlugin, Image

from srgan_cli.errors import InputImageError, OutputError
from srgan_cli.media import animation, decode


@pytest.mark.parametrize("suffix,fmt,loop", [(".gif", "GIF", 0), (".gif", "GIF", 3),
                                              (".png", "PNG", 0), (".webp", "WEBP", 2)])
def test_frames_durations_and_loop_kept(tmp_path: Path, suffix: str, fmt: str, loop: int) -> None:
    src, dst = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    make(src, fmt, loop=loop)
    assert decode.is_animated(src)
    rec = animation.upscale_animation(src, dst, nearest_x2, quality=100)
    a, b = read(src), read(dst)
    assert len(b[0]) == len(DURATIONS) and b[1] == a[1] == DURATIONS
    assert b[2] == loop
    assert b[0][0].shape == (2 * H, 2 * W, 4)
    for x, y in zip(a[0], b[0], strict=True):
        assert np.array_equal(y, nearest_x2([x])[0])
    assert (rec.format, rec.frames, rec.out_width, rec.loop) == (fmt, 5, 2 * W, loop)
    assert rec.as_record()["durations"] == DURATIONS


def test_gif_played_once_stays_once(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.gif", tmp_path / "out.gif"
    make(src, "GIF", loop=None)
    animation.upscale_animation(src, dst, nearest_x2)
    assert read(dst)[2] is None


@pytest.mark.parametrize("suffix,fmt", [(".gif", "GIF"), (".png", "PNG"), (".webp", "WEBP")])
def test_transparency_kept(tmp_path: Path, suffix: str, fmt: str) -> None:
    src, dst = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    make(src, fmt, alpha=True)
    animation.upscale_animation(src, dst, nearest_x2, quality=100)
    for f in read(dst)[0]:  # alpha is resized by bicubic: the edge rows blend
        assert (f[: H - 3, :, 3] == 0).all() and (f[H + 3:, :, 3] == 255).all()


def test_partial_gif_frames_are_composited(tmp_path: Path) -> None:
    src = tmp_path / "in.gif"
    base = np.zeros((H, W, 3), np.uint8)
    base[..., 2] = 255
    ims = []
    for i in range(3):
        a = base.copy()
        a[2:4, 2 + 3 * i:5 + 3 * i] = (255, 0, 0)  # only a small patch changes
        ims.append(Image.fromarray(a))
    ims[0].save(src, save_all=True, append_images=ims[1:], duration=50, loop=0, optimize=True)
    with Image.open(src) as im:
        assert isinstance(im, GifImagePlugin.GifImageFile)
        im.seek(1)
        assert im.dispose_extent is not None
        x0, y0, x1, y1 = im.dispose_extent
        assert (x1 - x0, y1 - y0) != (W, H)  # frame 1 is stored as a patch
    animation.upscale_animation(src, tmp_path / "o.gif", nearest_x2)
    for x, y in zip(read(src)[0], read(tmp_path / "o.gif")[0], strict=True):
        assert np.array_equal(y, nearest_x2([x])[0])


def test_batches(tmp_path: Path) -> None:
    src = tmp_path / "in.gif"
    make(src, "GIF")
    sizes: list[int] = []

    def fn(fr: list[np.ndarray]) -> list[np.ndarray]:
        sizes.append(len(fr))
        assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in fr)
        return nearest_x2(fr)

    animation.upscale_animation(src, tmp_path / "o.gif", fn, batch=2)
    assert sizes == [2, 2, 1]


def test_bad_inputs_and_targets(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gif"
    bad.write_bytes(b"GIF89a" + b"\x00" * 5)
    with pytest.raises(InputImageError):
        animation.upscale_animation(bad, tmp_path / "o.gif", nearest_x2)
    src = tmp_path / "in.gif"
    make(src, "GIF")
    with pytest.raises(OutputError, match="must be written as gif"):
        animation.upscale_animation(src, tmp_path / "o.webp", nearest_x2)
    (tmp_path / "taken.gif").write_bytes(b"x")
    with pytest.raises(OutputError, match="exists"):
        animation.upscale_animation(src, tmp_path / "taken.gif", nearest_x2)
    assert not list(tmp_path.glob(".*part"))
    still = tmp_path / "still.png"
    Image.new("RGB", (4, 4)).save(still)
    assert not decode.is_animated(still) and not decode.is_animated(bad)
