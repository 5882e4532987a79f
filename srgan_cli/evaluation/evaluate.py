"""Score a predictor (LR uint8 -> SR uint8) on a dataset with the standard SR protocol.

The predictor always gets RGB (a gray LR is replicated to three channels); the SR of a gray image
is made gray again with ``metrics.rgb_to_gray`` and scored on the gray values, as the literature
does. Images too small for the border crop are refused before anything runs
(``BenchmarkDataset.check_scorable``); one image failing (a file that does not decode, a model
error, a wrong output size) is recorded, with its message and exit code, and the rest go on.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srgan_cli.distributed import unshard
from srgan_cli.errors import EXIT_MIXED, OutputError, SrganError
from srgan_cli.evaluation.datasets import BenchmarkDataset, LoadFailure, Sample
from srgan_cli.evaluation.metrics import SSIM_WINDOW, psnr_ssim, rgb_to_gray, to_uint8
from srgan_cli.media.encode import write_png
from srgan_cli.messages import one_line
from srgan_cli.options import DEFAULT_METRICS

Predictor = Callable[[np.ndarray], np.ndarray]
# (sr, hr, crop_border) -> distance: perceptual.Lpips, or any metric of that shape
PerceptualMetric = Callable[[np.ndarray, np.ndarray, int], float]


@dataclass
class ImageScore:
    """One image's scores; ``psnr`` is ``inf`` for a perfect SR, NaN (with ``error``) on failure.

    ``seconds`` is the predictor's time on this image; ``lpips`` is NaN when not measured;
    ``error_code`` is the exit code of the failure's error (1 when it is not a typed error)."""

    name: str
    psnr: float
    ssim: float
    seconds: float
    error: str | None = None
    lpips: float = math.nan
    frames: int | None = None  # a video: the frames scored
    temporal_psnr: float | None = None  # a video: `video_scores.evaluate_video`'s flicker figure
    error_code: int = EXIT_MIXED

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class EvalResult:
    """Per-image scores and their means over the images that did not fail.

    ``mean_psnr`` is ``inf`` when some image scored ``inf``, NaN when every image failed;
    ``seconds`` is the mean predictor time per image; ``metrics`` are those asked for (PSNR and
    SSIM are always computed, LPIPS only when asked)."""

    model: str
    dataset: str
    scale: int
    crop_border: int
    y_channel: bool
    images: list[ImageScore] = field(default_factory=list)
    mean_psnr: float = math.nan
    mean_ssim: float = math.nan
    seconds: float = math.nan
    images_expected: int | None = None  # a known set's size (Set5: 5), None for a folder
    partial: bool = False  # fewer images than the known set has: not the standard number
    mean_lpips: float = math.nan
    metrics: tuple[str, ...] = DEFAULT_METRICS
    lpips_net: str = ""  # LPIPS backbone when measured (alex, vgg)
    tta: bool = False  # the model ran as an x8 self-ensemble
    videos: bool = False  # each "image" is a video (mean over its frames, temporal_psnr)
    temporal_psnr: float | None = None  # videos: mean of their temporal_psnr

    @property
    def images_found(self) -> int:
        return len(self.images)

    @property
    def failed(self) -> list[ImageScore]:
        return [s for s in self.images if not s.ok]

    @property
    def psnr_infinite(self) -> bool:
        return math.isinf(self.mean_psnr)


def _mean(values: list[float]) -> float:
    if not values:
        return math.nan
    if any(math.isinf(v) for v in values):
        return math.inf
    return float(np.mean(values))


def summarize(
    images: list[ImageScore], *, model: str, dataset: str, scale: int, crop_border: int,
    y_channel: bool, metrics: tuple[str, ...] = DEFAULT_METRICS,
) -> EvalResult:
    """An EvalResult whose means are over the images without error."""
    ok = [s for s in images if s.ok]
    return EvalResult(
        model=model, dataset=dataset, scale=scale, crop_border=crop_border, y_channel=y_channel,
        images=list(images), mean_psnr=_mean([s.psnr for s in ok]),
        mean_ssim=_mean([s.ssim for s in ok]), seconds=_mean([s.seconds for s in ok]),
        mean_lpips=_mean([s.lpips for s in ok]), metrics=metrics,
    )


