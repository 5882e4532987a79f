"""`srgan upscale`: parse the arguments into one UpscaleOptions, run the batch engine, print.

The engine (`pipeline.run_batch` over `batch` and `planning`) decides and runs everything;
this module only turns its reports into terminal output. On a terminal: one live display on
stderr (an `images` bar for a batch and one bar per image, in input pixels), every result line
printed above it through its console, and a summary line at the end. Piped: plain lines, no
ANSI codes, the summary too (for two or more images). With --json one record per image on
stdout (the summary then goes to stderr); with -q only errors (and --json records).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from srgan_cli.cli.console import QUIET_OPTION
from srgan_cli.cli.params import (
    EXT_OPTIONS,
    MODEL_PANEL,
    DenoiseStrength,
    Device,
    GpuId,
    Model,
    Offline,
    Precision,
    Tile,
    Tta,
)
from srgan_cli.errors import UsageError
from srgan_cli.media.output_options import METADATA_HELP, QUALITY_HELP
from srgan_cli.messages import render, show_path
from srgan_cli.options import parse_bytes
from srgan_cli.upscaling.batch import (
    BatchResult,
    Record,
    Reporter,
    UpscaleOptions,
    load_upscaler,
    record_line,
    summary_line,
)
from srgan_cli.upscaling.pipeline import run_batch
from srgan_cli.upscaling.planning import DEFAULT_MAX_OUTPUT_PIXELS, Job

if TYPE_CHECKING:
    from srgan_cli.models.descriptor import ModelDescriptor

_OUT = "Output"
_LIMITS = "Limits"
_VIDEO = "Videos"


def remaining_seconds(done: int, total: int | None, elapsed: float) -> float | None:
    """A video's time left at its average rate since it started (start-up included, so never
    the optimistic guess a burst of frames gives); None until a frame is done or with no
    frame count."""
    if total is None or done <= 0 or elapsed <= 0:
        return None
    return max(0, total - done) * elapsed / done


class _TerminalReporter(Reporter):
    """Prints a batch: through the live display's console while it is shown (never to another
    stream that is the same terminal), plain lines otherwise."""

    def __init__(self, *, json_out: bool, quiet: bool, live: Any = None) -> None:
        from srgan_cli.cli.console import stderr_console, stdout_console

        self.json_out, self.quiet, self.live = json_out, quiet, live
        self.err = live.console if live is not None else stderr_console()
        # result lines: above the display when stdout is that terminal, else plain on stdout
        self.out = self.err if live is not None and sys.stdout.isatty() else stdout_console()
        self.many = False
        self.images: Any = None
        self.image: Any = None
        self.result: BatchResult | None = None
        self.started_at = 0.0  # when the job shown started (frames per second of a video)

    def _print(self, console: Any, text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        if not self.quiet:
            self._print(self.err, text)

    def batch_started(self, jobs: Sequence[Job]) -> None:
        self.many = len(jobs) > 1
        if self.live is not None:
            if self.many:
                self.images = self.live.add_task("images", total=len(jobs))
            self.image = self.live.add_task("", total=None, visible=False)

    def image_started(self, job: Job) -> None:
        if self.live is not None:
            from rich.markup import escape

            self.live.reset(self.image, total=None, visible=True, eta=None,
                            description=escape(show_path(job.input.name)))
        self.started_at = time.perf_counter()

    def image_progress(self, job: Job, done: int, total: int) -> None:
        if self.live is not None:
            self.live.update(self.image, completed=done, total=total)

    def frame_progress(self, job: Job, done: int, total: int | None) -> None:
        """The bar over a video's frames, its name with the frames per second so far."""
        if self.live is not None:
            from rich.markup import escape

            elapsed = time.perf_counter() - self.started_at
            fps = f"  {done / elapsed:.1f} fps" if elapsed > 0 else ""
            self.live.update(self.image, completed=done, total=total,
                             eta=remaining_seconds(done, total, elapsed),
                             description=escape(show_path(job.input.name)) + fps)

    def image_finished(self, record: Record) -> None:
        if self.live is not None:
            self.live.update(self.image, visible=False)
            if self.images is not None:
                self.live.advance(self.images)
        if self.json_out:
            line = json.dumps(record.as_json())
            if self.out is self.err:
                self._print(self.out, line)
            else:
                print(line, flush=True)
        elif record.status == "error":
            if self.many:  # a single image's error is the line cli prints
                self._print(self.err, record_line(record))
        elif not self.quiet:
            self._print(self.out, record_line(record))

    def batch_finished(self, result: BatchResult) -> None:
        self.result = result

    def summary(self) -> None:
        """The summary line of a batch of several images, after the live display has gone
        (on stderr with --json)."""
        if self.result is not None and self.many and not self.quiet:
            self._print(self.err if self.json_out else self.out, summary_line(self.result))


