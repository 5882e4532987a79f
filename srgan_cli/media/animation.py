"""Animated GIF, APNG and animated WebP through a frame function, written as the same kind.

Each frame is first composited onto a full RGBA canvas (Pillow applies the format's disposal
and blending when it seeks), so partial frames and transparency come out right. Colour goes
through ``upscale_frames`` (the same batched call as video, see `srgan_cli.media.video.FrameFn`),
alpha by MATLAB bicubic to the same size, as for still images. Frame durations and the loop
count are kept; the output is written through `fileio.atomic_write`. An animation is held in
memory (Pillow writes all frames at once); animations are small, unlike videos.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from srgan_cli.errors import InputImageError, OutputError
from srgan_cli.fileio import atomic_write, check_target
from srgan_cli.media.resize import imresize
from srgan_cli.messages import one_line, show_path

FrameFn = Callable[[list[np.ndarray]], list[np.ndarray]]
ANIMATION_FORMATS = {".gif": "GIF", ".png": "PNG", ".apng": "PNG", ".webp": "WEBP"}
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


def is_animated(path: str | Path) -> bool:
    """Whether `path` is a GIF/APNG/WebP with more than one frame (False if unreadable)."""
    if Path(path).suffix.lower() not in ANIMATION_FORMATS:
        return False
    try:
        with Image.open(path) as im:
            return bool(getattr(im, "is_animated", False))
    except (OSError, UnidentifiedImageError, ValueError):
        return False


@dataclass
class _Animation:
    frames: list[np.ndarray]  # HxWx4 uint8 RGBA canvases
    durations: list[int]
    loop: int | None
    format: str


def read_animation(path: str | Path) -> _Animation:
    """All frames of an animation as full RGBA canvases, with durations and loop count."""
    p = Path(path)
    try:
        with Image.open(p) as im:
            fmt = im.format or ""
            if fmt not in ("GIF", "PNG", "WEBP"):
                raise InputImageError(f"{show_path(p)}: not a GIF, APNG or WebP animation")
            loop = im.info.get("loop")
            frames, durations = [], []
            for frame in ImageSequence.Iterator(im):
                frames.append(np.asarray(frame.convert("RGBA")))
                durations.append(int(frame.info.get("duration", im.info.get("duration", 100))))
    except (OSError, UnidentifiedImageError, ValueError, EOFError) as e:
        raise InputImageError(f"{show_path(p)}: unreadable animation ({one_line(e)})") from e
    if not frames:
        raise InputImageError(f"{show_path(p)}: no frames")
    return _Animation(frames, durations, None if loop is None else int(loop), fmt)


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
    anim = read_animation(p)
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