def as_rgb(img: np.ndarray) -> np.ndarray:
    """HxWx3 uint8: gray (HxW or HxWx1) replicated to three channels."""
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(img, 3, axis=2))
    return img


def _check_output(sr: object, lr_hw: tuple[int, int], scale: int) -> np.ndarray:
    if not isinstance(sr, np.ndarray):
        raise ValueError(f"predictor returned {type(sr).__name__}, expected a numpy array")
    want = (lr_hw[0] * scale, lr_hw[1] * scale, 3)
    if sr.shape != want:
        raise ValueError(
            f"predictor output has shape {sr.shape}, expected {want} (LR {lr_hw} times x{scale})"
        )
    return to_uint8(sr)


def _failed(name: str, e: Exception, seconds: float = math.nan) -> ImageScore:
    """The ImageScore of an image that failed with `e`: its one-line text (no exception class
    name: the user reads it) and, for a typed error, its exit code."""
    code = e.exit_code if isinstance(e, SrganError) else EXIT_MIXED
    return ImageScore(name, math.nan, math.nan, seconds, one_line(e, first_line=True),
                      error_code=code)


def _prepare_save_dir(save_dir: Path) -> Path:
    try:
        save_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{save_dir}: cannot create the folder for SR images ({e})") from e
    if not os.access(save_dir, os.W_OK):
        raise OutputError(f"{save_dir}: folder is not writable")
    return save_dir


def score_sample(
    predictor: Predictor, sample: Sample, *, scale: int, crop_border: int, y_channel: bool,
    save_dir: Path | None = None, lpips: PerceptualMetric | None = None,
) -> ImageScore:
    """Predict one sample and score it (LPIPS too when `lpips` is given); exceptions become an
    ImageScore with ``error``."""
    seconds = math.nan
    try:
        lr = as_rgb(sample.lr)
        start = time.perf_counter()
        out = predictor(lr)
        seconds = time.perf_counter() - start
        sr = _check_output(out, lr.shape[:2], scale)
        if sample.hr.ndim == 2:
            sr = rgb_to_gray(sr)
        p, s = psnr_ssim(sr, sample.hr, crop_border=crop_border, y_channel=y_channel)
        d = math.nan if lpips is None else lpips(sr, sample.hr, crop_border)
    except Exception as e:  # recorded per image: the run goes on and the exit code says it failed
        return _failed(sample.name, e, seconds)
    if save_dir is not None:
        write_png(save_dir / f"{sample.name}.png", sr)  # OutputError naming the file
    return ImageScore(sample.name, p, s, seconds, lpips=d)


def _failed_load(failure: LoadFailure) -> ImageScore:
    return ImageScore(failure.name, math.nan, math.nan, math.nan, failure.error,
                      error_code=failure.exit_code)


def evaluate(
    predictor: Predictor,
    dataset: Iterable[Sample | LoadFailure],
    *,
    scale: int,
    crop_border: int | None = None,
    y_channel: bool = True,
    model_name: str = "",
    dataset_name: str = "",
    save_dir: Path | None = None,
    on_image: Callable[[ImageScore], None] | None = None,
    lpips: PerceptualMetric | None = None,
) -> EvalResult:
    """Run `predictor` on every sample and score SR against HR (crop_border defaults to scale);
    LPIPS too when `lpips` is given.

    A BenchmarkDataset is first checked (``check_scorable``: DatasetError when images are too
    small for the crop), then read with ``load_all``, so an image that fails to decode (like a
    LoadFailure item of a plain iterable) is recorded as failed and the others are still scored.
    ``save_dir`` receives ``<name>.png`` of each SR as scored (gray for gray images);
    ``on_image`` is called after each image (progress bars, logging)."""
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    crop = scale if crop_border is None else crop_border
    if crop < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop}")
    ds_scale = getattr(dataset, "scale", None)
    if ds_scale is not None and ds_scale != scale:
        raise ValueError(f"dataset is prepared for x{ds_scale}, but scale x{scale} was given")
    if not dataset_name:
        dataset_name = str(getattr(dataset, "name", ""))
    if isinstance(dataset, BenchmarkDataset):
        lpips_side = getattr(lpips, "min_side", 0)
        if lpips_side > SSIM_WINDOW:
            dataset.check_scorable(crop, window=lpips_side, metric="LPIPS")
        else:
            dataset.check_scorable(crop)
    out_dir = None if save_dir is None else _prepare_save_dir(Path(save_dir))
    items = dataset.load_all() if isinstance(dataset, BenchmarkDataset) else dataset
    images = []
    for item in items:
        if isinstance(item, LoadFailure):
            score = _failed_load(item)
        else:
            score = score_sample(
                predictor, item, scale=scale, crop_border=crop, y_channel=y_channel,
                save_dir=out_dir, lpips=lpips,
            )
        images.append(score)
        if on_image is not None:
            on_image(score)
    result = summarize(
        images, model=model_name, dataset=dataset_name, scale=scale, crop_border=crop,
        y_channel=y_channel, metrics=DEFAULT_METRICS + (("lpips",) if lpips else ()),
    )
    result.images_expected, result.partial = completeness(dataset, len(images))
    return result


