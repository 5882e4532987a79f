"""The batch engine's parts: options, one image's steps, its record, the exit code.

`srgan_cli.upscaling.pipeline.run_batch` puts them together: options -> Upscaler -> planned jobs
-> the steps, overlapped -> records -> exit code. No typer and no rich: whoever runs a batch
(the CLI, a script) passes a `Reporter` that is told each step, and gets a `BatchResult` back.
Each image is independent: a bad one becomes an error `Record` and the batch goes on;
`BatchResult.check` then raises one `BatchError` whose exit code is that of the failures' error
type (EXIT_MIXED when they differ).

One image is four steps (`ready_output`, then decode in `load_step`, `upscale_step`, encode in
`save_step`), here; `pipeline.run_jobs` overlaps them over many images, in threads, keeping
records in job order. A video or an animation is one `media_step` (its frames overlap inside).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srgan_cli import distributed
from srgan_cli.errors import (
    EXIT_INTERNAL,
    EXIT_MIXED,
    BatchError,
    OutputError,
    OutputExistsError,
    SrganError,
    StreamClosed,
    UsageError,
    internal_error_line,
    is_closed_stdout,
)
from srgan_cli.messages import escape, option, show_path
from srgan_cli.options import (
    check_float,
    check_memory_budget,
    check_name_part,
    check_quality,
    check_tiling,
    debug,
)
from srgan_cli.upscaling.media_jobs import FrameProgress, MediaInput, MediaResult
from srgan_cli.upscaling.planning import DEFAULT_MAX_OUTPUT_PIXELS, Job

if TYPE_CHECKING:
    import torch

    from srgan_cli.media.decode import ImageData
    from srgan_cli.models.descriptor import ModelDescriptor
    from srgan_cli.upscaling.provenance import Provenance
    from srgan_cli.upscaling.upscaler import ImageUpscaler, ProgressCb, Upscaler


ALPHA_UPSAMPLERS = ("bicubic", "model")
MAX_OUTSCALE = 1e6  # --outscale: beyond any real use (the output size checks refuse far less),
# and far from where sizes overflow


@dataclass(frozen=True)
class UpscaleOptions:
    """Everything `srgan upscale` takes besides its inputs, checked once when built.

    `model` None is the default model (bicubic when it is not installed); `tile` None is the
    device's default tile, 0 (WHOLE_IMAGE) the whole image; `max_pixels` None is the imaging
    default, 0 no limit. `max_output_pixels` bounds each output (0 = no limit, memory still
    checked); `alpha_upsampler` is "bicubic" (MATLAB bicubic) or "model" (alpha replicated to
    three channels through the model, as Real-ESRGAN does). `quality` and `strip_metadata` go
    to `encode.write_image`, `allow_damaged` to `decode.read_image`, `memory_budget` (bytes;
    None: the device's default) to the Upscaler's automatic tile choice."""

    output: str | Path | None = None  # --output FILE (or DIR: as -o DIR) of the one input
    output_dir: Path | None = None
    suffix: str | None = None
    ext: str | None = None
    recursive: bool = False
    overwrite: bool = False
    skip_existing: bool = False
    model: str | None = None
    outscale: float | None = None
    device: str | torch.device = "auto"
    precision: str = "auto"
    tile: int | None = None
    tile_pad: int | None = None
    batch_size: int = 1
    max_pixels: int | None = None
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS
    alpha_upsampler: str = "bicubic"
    tta: bool = False  # x8 self-ensemble (8 flips/rotations averaged)
    codec: str | None = None  # videos: FFmpeg encoder (None: H.264 where available)
    crf: int | None = None  # videos: the encoder's constant-quality value (None: its default)
    pix_fmt: str | None = None  # videos: pixel format (None: the source's where possible)
    quality: int | None = None  # JPEG/WebP quality 1-100 (None: the format's default)
    strip_metadata: bool = False  # drop EXIF, XMP and DPI (ICC stays)
    allow_damaged: bool = False  # accept damaged input; the note goes into the record
    memory_budget: int | None = None  # bytes of activations for the automatic tile
    made_by: Provenance | None = None  # set by run_batch: the model and options of the run

    def __post_init__(self) -> None:
        if self.overwrite and self.skip_existing:
            raise UsageError(f"{option('overwrite')} and {option('skip_existing')} exclude each "
                             "other")
        check_float(self.outscale, "outscale", low=0, high=MAX_OUTSCALE, low_open=True)
        check_name_part(self.suffix, "suffix")
        check_name_part(self.ext, "ext")
        if self.max_pixels is not None and self.max_pixels < 0:
            raise UsageError(f"{option('max_pixels')} must be >= 0 (0 = no limit), got "
                             f"{self.max_pixels}")
        if self.max_output_pixels < 0:
            raise UsageError(f"{option('max_output_pixels')} must be >= 0 (0 = no limit), got "
                             f"{self.max_output_pixels}")
        if self.alpha_upsampler not in ALPHA_UPSAMPLERS:
            raise UsageError(f"{option('alpha_upsampler')} {self.alpha_upsampler}: expected "
                             f"{' or '.join(ALPHA_UPSAMPLERS)}")
        check_tiling(self.tile, self.tile_pad, self.batch_size)
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise UsageError(f"{option('crf')} must be 0..63, got {self.crf}")
        check_quality(self.quality)
        check_memory_budget(self.memory_budget)

    @property
    def pixel_limit(self) -> int | None:
        """The decompression-bomb limit for `read_image` (None: no limit)."""
        from srgan_cli.media.decode import DEFAULT_MAX_PIXELS

        return DEFAULT_MAX_PIXELS if self.max_pixels is None else (self.max_pixels or None)


@dataclass
class Record:
    """What happened to one image (one --json line)."""

    input: str
    output: str | None
    status: str  # ok | error | skipped
    input_size: list[int] | None = None
    output_size: list[int] | None = None
    seconds: float = 0.0
    error: str | None = None
    exit_code: int = 0
    note: str | None = None  # why it was skipped, for the terminal
    tile: int | None = None  # the LR tile it ran with (0: whole image)
    tiling_exact: bool | None = None  # False: tiled approximately (a windowed model)
    media: MediaResult | None = None  # a video's or animation's own result (codec, frames)
    warnings: list[str] = field(default_factory=list)  # notes on the input (damaged data, ...)
    model: dict[str, Any] | None = None  # the model of the run: name and sha256 (provenance)

    def as_json(self) -> dict[str, Any]:
        """The record as JSON values; the raw bytes of a name that is not UTF-8 (lone
        surrogates, which strict JSON readers refuse) shown as ``\\xNN``, as on the terminal."""
        out: dict[str, Any] = {
            "input": self.input, "output": self.output, "input_size": self.input_size,
            "output_size": self.output_size, "seconds": round(self.seconds, 3),
            "status": self.status, "error": self.error, "tile": self.tile,
            "tiling_exact": self.tiling_exact, "warnings": list(self.warnings)}
        if self.model is not None:
            out["model"] = self.model
        if self.media is not None:  # image records stay as they were
            from srgan_cli.upscaling.media_jobs import result_kind

            out[result_kind(self.media)] = self.media.as_record()
        return _without_surrogates(out)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    """`value` (JSON values) with each lone surrogate in its strings escaped by `escape`."""
    if isinstance(value, str):
        return _SURROGATE.sub(lambda m: escape(m.group()), value)
    if isinstance(value, dict):
        return {k: _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_surrogates(v) for v in value]
    return value


@dataclass
class BatchResult:
    """Every image's record, in job order, the wall time of the run, and where it went."""

    records: list[Record] = field(default_factory=list)
    seconds: float = 0.0
    model_seconds: float = 0.0  # time the model ran
    wait_seconds: float = 0.0  # time the model waited for a decode or for the encoder

    @property
    def failed(self) -> list[Record]:
        return [r for r in self.records if r.status == "error"]

    @property
    def exit_code(self) -> int:
        """0 when no image failed, else the failures' common exit code, else EXIT_MIXED."""
        codes = {r.exit_code for r in self.failed}
        if not codes:
            return 0
        return codes.pop() if len(codes) == 1 else EXIT_MIXED

    def check(self) -> None:
        """Raise BatchError when an image failed: a single image's own error line, else
        'N of M images failed' (the reporter has already been given every failed record)."""
        failed = self.failed
        if not failed:
            return
        if len(self.records) == 1:
            raise BatchError(failed[0].error or "failed", failed[0].exit_code)
        raise BatchError(f"{len(failed)} of {len(self.records)} images failed", self.exit_code)


class Reporter:
    """Told what a batch does; every method is a no-op here, override those you need.

    Called from the thread that runs the batch, in this order: `note`s, `batch_started`, then
    per job `image_started`, any `image_progress`, `image_finished`; `batch_finished` last.
    (Jobs overlap in the pipeline; their calls are held back so that this order holds.)"""

    def note(self, text: str) -> None:
        """Something the user should know that is not an image's result."""

    def batch_started(self, jobs: Sequence[Job]) -> None:
        """The planned jobs, before the first runs."""

    def image_started(self, job: Job) -> None:
        """`job` is about to run."""

    def image_progress(self, job: Job, done: int, total: int) -> None:
        """LR pixels of `job` done so far, of `total`."""

    def frame_progress(self, job: Job, done: int, total: int | None) -> None:
        """Frames of video or animation `job` done so far, of `total` (None: unknown)."""

    def image_finished(self, record: Record) -> None:
        """The record of the job started last."""

    def batch_finished(self, result: BatchResult) -> None:
        """Every job has run."""


def record_line(rec: Record) -> str:
    """The one line a terminal shows for `rec` (names escaped): `IN -> OUT  WxH -> WxH  s`
    (then `; warning` for each note on the input), `IN: skipped, why`, or `error: message`."""
    if rec.status == "error":
        return f"error: {rec.error}"
    if rec.status == "skipped":
        return f"{show_path(rec.input)}: skipped, {rec.note}"
    (w, h), (ow, oh) = rec.input_size or (0, 0), rec.output_size or (0, 0)
    line = (f"{show_path(rec.input)} -> {show_path(rec.output or '')}  {w}x{h} -> {ow}x{oh}  "
            f"{rec.seconds:.2f} s")
    if rec.media is not None:
        from srgan_cli.upscaling.media_jobs import media_note

        line += f"  ({media_note(rec.media)})"
    return "; ".join((line, *rec.warnings))


def summary_line(result: BatchResult) -> str:
    """'6 upscaled, 0 skipped, 0 failed, 12.3 s, 1.8 MP/s' (output megapixels per second)."""
    counts = {s: sum(r.status == s for r in result.records) for s in ("ok", "skipped", "error")}
    pixels = sum(r.output_size[0] * r.output_size[1] for r in result.records
                 if r.status == "ok" and r.output_size)
    rate = pixels / 1e6 / result.seconds if result.seconds > 0 else 0.0
    return (f"{counts['ok']} upscaled, {counts['skipped']} skipped, {counts['error']} failed, "
            f"{result.seconds:.1f} s, {rate:.1f} MP/s")


# ----------------------------------------------------------------------------- one image


def skips_existing(job: Job, options: UpscaleOptions) -> bool:
    """Whether an output of `job` that exists is left alone and the job skipped: always with
    --skip-existing, and without --overwrite for jobs a batch planned (so re-running a batch
    redoes nothing); whether it existed at planning or appeared while the batch ran."""
    return options.skip_existing or (job.keep_existing_output and not options.overwrite)


def ready_output(job: Job, options: UpscaleOptions, *, check_output: bool = True) -> str | None:
    """Before any pixel is read: raise the job's planned error, or return why it is skipped,
    or create its output folder, check that the output may be written (`check_output` False:
    the video or animation writer checks its own kind of target) and return None.

    An output that exists is skipped (not an error) with --skip-existing, and for jobs that a
    batch planned (`job.keep_existing_output`, so re-running a batch redoes nothing) unless
    --overwrite; the one output named by IN OUT or --output FILE is refused instead."""
    from srgan_cli.media.encode import check_output_path

    if job.error is not None:
        raise job.error
    if job.skip_reason is not None:
        return job.skip_reason
    assert job.output is not None
    if skips_existing(job, options) and job.output.exists() and not job.output.is_dir():
        if not options.skip_existing and options.made_by is not None:
            from srgan_cli.upscaling.provenance import check_same_maker

            check_same_maker(job.output, options.made_by)  # another model's output: refused
        return f"{show_path(job.output)} exists"
    if job.make_folder:
        try:
            job.output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{show_path(job.output)}: cannot create the output folder "
                              f"({e.strerror or e})") from None
    if check_output:
        check_output_path(job.output, overwrite=options.overwrite)
    return None