# Options of `srgan upscale` only; those it shares with other commands are in `params`.
Inputs = Annotated[list[str] | None, typer.Argument(
    metavar="INPUT... | IN OUT", show_default=False,
    help="Images, folders of images and glob patterns ('photos/*.jpg', quoted or not). "
    "Exactly two paths, without -o, --suffix or --ext, mean IN OUT: upscale IN and write "
    "the new file OUT (its extension picks the format; missing folders are created), "
    "unless the second is an existing folder (then both are inputs) or an existing image "
    "(refused: to replace a file use --output FILE --overwrite); a new folder written with a "
    "trailing '/' (out/) is the output folder, as -o out. Files that folders or "
    "patterns find and that this run writes itself (photo_x4.png beside photo.png) are "
    "skipped.")]
InputOption = Annotated[list[str] | None, typer.Option(
    "--input", "-i", metavar="INPUT", show_default=False,
    help="Real-ESRGAN's -i: an input, as if given as INPUT (repeatable).")]
PrePad = Annotated[int | None, typer.Option("--pre_pad", "--pre-pad", hidden=True)]
FaceEnhance = Annotated[bool, typer.Option("--face_enhance", "--face-enhance", hidden=True)]
OutputFile = Annotated[str | None, typer.Option(
    "--output", "-O", metavar="FILE|DIR", show_default=False, rich_help_panel=_OUT,
    help="Write the result of the one INPUT to FILE (its extension picks the format); an "
    "existing FILE is replaced only with --overwrite. An existing folder, or a path ending "
    "in '/', means -o DIR.")]
OutputDir = Annotated[Path | None, typer.Option(
    "--output-dir", "-o", metavar="DIR", show_default=False, rich_help_panel=_OUT,
    help="Write the results into DIR (created if needed; subfolders of a --recursive "
    "folder input are mirrored). Without -o, results go beside their inputs. A name with an "
    "image or video extension that is not an existing folder (-o out.png) means --output "
    "FILE.")]
Suffix = Annotated[str | None, typer.Option(
    "--suffix", metavar="TEXT", show_default=False, rich_help_panel=_OUT,
    help="Appended to each output's file name before the extension. "
    "Default: none with -o DIR, '_x4' (the scale) beside the inputs.")]
Ext = Annotated[str | None, typer.Option(
    "--ext", metavar="EXT", show_default=False, rich_help_panel=_OUT, **EXT_OPTIONS,
    help="Output format for several inputs: png, jpg, jpeg, bmp, tif, tiff or webp; auto "
    "(the default) keeps the input's own format.")]
Quality = Annotated[int | None, typer.Option(
    "--quality", metavar="N", help=QUALITY_HELP, show_default=False, rich_help_panel=_OUT)]
StripMetadata = Annotated[bool, typer.Option(
    "--strip-metadata", help=render(METADATA_HELP, as_flags=True), rich_help_panel=_OUT)]
Recursive = Annotated[bool, typer.Option(
    "--recursive", "-r", help="Also take images in subfolders of folder inputs, and let '**' "
    "in patterns match subfolders.")]
Overwrite = Annotated[bool, typer.Option(
    "--overwrite", rich_help_panel=_OUT, help="Replace outputs that exist. Without it a batch "
    "skips them (so re-running it redoes nothing) and IN OUT / --output FILE refuse.")]
SkipExisting = Annotated[bool, typer.Option(
    "--skip-existing", rich_help_panel=_OUT, help="Leave outputs that exist alone and report "
    "the image as skipped, also for IN OUT and --output FILE.")]
