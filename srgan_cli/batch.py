"""The batch engine: options -> Upscaler -> planned jobs -> runner -> records -> exit code.

No typer and no rich: whoever runs a batch (the CLI, a script) passes a `Reporter` that is told
each step, and gets a `BatchResult` back. Each image is independent: a bad one becomes an error
`Record` and the batch goes on; `BatchResult.check` then raises one `BatchError` whose exit code
is that of the failures' error type (EXIT_MIXED when they differ).

One image is four steps (`prepare`, decode, `upscaler.upscale_image`, encode), so that decoding
the next image and encoding the last can later run beside the model.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from srgan_cli.errors import (
    EXIT_INTERNAL,
    EXIT_MIXED,
    BatchError,
    OutputError,
    SrganError,
    UsageError,
    internal_error_line,
)
from srgan_cli.planning import Job, plan_jobs, scale_label
from srgan_cli.tiling import check_tiling

if TYPE_CHECKING:
    import torch

    from srgan_cli.imaging import ImageData
    from srgan_cli.upscale import ProgressCb, Upscaler


@dataclass(frozen=True)
class UpscaleOptions:
    """Everything `srgan upscale` takes besides its inputs, checked once when built.

    `model` None is the default model (bicubic when it is not installed); `tile` None is the
    device's default tile, 0 (WHOLE_IMAGE) the whole image; `max_pixels` None is the imaging
    default, 0 no limit."""

    output: Path | None = None  # --output FILE: the one output of the one input
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

    def __post_init__(self) -> None:
        if self.overwrite and self.skip_existing:
            raise UsageError("--overwrite and --skip-existing exclude each other")
        if self.outscale is not None and not self.outscale > 0:
            raise UsageError(f"--outscale must be positive, got {self.outscale}")
        if self.max_pixels is not None and self.max_pixels < 0:
            raise UsageError(f"--max-pixels must be >= 0 (0 = no limit), got {self.max_pixels}")
        check_tiling(self.tile, self.tile_pad, self.batch_size)

    @property
    def pixel_limit(self) -> int | None:
        """The decompression-bomb limit for `read_image` (None: no limit)."""
        from srgan_cli.imaging import DEFAULT_MAX_PIXELS

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

    def as_json(self) -> dict[str, Any]:
        return {"input": self.input, "output": self.output, "input_size": self.input_size,
                "output_size": self.output_size, "seconds": round(self.seconds, 3),
                "status": self.status, "error": self.error, "tile": self.tile,
                "tiling_exact": self.tiling_exact}


@dataclass
class BatchResult:
    """Every image's record, in job order, and the wall time of the run."""

    records: list[Record] = field(default_factory=list)
    seconds: float = 0.0

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


class ImageUpscaler(Protocol):
    """What the runner needs of an Upscaler (tests pass a fake)."""

    scale: int

    def upscale_image(
        self, img: ImageData, outscale: float | None = None, progress_cb: ProgressCb | None = None
    ) -> ImageData: ...


class Reporter:
    """Told what a batch does; every method is a no-op here, override those you need.

    Called from the thread that runs the batch, in this order: `note`s, `batch_started`, then
    per job `image_started`, any `image_progress`, `image_finished`; `batch_finished` last."""

    def note(self, text: str) -> None:
        """Something the user should know that is not an image's result."""

    def batch_started(self, jobs: Sequence[Job]) -> None:
        """The planned jobs, before the first runs."""

    def image_started(self, job: Job) -> None:
        """`job` is about to run."""

    def image_progress(self, job: Job, done: int, total: int) -> None:
        """LR pixels of `job` done so far, of `total`."""

    def image_finished(self, record: Record) -> None:
        """The record of the job started last."""

    def batch_finished(self, result: BatchResult) -> None:
        """Every job has run."""


# ----------------------------------------------------------------------------- one image


def prepare(job: Job, options: UpscaleOptions) -> str | None:
    """Before any pixel is read: raise the job's planned error, return why it is skipped (or
    None to run it), create its output folder and check that the output may be written."""
    from srgan_cli.imaging import check_output_path

    if job.error is not None:
        raise job.error
    if job.skip is not None:
        return job.skip
    assert job.output is not None
    if options.skip_existing and job.output.exists():
        return f"{job.output} exists"
    if job.make_folder:
        job.output.parent.mkdir(parents=True, exist_ok=True)
    check_output_path(job.output, overwrite=options.overwrite)
    return None