def run_or_record_error(rec: Record, job: Job, step: Callable[[], Any], *,
                        skip_existing: bool = False) -> Any:
    """Run one step of `job` and return its result; or turn what it raises into an error
    `rec` and return None (one broken image does not stop the batch). With `skip_existing`
    (`skips_existing`), an output found to exist when it is written (another process wrote
    it since planning) makes `rec` a skip, as if it had been there from the start."""
    try:
        return step()
    except OutputExistsError as e:
        if skip_existing and job.output is not None:
            rec.status, rec.note = "skipped", f"{show_path(job.output)} exists"
        else:
            rec.status, rec.error, rec.exit_code = "error", str(e), e.exit_code
    except SrganError as e:
        rec.status, rec.error, rec.exit_code = "error", str(e), e.exit_code
    except OSError as e:
        if is_closed_stdout(e):  # stdout's reader went away while a progress line was
            raise StreamClosed(str(e)) from e  # printed: not this image's fault
        rec.status, rec.exit_code = "error", OutputError.exit_code
        rec.error = f"{show_path(job.output or job.input)}: {e.strerror or e}"
    except Exception as e:  # one broken image must not stop the batch
        if debug():
            raise
        rec.status, rec.exit_code = "error", EXIT_INTERNAL
        rec.error = f"{show_path(job.input)}: {internal_error_line(e)}"
    return None


