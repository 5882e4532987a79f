"""Videos and animations in an upscale batch: which inputs they are, and running one.

The batch engine (`srgan_cli.upscaling.batch`) hands a job here when its input is a video or an
animated GIF/APNG/WebP (`discovery.input_kind`); every frame goes
through the batch's own Upscaler (same model, tiling, precision and device) and the output is
the same kind of file, written under a temp name and published whole (`fileio.atomic_write`).
Multi-page TIFF stays refused by the image decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from srgan_cli.errors import UsageError
from srgan_cli.messages import option

if TYPE_CHECKING:
    import numpy as np

    from srgan_cli.media.animation import AnimationResult
    from srgan_cli.media.video import FrameFn, VideoResult
    from srgan_cli.upscaling.upscaler import ImageUpscaler

MediaKind = Literal["video", "animation"]
MediaResult: TypeAlias = "VideoResult | AnimationResult"
"""What upscaling a video or an animation did: the batch record's `media` part."""
FrameProgress = Callable[[int, int | None], None]
"""(frames done, total frames or None when the file does not say)."""


@dataclass(frozen=True)
class MediaInput:
    """A job's input that is many frames: read and written by `run_media`, not `read_image`."""

    path: Path
    kind: MediaKind


def media_kind(path: Path) -> MediaKind | None:
    """The `discovery.input_kind` of `path` when it is many frames ("video", "animation"),
    else None (a still image, read by `read_image`)."""
    from srgan_cli.media.discovery import input_kind

    kind = input_kind(path)
    return None if kind is None or kind == "image" else kind


def frame_scale(upscaler: ImageUpscaler, outscale: float | None) -> int:
    """The whole-number factor frames are upscaled by: the model's, or --outscale when it is a
    whole number (a video's frames must all be exactly scale x the input)."""
    if outscale is None:
        return upscaler.scale
    if not float(outscale).is_integer():
        raise UsageError(f"{option('outscale')} {outscale}: videos and animations take a "
                         "whole-number factor")
    return int(outscale)


def frame_function(upscaler: ImageUpscaler, outscale: float | None) -> FrameFn:
    """A batch of HxWx3 uint8 frames -> the same frames upscaled by the Upscaler, exactly as a
    still image of the batch would be (colour through the model, then --outscale)."""
    from srgan_cli.media.decode import ImageData

    def upscale_frames(frames: list[np.ndarray]) -> list[np.ndarray]:
        return [upscaler.upscale_image(
            ImageData(color=f, alpha=None, gray=False, bit_depth=8, icc_profile=None,
                      source_mode="RGB"), outscale).color for f in frames]

    return upscale_frames


def run_media(
    media: MediaInput, output: Path, upscaler: ImageUpscaler, *, outscale: float | None,
    codec: str | None, crf: int | None, pix_fmt: str | None, quality: int | None,
    overwrite: bool, progress: FrameProgress | None = None, max_pixels: int | None = None,
    max_output_pixels: int = 0,
) -> MediaResult:
    """Upscale every frame of `media` into `output` (the batch's options: `codec`, `crf`,
    `pix_fmt` for videos, `quality`, `max_pixels` and `max_output_pixels` for animations, whose
    frames are all held for the writer; None the default); what it did.

    Raises what `video.upscale_video` / `animation.upscale_animation` raise (one-line
    SrganErrors); an interrupt leaves no output."""
    scale = frame_scale(upscaler, outscale)
    fn = frame_function(upscaler, outscale)
    if media.kind == "video":
        from srgan_cli.media.video import upscale_video

        return upscale_video(media.path, output, fn, scale, codec=codec, crf=crf,
                             pix_fmt=pix_fmt, overwrite=overwrite, progress=progress)
    from srgan_cli.media.animation import upscale_animation

    result = upscale_animation(media.path, output, fn, overwrite=overwrite,
                               quality=95 if quality is None else quality, scale=scale,
                               max_pixels=max_pixels, max_output_pixels=max_output_pixels)
    if progress is not None:
        progress(result.frames, result.frames)
    return result


def media_warnings(result: MediaResult) -> list[str]:
    """What the output could not keep, for the record: a video's alpha (animations keep it)."""
    from srgan_cli.media.video import VideoResult

    return list(result.warnings) if isinstance(result, VideoResult) else []


def result_kind(result: MediaResult) -> MediaKind:
    """Which kind of input `result` is of (the key of its part of a JSON record)."""
    from srgan_cli.media.video import VideoResult

    return "video" if isinstance(result, VideoResult) else "animation"


def media_note(result: MediaResult) -> str:
    """What the result line adds for a video or animation: frames, and the codec chosen."""
    from srgan_cli.media.video import VideoResult

    if isinstance(result, VideoResult):
        crf = "" if result.crf is None else f" crf {result.crf}"
        return (f"{result.frames_in} frames, {result.codec} {result.pix_fmt}{crf}, "
                f"{result.frames_per_second:.1f} fps")
    return f"{result.frames} frames, {result.format}"
