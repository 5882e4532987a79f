"""Runs a batch: `run_batch` plans the jobs, and `run_jobs` overlaps the steps of
`srgan_cli.upscaling.batch` over them.

A reader thread prepares and decodes the next image and a writer thread encodes the last one
while the model (in the calling thread) works, each through a queue of one image
(`srgan_cli.media.thread_pipeline`, which video frames go through too), so a folder of N images
takes about N times the model time. Records and reporter calls stay in job order. On
KeyboardInterrupt (Ctrl-C, or SIGTERM/SIGHUP under `srgan_cli.signals`) the threads stop after
their current image, whose output is either complete or not there at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from srgan_cli import distributed
from srgan_cli.errors import UsageError
from srgan_cli.media.thread_pipeline import ThreadPipeline, Writer
from srgan_cli.messages import show_path
from srgan_cli.signals import deferred_interrupts
from srgan_cli.upscaling import provenance
from srgan_cli.upscaling.batch import (
    BatchResult,
    Record,
    Reporter,
    UpscaleOptions,
    load_step,
    load_upscaler,
    media_step,
    run_or_record_error,
    save_step,
    upscale_step,
)
from srgan_cli.upscaling.media_jobs import MediaInput
from srgan_cli.upscaling.planning import Job, check_output_sizes, plan_jobs, scale_label

if TYPE_CHECKING:
    from srgan_cli.media.decode import ImageData
    from srgan_cli.upscaling.upscaler import ImageUpscaler

Loaded = tuple[int, Record, "ImageData | MediaInput | None"]  # job index, record, input
Finished = tuple[int, Record, "ImageData"]  # job index, record, the model's result


class _ReporterInJobOrder:
    """Passes reporter calls on in job order while jobs overlap (from the model's thread and the
    writer's, one at a time: `lock`).

    Calls for a job wait until every earlier job's `image_finished` has been passed on; of its
    progress calls only the last one waits."""

    def __init__(self, reporter: Reporter, jobs: Sequence[Job]) -> None:
        self.reporter, self.jobs = reporter, jobs
        self.lock = threading.RLock()
        self.cursor = 0  # the first job whose record has not been passed on
        self.started: set[int] = set()
        self.progress: dict[int, tuple[int, int | None, bool]] = {}
        self.done: dict[int, Record] = {}

    def start(self, k: int) -> None:
        self.started.add(k)
        self._flush()

    def on_progress(self, k: int, done: int, total: int | None, frames: bool = False) -> None:
        self.progress[k] = (done, total, frames)
        self._flush()

    def finish(self, k: int, rec: Record) -> None:
        self.done[k] = rec
        self._flush()

    def _flush(self) -> None:
        with self.lock, deferred_interrupts():  # a line is printed and counted whole, or not
            self._pass_on()

    def _pass_on(self) -> None:
        while self.cursor < len(self.jobs):
            k, job = self.cursor, self.jobs[self.cursor]
            if k in self.started:
                self.started.discard(k)
                self.reporter.image_started(job)
            if k in self.progress and k not in self.started:
                done, total, frames = self.progress.pop(k)
                if frames:
                    self.reporter.frame_progress(job, done, total)
                elif total is not None:
                    self.reporter.image_progress(job, done, total)
            if k not in self.done:
                return
            self.reporter.image_finished(self.done.pop(k))
            self.cursor += 1


class _BatchRun:
    """One run of `run_jobs`: a reader and a writer thread around the model in this thread.

    Finished records go into `records` from whichever thread finished them (under `lock`), so
    an interrupt in this thread loses none; `report_finished` passes them on in job order, from
    the writer thread as soon as a file is renamed into place (its line and --json record then
    come out while the model works on the next image)."""

    def __init__(self, jobs: Sequence[Job], upscaler: ImageUpscaler, options: UpscaleOptions,
                 reporter: Reporter) -> None:
        self.jobs, self.upscaler, self.options = jobs, upscaler, options
        self.order = _ReporterInJobOrder(reporter, jobs)
        self.records: dict[int, Record] = {}
        self.reported: set[int] = set()
        self.lock = threading.Lock()
        self.model_seconds = self.wait_seconds = 0.0

    def _load_all(self) -> Iterator[Loaded]:
        """Reader thread: each job prepared and decoded, in order."""
        for k, job in enumerate(self.jobs):
            yield (k, *load_step(job, self.options))

    def _save_all(self, results: Iterator[Finished]) -> None:
        """Writer thread: each result encoded, and its record kept."""
        for k, rec, img in results:
            save_step(self.jobs[k], rec, img, self.options)
            self._done(k, rec)
            self.report_finished()

    def _done(self, k: int, rec: Record) -> None:
        with self.lock:
            self.records[k] = rec

    def report_finished(self) -> None:
        """Pass on the records finished so far, in job order."""
        with self.order.lock:  # one thread at a time passes records on
            with self.lock:
                new = sorted(self.records.keys() - self.reported)
            with deferred_interrupts():
                for k in new:
                    self.reported.add(k)
                    self.order.finish(k, self.records[k])

    def _media(self, k: int, rec: Record, media: MediaInput) -> None:
        """A video or animation, whole, in this thread (it overlaps its own frames)."""
        from srgan_cli.media.video import VideoResult

        def on_frames(done: int, total: int | None) -> None:
            self.order.on_progress(k, done, total, frames=True)
            self.report_finished()

        t0 = time.perf_counter()
        media_step(self.jobs[k], rec, media, self.upscaler, self.options, on_frames)
        waited = (rec.media.wait_decode + rec.media.wait_encode
                  if isinstance(rec.media, VideoResult) else 0.0)
        self.model_seconds += time.perf_counter() - t0 - waited
        self.wait_seconds += waited
        self._done(k, rec)

    def _model(self, k: int, rec: Record, img: ImageData, to_save: Writer[Finished]) -> None:
        """Run the model on job `k` in this thread and hand the result to the writer."""

        def on_progress(done: int, total: int) -> None:
            self.order.on_progress(k, done, total)
            self.report_finished()

        t0 = time.perf_counter()
        out = run_or_record_error(
            rec, self.jobs[k],
            lambda: upscale_step(img, self.upscaler, self.options, on_progress, rec))
        seconds = time.perf_counter() - t0
        rec.seconds += seconds
        self.model_seconds += seconds
        if out is None:
            self._done(k, rec)
            return
        to_save.put((k, rec, out))

    def run(self) -> list[Record]:
        """Every job's record, in job order."""
        with ThreadPipeline() as threads:
            loaded = threads.read_ahead(self._load_all(), size=1, name="srgan-decode")
            to_save: Writer[Finished] = threads.write_behind(self._save_all, size=1,
                                                             name="srgan-encode")
            try:
                for k, rec, img in loaded:
                    self.report_finished()
                    self.order.start(k)
                    if img is None:
                        self._done(k, rec)
                    elif isinstance(img, MediaInput):
                        self._media(k, rec, img)
                    else:
                        self._model(k, rec, img, to_save)
                to_save.finish(while_waiting=self.report_finished)
            except BaseException:
                threads.close()  # on an interrupt, the threads end after their current image
                with contextlib.suppress(BaseException):  # report what was written before
                    self.report_finished()
                raise
            finally:
                self.wait_seconds += loaded.waited + to_save.waited
        self.report_finished()
        return [self.records[k] for k in range(len(self.jobs))]


def run_jobs(
    jobs: Sequence[Job],
    upscaler: ImageUpscaler,
    options: UpscaleOptions,
    reporter: Reporter | None = None,
) -> BatchResult:
    """Run every job (decode, model, encode overlapped), telling `reporter` in job order;
    never raises for one image's failure."""
    reporter = reporter or Reporter()
    start = time.perf_counter()
    reporter.batch_started(jobs)
    batch = _BatchRun(jobs, upscaler, options, reporter)
    result = BatchResult(batch.run())
    result.seconds = time.perf_counter() - start
    result.model_seconds, result.wait_seconds = batch.model_seconds, batch.wait_seconds
    reporter.batch_finished(result)
    return result


def clean_stale_temps(jobs: Sequence[Job], reporter: Reporter) -> None:
    """Remove the temp files that killed runs left in the jobs' output folders, saying so."""
    from srgan_cli.fileio import clean_stale_temps as clean

    folders = sorted({job.output.parent for job in jobs if job.output is not None})
    for folder in folders:
        if folder.is_dir():
            removed = clean(folder)
            if removed:
                reporter.note(f"removed {len(removed)} stale temp file(s) in {show_path(folder)}")


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
    reporter = reporter or Reporter()
    if upscaler is None:
        upscaler = load_upscaler(options, reporter)
    model = getattr(upscaler, "model", None)  # a test's fake upscaler has none
    if options.made_by is None and model is not None:
        options = dataclasses.replace(options, made_by=provenance.of(
            model, options.outscale, options.tta, options.alpha_upsampler))
    label = scale_label(options.outscale if options.outscale else upscaler.scale)
    jobs = plan_jobs(list(inputs), output_dir=options.output_dir, suffix=options.suffix,
                     ext=options.ext, recursive=options.recursive, scale_label=label,
                     output=options.output)
    check_output_sizes(jobs, options.outscale or upscaler.scale,
                       max_output_pixels=options.max_output_pixels)
    info = distributed.from_env()
    clean_stale_temps(jobs, reporter if info.is_main else Reporter())
    if info.enabled:
        return run_shared(jobs, upscaler, options, reporter, info)
    return run_jobs(jobs, upscaler, options, reporter)


def run_shared(jobs: Sequence[Job], upscaler: ImageUpscaler, options: UpscaleOptions,
               reporter: Reporter, info: distributed.DistInfo) -> BatchResult:
    """Run this process's share of `jobs` (planned alike by every process under torchrun; job i
    is run by process i % world_size) and gather every record to rank 0.

    Rank 0 then tells `reporter` the whole batch, in job order, once all are done, and returns
    every record (its exit code is the batch's); the other processes tell it nothing and return
    an empty result. Plans that differ between processes (inputs that are not the same files
    everywhere) are a UsageError on every process before any image is read."""
    start = time.perf_counter()
    distributed.init(info)  # every process has planned (and read its folders) before any writes
    digest = hashlib.sha256(repr([(str(j.input), str(j.output), j.skip_reason, str(j.error))
                                  for j in jobs]).encode("utf-8", "surrogateescape")).hexdigest()
    if len(set(distributed.gather_all(digest, info))) > 1:
        raise UsageError(f"the {info.world_size} processes planned different jobs: every "
                         "process must see the same input files")
    if info.is_main:
        reporter.note(f"{len(jobs)} job(s) shared among {info.world_size} processes; the results "
                      "come when all are done")
    mine = run_jobs(distributed.shard(jobs, info), upscaler, options)
    parts = distributed.gather_to_main(
        (mine.records, mine.model_seconds, mine.wait_seconds), info)
    if parts is None:
        return BatchResult()
    result = BatchResult(distributed.unshard([records for records, _, _ in parts]))
    result.model_seconds = sum(model for _, model, _ in parts)
    result.wait_seconds = sum(wait for _, _, wait in parts)
    reporter.batch_started(jobs)
    for job, rec in zip(jobs, result.records, strict=True):
        reporter.image_started(job)
        reporter.image_finished(rec)
    result.seconds = time.perf_counter() - start
    reporter.batch_finished(result)
    return result
