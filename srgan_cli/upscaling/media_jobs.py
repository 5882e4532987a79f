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
from typing import TYPE_CHECKING, Any, Literal

from srgan_cli.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

    from srgan_cli.media.video import FrameFn
    from srgan_cli.upscaling.batch import ImageUpscaler, UpscaleOptions

MediaKind = Literal["video", "animation"]
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
        raise UsageError(f"--outscale {outscale}: videos and animations take a whole-number "
                         "factor")
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
    media: MediaInput, output: Path, upscaler: ImageUpscaler, options: UpscaleOptions,
    progress: FrameProgress | None = None,
) -> dict[str, Any]:
    """Upscale every frame of `media` into `output`; the VideoResult or AnimationResult record.

    Raises what `video.upscale_video` / `animation.upscale_animation` raise (one-line
    SrganErrors); an interrupt leaves no output."""
    scale = frame_scale(upscaler, options.outscale)
    fn = frame_function(upscaler, options.outscale)
    if media.kind == "video":
        from srgan_cli.media.video import upscale_video

        result: Any = upscale_video(media.path, output, fn, scale, codec=options.codec,
                                    crf=options.crf, pix_fmt=options.pix_fmt,
                                    overwrite=options.overwrite, progress=progress)
    else:
        from srgan_cli.media.animation import upscale_animation

        quality = getattr(options, "quality", None)  # --quality, the still images' option
        result = upscale_animation(media.path, output, fn, overwrite=options.overwrite,
                                   quality=95 if quality is None else int(quality))
        if progress is not None:
            progress(result.frames, result.frames)
    return dict(result.as_record())


def media_note(record: dict[str, Any]) -> str:
    """What the result line adds for a video or animation: frames, and the codec chosen."""
    if "codec" in record:
        crf = "" if record.get("crf") is None else f" crf {record['crf']}"
        return (f"{record['frames_in']} frames, {record['codec']} {record['pix_fmt']}{crf}, "
                f"{record['frames_per_second']:.1f} fps")
    return f"{record['frames']} frames, {record['format']}"