Outscale = Annotated[float | None, typer.Option(
    "--outscale", "-s", metavar="FACTOR", show_default=False, rich_help_panel=MODEL_PANEL,
    help="Final size factor: the model's scale is applied, then MATLAB bicubic resizes to "
    "round(size x FACTOR). Default: the model's scale.")]
AlphaUpsampler = Annotated[str, typer.Option(
    "--alpha-upsampler", metavar="bicubic|model", rich_help_panel=MODEL_PANEL,
    help="How the alpha channel is upscaled: MATLAB bicubic, or through the model "
    "(replicated to three channels, as Real-ESRGAN does; slower).")]
Fp32 = Annotated[bool, typer.Option("--fp32", hidden=True, help="Same as --precision fp32.")]
TilePad = Annotated[int | None, typer.Option(
    "--tile-pad", metavar="N", show_default=False, rich_help_panel=MODEL_PANEL,
    help="Pixels of context around each tile. Default: the model's receptive radius (exact), "
    "or its default pad for windowed models; less is faster but can show seams.")]
TilePadAlias = Annotated[int | None, typer.Option("--tile_pad", hidden=True)]
BatchSize = Annotated[int, typer.Option(
    "--batch-size", metavar="N", help="Tiles per forward pass (GPU throughput).",
    rich_help_panel=MODEL_PANEL)]
MaxPixels = Annotated[int | None, typer.Option(
    "--max-pixels", metavar="N", show_default=False, rich_help_panel=_LIMITS,
    help="Refuse inputs larger than N pixels (decompression-bomb guard; 0 = no limit). "
    "Default: about 89 million.")]
MaxOutputPixels = Annotated[int, typer.Option(
    "--max-output-pixels", metavar="N", rich_help_panel=_LIMITS,
    help="Refuse, before any work, an image whose output would have more than N pixels "
    "(0 = no limit; outputs that would not fit in the available memory are refused anyway).")]
MemoryBudget = Annotated[str | None, typer.Option(
    "--memory-budget", metavar="SIZE", show_default=False, rich_help_panel=_LIMITS,
    help="Memory for the model's activations: without --tile, the tile is the largest that "
    "fits it (the whole image when it fits). E.g. 2G or 512M. Default: most of the free GPU "
    "memory, or a share of RAM on the CPU.")]
AllowDamaged = Annotated[bool, typer.Option(
    "--allow-damaged", rich_help_panel=_LIMITS, help="Upscale damaged inputs (a truncated "
    "file, a JPEG cut short): what decodes is kept, the rest filled; the result line and the "
    "--json record's 'warnings' say so. Default: refuse them.")]
Codec = Annotated[str | None, typer.Option(
    "--codec", metavar="ENCODER", show_default=False, rich_help_panel=_VIDEO,
    help="Videos: the FFmpeg video encoder (libx264, libx265, libvpx-vp9, libaom-av1, mpeg4, "
    "...). Default: H.264 where this FFmpeg has an encoder for it, else the best one it has "
    "for the container.")]
Crf = Annotated[int | None, typer.Option(
    "--crf", metavar="N", show_default=False, rich_help_panel=_VIDEO,
    help="Videos: constant-quality value of the encoder (lower is better; default 18 for "
    "libx264, 20 for libx265, 24 for AV1 and VP9).")]
PixFmt = Annotated[str | None, typer.Option(
    "--pix-fmt", metavar="FORMAT", show_default=False, rich_help_panel=_VIDEO,
    help="Videos: pixel format of the output (yuv420p, yuv444p, ...). Default: the source's "
    "when the encoder takes it, else yuv420p (yuv444p for an odd size).")]
JsonOut = Annotated[bool, typer.Option(
    "--json", help="Print one JSON record per image on stdout: input, output, input_size, "
    "output_size (width, height), seconds, status (ok, error, skipped), error, tile (0: whole "
    "image), tiling_exact (false: tiled approximately), warnings (notes on the input, e.g. "
    "damaged data accepted); a video also has 'video' (codec, pix_fmt, crf, frames_in, "
    "frames_out, fps, duration, copied_streams, frames_per_second, wait_decode, wait_encode), "
    "an animation 'animation'.")]


