"""Scores a model on a video by the standard protocol, each frame as HR, plus one
temporal-consistency figure (the PSNR between the frame-to-frame changes of SR and of HR), which
catches flicker that per-frame scores miss. Bad input raises one-line DatasetError."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srgan_cli.errors import DatasetError, InputImageError
from srgan_cli.evaluation.metrics import psnr_of_mse, psnr_ssim, rgb_to_y
from srgan_cli.media.resize import imresize, modcrop
from srgan_cli.media.video import DEFAULT_BATCH, FrameFn, iter_frames
from srgan_cli.messages import show_path


@dataclass(frozen=True)
class VideoScore:
    """Per-video scores: mean PSNR/SSIM over frames and the temporal-consistency PSNR."""

    name: str
    frames: int
    psnr: float
    ssim: float
    temporal_psnr: float | None  # None for a one-frame video
    frame_psnr: list[float] = field(default_factory=list)
    frame_ssim: list[float] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def _diff_mse(sr: tuple[np.ndarray, np.ndarray], hr: tuple[np.ndarray, np.ndarray],
              crop: int) -> float:
    """MSE (on Y, border cropped) between the frame-to-frame changes of SR and of HR."""
    def ydiff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = rgb_to_y(b) - rgb_to_y(a)
        return d[crop:-crop, crop:-crop] if crop else d

    return float(np.mean((ydiff(*sr) - ydiff(*hr)) ** 2))


def evaluate_video(path: str | Path, upscale_frames: FrameFn, scale: int,
                   max_frames: int | None = None, batch: int = DEFAULT_BATCH) -> VideoScore:
    """Score `upscale_frames` on video `path` by the standard protocol, each frame as HR.

    LR = MATLAB bicubic of the modcropped frame by 1/scale; PSNR/SSIM on Y with `scale` pixels
    cropped; temporal_psnr = PSNR between the frame-to-frame differences of SR and HR (Y, same
    crop, MSE pooled over all pairs), which catches flicker that per-frame scores miss.
    DatasetError for a bad video or frames too small for `scale`."""
    p = Path(path)
    frame_psnr: list[float] = []
    frame_ssim: list[float] = []
    diff_mse: list[float] = []
    prev: tuple[np.ndarray, np.ndarray] | None = None
    hrs: list[np.ndarray] = []

    def score(hr_batch: list[np.ndarray]) -> None:
        nonlocal prev
        lrs = [imresize(hr, 1 / scale) for hr in hr_batch]
        srs = upscale_frames(lrs)
        for hr, sr in zip(hr_batch, srs, strict=True):
            if sr.shape != hr.shape:
                raise ValueError(f"frame function returned {sr.shape}, expected {hr.shape}")
            ps, ss = psnr_ssim(sr, hr, crop_border=scale)
            frame_psnr.append(ps)
            frame_ssim.append(ss)
            if prev is not None:
                diff_mse.append(_diff_mse((prev[0], sr), (prev[1], hr), scale))
            prev = (sr, hr)

    try:
        for frame in iter_frames(p, max_frames):
            hr = modcrop(frame, scale)
            if min(hr.shape[:2]) < scale * 2 + 11:
                raise DatasetError(f"{show_path(p)}: frames of {frame.shape[1]}x"
                                   f"{frame.shape[0]} are too small to score at x{scale}")
            hrs.append(hr)
            if len(hrs) >= batch:
                score(hrs)
                hrs = []
        if hrs:
            score(hrs)
    except InputImageError as e:
        raise DatasetError(str(e)) from e
    temporal = psnr_of_mse(float(np.mean(diff_mse))) if diff_mse else None
    return VideoScore(p.name, len(frame_psnr), float(np.mean(frame_psnr)),
                      float(np.mean(frame_ssim)), temporal, frame_psnr, frame_ssim)