def load_step(job: Job, options: UpscaleOptions) -> tuple[Record, ImageData | MediaInput | None]:
    """Prepare and decode `job`: its Record, and the image (None when skipped or failed; a
    MediaInput, not yet read, for a video or an animation)."""
    from srgan_cli.media.decode import read_image
    from srgan_cli.upscaling.media_jobs import MediaInput, media_kind

    start = time.perf_counter()
    rec = Record(str(job.input), None if job.output is None else str(job.output), "ok")
    rec.model = None if options.made_by is None else options.made_by.as_json()

    def load() -> ImageData | MediaInput | None:
        kind = media_kind(job.input) if job.error is None and job.skip_reason is None else None
        skip = ready_output(job, options, check_output=kind is None)
        if skip is not None:
            rec.status, rec.note = "skipped", skip
            return None
        if kind is not None:
            return MediaInput(job.input, kind)
        img = read_image(job.input, max_pixels=options.pixel_limit,
                         allow_damaged=options.allow_damaged)
        rec.input_size = list(img.size)
        rec.warnings.extend(img.warnings)
        return img

    img = run_or_record_error(rec, job, load, skip_existing=skips_existing(job, options))
    rec.seconds += time.perf_counter() - start
    return rec, img


def upscale_step(
    img: ImageData, upscaler: ImageUpscaler, options: UpscaleOptions,
    progress_cb: ProgressCb | None = None, rec: Record | None = None,
) -> ImageData:
    """The model's result for `img`: colour through the model; alpha by MATLAB bicubic, or with
    --alpha-upsampler model replicated to three channels, upscaled alike, one channel kept.
    The tile used and whether tiling was exact go into `rec`."""
    if options.alpha_upsampler != "model" or img.alpha is None:
        result = upscaler.upscale_image(img, options.outscale, progress_cb)
    else:
        import numpy as np

        color = upscaler.upscale_image(img.replace(color=img.color, alpha=None),
                                       options.outscale, progress_cb)
        alpha3 = np.repeat(img.alpha[..., None], 3, axis=2)
        alpha = upscaler.upscale_image(img.replace(color=alpha3, alpha=None), options.outscale)
        result = color.replace(color=color.color,
                               alpha=np.ascontiguousarray(alpha.color[..., 0]))
    if rec is not None:
        rec.tile, rec.tiling_exact = upscaler.tile, upscaler.tiling_exact
    return result