def run_job(
    job: Job,
    upscaler: ImageUpscaler,
    options: UpscaleOptions,
    progress_cb: ProgressCb | None = None,
) -> Record:
    """Check the output, read, upscale, write; every SrganError becomes an error Record."""
    from srgan_cli.imaging import read_image, write_image

    start = time.perf_counter()
    rec = Record(str(job.input), None if job.output is None else str(job.output), "ok")
    try:
        skip = prepare(job, options)
        if skip is not None:
            rec.status, rec.note = "skipped", skip
            return rec
        assert job.output is not None
        img = read_image(job.input, max_pixels=options.pixel_limit)
        rec.input_size = list(img.size)
        result = upscaler.upscale_image(img, options.outscale, progress_cb)
        write_image(job.output, result, overwrite=options.overwrite)
        rec.output_size = list(result.size)
        rec.tile = getattr(upscaler, "tile", None)
        rec.tiling_exact = getattr(upscaler, "tiling_exact", None)
    except SrganError as e:
        rec.status, rec.error, rec.exit_code = "error", str(e), e.exit_code
    except OSError as e:
        rec.status, rec.exit_code = "error", OutputError.exit_code
        rec.error = f"{job.output}: {e.strerror or e}"
    except Exception as e:  # one broken image must not stop the batch
        if os.environ.get("SRGAN_DEBUG") == "1":
            raise
        rec.status, rec.exit_code = "error", EXIT_INTERNAL
        rec.error = f"{job.input}: {internal_error_line(e)}"
    finally:
        rec.seconds = time.perf_counter() - start
    return rec


# ----------------------------------------------------------------------------- the batch


def run_jobs(
    jobs: Sequence[Job],
    upscaler: ImageUpscaler,
    options: UpscaleOptions,
    reporter: Reporter | None = None,
) -> BatchResult:
    """Run every job in order, telling `reporter`; never raises for one image's failure."""
    reporter = reporter or Reporter()
    start = time.perf_counter()
    result = BatchResult()
    reporter.batch_started(jobs)
    for job in jobs:
        reporter.image_started(job)

        def on_progress(done: int, total: int, job: Job = job) -> None:
            reporter.image_progress(job, done, total)

        rec = run_job(job, upscaler, options, on_progress)
        result.records.append(rec)
        reporter.image_finished(rec)
    result.seconds = time.perf_counter() - start
    reporter.batch_finished(result)
    return result


def load_upscaler(options: UpscaleOptions, reporter: Reporter | None = None) -> Upscaler:
    """The Upscaler of `options`: its model loaded, its device resolved once."""
    from srgan_cli.models.loading import load
    from srgan_cli.models.zoo import BICUBIC, DEFAULT_MODEL, default_model_spec
    from srgan_cli.upscale import Upscaler

    spec = options.model if options.model is not None else default_model_spec()
    if options.model is None and spec == BICUBIC and reporter is not None:
        reporter.note(f"note: the default model {DEFAULT_MODEL} is not installed; using bicubic")
    return Upscaler(load(spec), device=options.device, precision=options.precision,
                    tile=options.tile, tile_pad=options.tile_pad, batch_size=options.batch_size)


def run_batch(
    inputs: Sequence[str],
    options: UpscaleOptions,
    reporter: Reporter | None = None,
    *,
    upscaler: ImageUpscaler | None = None,
) -> BatchResult:
    """Upscale `inputs` (files, folders, globs; or IN OUT) as `options` say.

    Raises SrganError for what stops the whole batch (usage, model, device, output folder);
    a failed image is only a record (call `check()` on the result to raise for those). Pass an
    `upscaler` to reuse a loaded model across batches."""
    if upscaler is None:
        upscaler = load_upscaler(options, reporter)
    label = scale_label(options.outscale if options.outscale else upscaler.scale)
    jobs = plan_jobs(list(inputs), output_dir=options.output_dir, suffix=options.suffix,
                     ext=options.ext, recursive=options.recursive, scale_label=label,
                     output=options.output)
    return run_jobs(jobs, upscaler, options, reporter)
