"""Animated GIF/APNG/WebP through a frame function: frames, durations, loop and alpha kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from media_builders import AH as H
from media_builders import ANIMATION_DURATIONS as DURATIONS
from media_builders import AW as W
from media_builders import make_animation as make
from media_builders import make_damaged_apng, nearest_x2
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


def test_a_damaged_apng_frame_is_an_input_error(tmp_path: Path) -> None:
    """Whatever the decoder raises on a damaged frame (Pillow: SyntaxError) is one line."""
    src = tmp_path / "bad.png"
    make_damaged_apng(src)
    assert decode.animation_format(src) == "PNG"
    with pytest.raises(InputImageError, match="bad.png: damaged animation: frame 2 of 3 does "
                                              "not decode"):
        animation.upscale_animation(src, tmp_path / "o.png", nearest_x2)
    assert not (tmp_path / "o.png").exists()


def test_frames_x_canvas_over_the_limit_is_refused_before_decoding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An animation bomb (many large frames) is refused from its header, like a still image;
    `max_pixels` None lifts the limit."""
    src = tmp_path / "in.gif"
    make(src, "GIF")  # 5 frames of W x H

    def never(self: decode.Animation) -> None:
        raise AssertionError("a frame was decoded")

    with monkeypatch.context() as m:
        m.setattr(decode.Animation, "frames", never)
        with pytest.raises(InputImageError) as e:
            animation.upscale_animation(src, tmp_path / "o.gif", nearest_x2,
                                        max_pixels=5 * W * H - 1)
    assert str(e.value).endswith(
        f"in.gif: animation is 5 frames of {W}x{H} = {5 * W * H} pixels, over the limit of "
        f"{5 * W * H - 1} (possible decompression bomb); raise it with max_pixels N (0 = no "
        "limit)")
    animation.upscale_animation(src, tmp_path / "o.gif", nearest_x2, max_pixels=5 * W * H)
    animation.upscale_animation(src, tmp_path / "p.gif", nearest_x2, max_pixels=None)


def test_output_frames_held_for_the_writer_are_bounded(tmp_path: Path) -> None:
    src = tmp_path / "in.webp"
    make(src, "WEBP")
    total = 5 * (2 * W) * (2 * H)
    with pytest.raises(OutputError, match=rf"the output would be 5 frames of {2 * W}x{2 * H} = "
                                          rf"{total} pixels, .* above the limit of {total - 1}"):
        animation.upscale_animation(src, tmp_path / "o.webp", nearest_x2, scale=2,
                                    max_output_pixels=total - 1)
    assert not (tmp_path / "o.webp").exists()
    animation.upscale_animation(src, tmp_path / "o.webp", nearest_x2, scale=2,
                                max_output_pixels=total)


def test_frames_are_decoded_as_they_are_upscaled(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Only one batch of decoded frames is held: the first batch is upscaled before the rest
    is decoded."""
    src = tmp_path / "in.png"
    make(src, "PNG")
    decoded: list[int] = []
    seen_at_call: list[int] = []
    frames = decode.Animation.frames

    def counting(self: decode.Animation) -> object:
        for item in frames(self):
            decoded.append(1)
            yield item

    def fn(fr: list[np.ndarray]) -> list[np.ndarray]:
        seen_at_call.append(len(decoded))
        return nearest_x2(fr)

    monkeypatch.setattr(decode.Animation, "frames", counting)
    animation.upscale_animation(src, tmp_path / "o.png", fn, batch=2)
    assert seen_at_call == [2, 4, 5]
