"""Animated GIF, APNG and animated WebP through a frame function, written as the same kind.

The decoder reads the frames (`decode.read_frames`: each composited onto a full RGBA canvas, so
partial frames and transparency come out right). Colour goes through ``upscale_frames`` (the
same batched call as video, see `srgan_cli.media.video.FrameFn`), alpha by MATLAB bicubic to the
same size, as for still images. Frame durations and the loop count are kept; the output is
written through `fileio.atomic_write`. An animation is held in memory (Pillow writes all frames
at once); animations are small, unlike videos.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from srgan_cli.errors import OutputError
from srgan_cli.fileio import atomic_write, check_target
from srgan_cli.media.decode import read_frames
from srgan_cli.media.formats import ANIMATION_FORMATS
from srgan_cli.media.resize import imresize
from srgan_cli.messages import show_path

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


def _upscale(frames: list[np.ndarray], fn: FrameFn, batch: int) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for i in range(0, len(frames), batch):
        part = frames[i:i + batch]
        colors = fn([np.ascontiguousarray(f[..., :3]) for f in part])
        if len(colors) != len(part):
            raise ValueError(f"frame function returned {len(colors)} frames for {len(part)}")
        for rgba, color in zip(part, colors, strict=True):
            alpha = imresize(rgba[..., 3], size=color.shape[:2])
            out.append(np.dstack([color, alpha]))
    return out


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
    quality: int = 95, batch: int = _BATCH,
) -> AnimationResult:
    """Upscale every frame of animated GIF/APNG/WebP `src` into `dst` of the same format.

    `quality` applies to WebP (100 = lossless). Raises InputImageError for a bad input,
    OutputError for a bad target or one whose suffix names another format."""
    p, d = Path(src), Path(dst)
    check_target(d, overwrite=overwrite, kind="animation", suffixes=ANIMATION_FORMATS)
    anim = read_frames(p)
    if ANIMATION_FORMATS[d.suffix.lower()] != anim.format:
        raise OutputError(f"{show_path(d)}: a {anim.format} animation must be written as "
                          f"{anim.format.lower()}, not {d.suffix}")
    out = _upscale(anim.frames, upscale_frames, batch)
    with atomic_write(d, overwrite=overwrite) as tmp:
        _save(tmp, anim.format, out, anim.durations, anim.loop, quality)
    h, w = anim.frames[0].shape[:2]
    oh, ow = out[0].shape[:2]
    return AnimationResult(str(p), str(d), anim.format, len(out), w, h, ow, oh,
                           anim.durations, anim.loop)