def media_step(job: Job, rec: Record, media: MediaInput, upscaler: ImageUpscaler,
               options: UpscaleOptions, progress: FrameProgress | None = None) -> None:
    """Decode, upscale and encode every frame of `media` (its own threads overlap them);
    the result or the failure goes into `rec`."""
    from srgan_cli.upscaling.media_jobs import media_warnings, run_media

    start = time.perf_counter()
    assert job.output is not None
    out = job.output

    def run() -> None:
        result = run_media(media, out, upscaler, outscale=options.outscale,
                           codec=options.codec, crf=options.crf, pix_fmt=options.pix_fmt,
                           quality=options.quality, overwrite=options.overwrite,
                           progress=progress, max_pixels=options.pixel_limit,
                           max_output_pixels=options.max_output_pixels)
        rec.media = result
        rec.warnings.extend(media_warnings(result))
        rec.input_size = [result.width, result.height]
        rec.output_size = [result.out_width, result.out_height]

    run_or_record_error(rec, job, run, skip_existing=skips_existing(job, options))
    rec.tile, rec.tiling_exact = upscaler.tile, upscaler.tiling_exact
    rec.seconds += time.perf_counter() - start


def save_step(job: Job, rec: Record, result: ImageData, options: UpscaleOptions) -> None:
    """Encode `result` to `job.output` (atomic); failures go into `rec`."""
    from srgan_cli.media.encode import write_image

    start = time.perf_counter()
    assert job.output is not None
    out = job.output

    def save() -> None:
        img = result
        if options.made_by is not None and not options.strip_metadata:
            from srgan_cli.upscaling.provenance import stamped

            img = stamped(result, options.made_by)
        write_image(out, img, overwrite=options.overwrite, quality=options.quality,
                    strip_metadata=options.strip_metadata)
        rec.output_size = list(result.size)

    run_or_record_error(rec, job, save, skip_existing=skips_existing(job, options))
    rec.seconds += time.perf_counter() - start


def load_upscaler(options: UpscaleOptions, reporter: Reporter | None = None, *,
                  model: ModelDescriptor | None = None) -> Upscaler:
    """The Upscaler of `options`: its model loaded (or the already loaded `model`), its device
    resolved once."""
    from srgan_cli.models.bundled import BICUBIC, DEFAULT_MODEL, default_model_spec
    from srgan_cli.models.loading import load
    from srgan_cli.upscaling.upscaler import Upscaler

    if model is None:
        spec = options.model if options.model is not None else default_model_spec()
        if options.model is None and spec == BICUBIC and reporter is not None:
            reporter.note(f"note: the default model {DEFAULT_MODEL} is not installed; using "
                          "bicubic")
        model = load(spec)
    device = distributed.rank_device(options.device, distributed.from_env())  # torchrun: own GPU
    return Upscaler(model, device=device, precision=options.precision,
                    tile=options.tile, tile_pad=options.tile_pad, batch_size=options.batch_size,
                    memory_budget=options.memory_budget, tta=options.tta)