def upscale_command(
    inputs: Inputs = None,
    input_option: InputOption = None,
    output: OutputFile = None,
    output_dir: OutputDir = None,
    suffix: Suffix = None,
    ext: Ext = None,
    quality: Quality = None,
    strip_metadata: StripMetadata = False,
    recursive: Recursive = False,
    overwrite: Overwrite = False,
    skip_existing: SkipExisting = False,
    model: Model = None,
    denoise_strength: DenoiseStrength = None,
    offline: Offline = False,
    outscale: Outscale = None,
    alpha_upsampler: AlphaUpsampler = "bicubic",
    device: Device = "auto",
    gpu_id: GpuId = None,
    precision: Precision = "auto",
    fp32: Fp32 = False,
    pre_pad: PrePad = None,
    face_enhance: FaceEnhance = False,
    tile: Tile = None,
    tile_pad: TilePad = None,
    tile_pad_alias: TilePadAlias = None,
    batch_size: BatchSize = 1,
    tta: Tta = False,
    max_pixels: MaxPixels = None,
    max_output_pixels: MaxOutputPixels = DEFAULT_MAX_OUTPUT_PIXELS,
    memory_budget: MemoryBudget = None,
    allow_damaged: AllowDamaged = False,
    codec: Codec = None,
    crf: Crf = None,
    pix_fmt: PixFmt = None,
    json_out: JsonOut = False,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Upscale images, videos and animations with a super-resolution model.

    Examples:
    srgan upscale photo.png photo_x4.png
    srgan upscale clip.mp4 clip_x4.mp4
    srgan upscale photo.png --output old_x4.png --overwrite
    srgan upscale shots/ -o big/ --ext png
    srgan upscale "*.jpg" -o out --model bicubic -s 2
    srgan upscale -i inputs -o results -n realesr-general-x4v3 -dn 0.5 -s 3.5 -g 0

    Videos (.mp4, .mov, .mkv, .webm, .avi) and animated GIF/APNG/WebP come out as the same
    kind of file, every frame upscaled; an interrupted video starts again from its first
    frame. Real-ESRGAN spellings work too: -i/--input, -o DIR, -n NAME, -s/--outscale, -dn,
    -g N, -t/--tile, --tile_pad, --fp32, --ext auto, --alpha-upsampler (--pre_pad is accepted
    and ignored; --face_enhance is refused with what to use instead). Exit codes: 0 all done
    (outputs that exist are skipped), 2 usage, 3 input image, 4 output, 5 model, 10 device,
    130 interrupted
    (Ctrl-C, SIGTERM or SIGHUP; no partial file is left), 141 stdout closed by its reader;
    a batch whose failures have different causes exits with 1.
    """
    from srgan_cli.cli.console import is_quiet
    from srgan_cli.signals import terminate_as_interrupt

    try:
        with terminate_as_interrupt():
            if fp32 and precision.strip().lower() not in ("auto", "fp32"):
                raise UsageError(f"--fp32 contradicts --precision {precision}")
            if tile_pad_alias is not None and tile_pad not in (None, tile_pad_alias):
                raise UsageError("--tile_pad and --tile-pad differ; give one")
            inputs = [*(inputs or []), *(input_option or [])]
            device = _realesrgan_flags(inputs, device, gpu_id, pre_pad, face_enhance,
                                       quiet or is_quiet())
            if output is None and output_dir is not None and _names_a_file(output_dir):
                output, output_dir = str(output_dir), None  # -o out.png: --output out.png
            budget = None if memory_budget is None else parse_bytes(memory_budget)
            options = UpscaleOptions(
                output=output, output_dir=output_dir, suffix=suffix,
                ext=None if ext is not None and ext.lower() == "auto" else ext,
                recursive=recursive, overwrite=overwrite, skip_existing=skip_existing,
                model=model, outscale=outscale, device=device,
                precision="fp32" if fp32 else precision, tile=tile,
                tile_pad=tile_pad if tile_pad is not None else tile_pad_alias,
                batch_size=batch_size, max_pixels=max_pixels,
                max_output_pixels=max_output_pixels,
                alpha_upsampler=alpha_upsampler.strip().lower(), tta=tta, codec=codec,
                crf=crf, pix_fmt=pix_fmt, quality=quality, strip_metadata=strip_metadata,
                allow_damaged=allow_damaged, memory_budget=budget)
            loaded = _catalogue_model(model, denoise_strength, offline)
            _upscale(inputs, options, json_out=json_out, quiet=quiet or is_quiet(), model=loaded)
    except KeyboardInterrupt:
        # cli.main says "interrupted" and exits 130. The image being written is a temporary
        # file that atomic_write has already removed; flush the --json records written so far.
        sys.stdout.flush()
        raise


def _realesrgan_flags(inputs: list[str], device: str, gpu_id: int | None,
                      pre_pad: int | None, face_enhance: bool, quiet: bool) -> str:
    """The device after Real-ESRGAN's -g; UsageError for no input, --face_enhance or a -g that
    contradicts --device; a note that --pre_pad is ignored."""
    if face_enhance:
        raise UsageError("--face_enhance: srgan does not restore faces; run GFPGAN or "
                         "CodeFormer on the upscaled image instead")
    if not inputs:
        raise UsageError("give an INPUT (or -i INPUT): an image, a folder or a pattern")
    if pre_pad is not None and not quiet:
        from srgan_cli.cli.console import stderr_console

        stderr_console().print("note: --pre_pad is ignored: the model runs on the image as it "
                               "is (tiles take their context from --tile-pad)", markup=False,
                               highlight=False)
    if gpu_id is None:
        return device
    if gpu_id < 0:
        raise UsageError(f"--gpu-id must be >= 0, got {gpu_id}")
    if device.strip().lower() not in ("auto", f"cuda:{gpu_id}"):
        raise UsageError(f"--gpu-id {gpu_id} contradicts --device {device}")
    return f"cuda:{gpu_id}"


def _names_a_file(path: Path) -> bool:
    """-o PATH names an output file rather than a folder: an image, animation or video
    extension, not an existing folder, not ending in a separator."""
    from srgan_cli.media.formats import VIDEO_SUFFIXES, WRITE_EXTENSIONS

    text = str(path)
    return (not text.endswith(("/", os.sep)) and not path.is_dir()
            and path.suffix.lower() in WRITE_EXTENSIONS | set(VIDEO_SUFFIXES))


def _catalogue_model(model: str | None, denoise_strength: float | None, offline: bool
                     ) -> ModelDescriptor | None:
    """The model blended with its denoise twin for -dn; with --offline a catalogue model is
    checked to be cached (never downloaded); None: `load_upscaler` loads --model itself."""
    if denoise_strength is not None:
        from srgan_cli.models.denoise import load_denoised
        from srgan_cli.options import check_denoise_strength

        check_denoise_strength(denoise_strength)
        if model is None:
            raise UsageError("--denoise-strength needs --model (e.g. realesr-general-x4v3)")
        return load_denoised(model, denoise_strength, no_download=offline)
    if offline and model is not None:
        from srgan_cli.models import catalogue

        entry = catalogue.lookup(model)
        if entry is not None:
            catalogue.fetch(entry, no_download=True)
    return None


def _upscale(inputs: list[str], options: UpscaleOptions, *, json_out: bool, quiet: bool,
             model: ModelDescriptor | None = None) -> None:
    """Load the model, run the batch under one live display, print the summary, then raise
    BatchError (one line, the failures' exit code) if any image failed."""
    from contextlib import nullcontext

    from srgan_cli.cli.console import live_progress, stderr_console
    from srgan_cli.distributed import from_env

    # under torchrun only rank 0 shows anything: the records of every process, at the end
    live = live_progress() if sys.stderr.isatty() and not quiet and from_env().is_main else None
    reporter = _TerminalReporter(json_out=json_out, quiet=quiet, live=live)
    name = model.name if model is not None else options.model or "the default model"
    loading = nullcontext() if live is None else stderr_console().status(
        f"loading {name} ...", spinner="dots")
    with loading:  # torch and the weights take seconds: say so meanwhile
        upscaler = load_upscaler(options, reporter, model=model)
    with live if live is not None else nullcontext():
        result = run_batch(inputs, options, reporter, upscaler=upscaler)
    reporter.summary()
    sys.stdout.flush()
    result.check()


def register(app: typer.Typer) -> None:
    app.command("upscale", no_args_is_help=True)(upscale_command)