def completeness(dataset: object, found: int) -> tuple[int | None, bool]:
    """(expected image count, partial) of a dataset: a known set says how many images it has
    (``expected``) and whether some are missing (``partial``); a plain folder knows neither."""
    expected = getattr(dataset, "expected", None)
    expected = expected if isinstance(expected, int) and not isinstance(expected, bool) else None
    partial = getattr(dataset, "partial", None)
    if not isinstance(partial, bool):
        partial = expected is not None and found < expected
    return expected, partial


def evaluate_videos(
    upscale_frames: Callable[[list[np.ndarray]], list[np.ndarray]],
    videos: Iterable[Path],
    *,
    scale: int,
    max_frames: int | None = None,
    model_name: str = "",
    dataset_name: str = "",
    on_video: Callable[[ImageScore], None] | None = None,
) -> EvalResult:
    """Score `upscale_frames` on each video as HR (`video_scores.evaluate_video`: MATLAB bicubic LR,
    Y channel, `scale` px border, at most `max_frames` frames each); one ImageScore per video
    (its frame means, frame count and temporal_psnr) and their means. A bad video is recorded
    as failed, with its one-line error, and the others are still scored."""
    from srgan_cli.evaluation.video_scores import evaluate_video

    scores = []
    for path in videos:
        start = time.perf_counter()
        try:
            v = evaluate_video(path, upscale_frames, scale, max_frames)
        except Exception as e:  # recorded per video, as per image
            score = _failed(path.name, e)
        else:
            score = ImageScore(v.name, v.psnr, v.ssim, time.perf_counter() - start,
                               frames=v.frames, temporal_psnr=v.temporal_psnr)
        scores.append(score)
        if on_video is not None:
            on_video(score)
    result = summarize(scores, model=model_name, dataset=dataset_name, scale=scale,
                       crop_border=scale, y_channel=True)
    _add_video_means(result)
    return result


def _add_video_means(result: EvalResult) -> None:
    """Mark `result` as scores of videos and add the mean of their temporal_psnr."""
    result.videos = True
    temporal = [s.temporal_psnr for s in result.images if s.ok and s.temporal_psnr is not None]
    result.temporal_psnr = _mean(temporal) if temporal else None


def merged(parts: Sequence[EvalResult], dataset: object = None) -> EvalResult:
    """One result from the shares that several processes scored (`distributed.shard` of one
    dataset, `parts` in rank order): the images back in the dataset's order and the means
    computed from them by `summarize`, so that they are bit for bit those of one process.
    `dataset` (the whole one) says how many images a known set expects."""
    first = parts[0]
    images = unshard([p.images for p in parts])
    result = summarize(images, model=first.model, dataset=first.dataset, scale=first.scale,
                       crop_border=first.crop_border, y_channel=first.y_channel,
                       metrics=first.metrics)
    if first.videos:
        _add_video_means(result)
    else:
        result.images_expected, result.partial = completeness(dataset, len(images))
    result.lpips_net, result.tta = first.lpips_net, first.tta
    return result
