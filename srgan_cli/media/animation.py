"""Animated GIF, APNG and animated WebP through a frame function, written as the same kind.

The decoder reads the header first (`decode.open_animation`: the input's frames x canvas checked
against `max_pixels` before any frame is decoded), then the frames one at a time, each
composited onto a full RGBA canvas so that partial frames and transparency come out right.
Colour goes through ``upscale_frames`` (the same batched call as video, see
`srgan_cli.media.video.FrameFn`), alpha by MATLAB bicubic to the same size, as for still images.
Frame durations and the loop count are kept; the output is written through
`fileio.atomic_write`. The upscaled frames are held in memory (Pillow writes all frames at
once), so their total (frames x output size) is checked against `max_output_pixels` before
decoding as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from srgan_cli.errors import InputImageError, OutputError
from srgan_cli.fileio import atomic_write, check_target
from srgan_cli.media.decode import DEFAULT_MAX_PIXELS, Animation, open_animation
from srgan_cli.media.formats import ANIMATION_FORMATS
from srgan_cli.media.resize import imresize
from srgan_cli.messages import option, show_path

FrameFn = Callable[[list[np.ndarray]], list[np.ndarray]]
_BATCH = 4


@dataclass(frozen=True)
class AnimationResult:
    """What `upscale_animation` did, for the printed line and the JSON record."""

    input: str
    output: str
    format: str
    frames: int
    width: int
    height: int
    out_width: int
    out_height: int
    durations: list[int]  # milliseconds per frame
    loop: int | None  # 0 = forever, None = play once (GIF without a loop extension)

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def _batches(frames: Iterable[tuple[np.ndarray, int]], size: int
             ) -> Iterator[list[tuple[np.ndarray, int]]]:
    part: list[tuple[np.ndarray, int]] = []
    for item in frames:
        part.append(item)
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part


def _upscale(frames: Iterable[tuple[np.ndarray, int]], fn: FrameFn, batch: int
             ) -> tuple[list[np.ndarray], list[int]]:
    """(upscaled RGBA frames, durations) of decoded (RGBA frame, duration) pairs, `batch` at a
    time through `fn`: only one batch of input frames is held at once."""
    out: list[np.ndarray] = []
    durations: list[int] = []
    for part in _batches(frames, batch):
        colors = fn([np.ascontiguousarray(f[..., :3]) for f, _ in part])
        if len(colors) != len(part):
            raise ValueError(f"frame function returned {len(colors)} frames for {len(part)}")
        for (rgba, duration), color in zip(part, colors, strict=True):
            alpha = imresize(rgba[..., 3], size=color.shape[:2])
            out.append(np.dstack([color, alpha]))
            durations.append(duration)
    return out, durations


def _check_output(anim: Animation, scale: int | None, max_output_pixels: int) -> None:
    """Refuse an animation whose upscaled frames, all held for the writer, would exceed
    `max_output_pixels` (0 = no limit) in all; `scale` None: unknown before the first frame."""
    if not max_output_pixels or scale is None:
        return
    ow, oh = anim.width * scale, anim.height * scale
    total = ow * oh * anim.frame_count
    if total > max_output_pixels:
        raise OutputError(
            f"{show_path(anim.path)}: the output would be {anim.frame_count} frames of {ow}x{oh} "
            f"= {total} pixels, all held in memory to be written, above the limit of "
            f"{max_output_pixels}; raise it with {option('max_output_pixels')} N (0 = no limit)")


def _save(tmp: Path, fmt: str, frames: list[np.ndarray], durations: list[int],
          loop: int | None, quality: int) -> None:
    has_alpha = any(bool((f[..., 3] < 255).any()) for f in frames)
    images = [Image.fromarray(f if has_alpha else np.ascontiguousarray(f[..., :3]))
              for f in frames]
    kwargs: dict[str, Any] = {"save_all": True, "append_images": images[1:],
                              "duration": durations}
    if loop is not None:
        kwargs["loop"] = loop
    if fmt == "GIF":
        kwargs["disposal"] = 2 if has_alpha else 1  # full canvases: clear before each frame
        kwargs["optimize"] = False
    elif fmt == "PNG":
        kwargs["default_image"] = False
        kwargs["disposal"] = 0
        kwargs["blend"] = 0  # full canvases replace, never blend over the previous frame
    else:
        kwargs["quality"] = quality
        kwargs["lossless"] = quality >= 100
        if loop is None:
            kwargs["loop"] = 0
    images[0].save(tmp, format=fmt, **kwargs)


def upscale_animation(
    src: str | Path, dst: str | Path, upscale_frames: FrameFn, *, overwrite: bool = False,
    quality: int = 95, batch: int = _BATCH, scale: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS, max_output_pixels: int = 0,
) -> AnimationResult:
    """Upscale every frame of animated GIF/APNG/WebP `src` (by its content, whatever its name)
    into `dst` of the same format.

    `quality` applies to WebP (100 = lossless). Before any frame is decoded, the input's frames
    x canvas must be at most `max_pixels` (None = no limit) and, when `scale` (the factor
    `upscale_frames` applies) is given, the output's at most `max_output_pixels` (0 = no
    limit). Raises InputImageError for a bad input, OutputError for a bad target, one whose
    suffix names another format, or an output over the limit."""
    p, d = Path(src), Path(dst)
    check_target(d, overwrite=overwrite, kind="animation", suffixes=ANIMATION_FORMATS)
    anim = open_animation(p, max_pixels=max_pixels)
    if ANIMATION_FORMATS[d.suffix.lower()] != anim.format:
        raise OutputError(f"{show_path(d)}: a {anim.format} animation must be written as "
                          f"{anim.format.lower()}, not {d.suffix}")
    _check_output(anim, scale, max_output_pixels)
    out, durations = _upscale(anim.frames(), upscale_frames, batch)
    if not out:
        raise InputImageError(f"{show_path(p)}: no frames")
    with atomic_write(d, overwrite=overwrite) as tmp:
        _save(tmp, anim.format, out, durations, anim.loop, quality)
    oh, ow = out[0].shape[:2]
    return AnimationResult(str(p), str(d), anim.format, len(out), anim.width, anim.height,
                           ow, oh, durations, anim.loop)
