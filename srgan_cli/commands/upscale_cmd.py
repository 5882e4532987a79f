"""`srgan upscale`: parse the arguments into one UpscaleOptions, run the batch engine, print.

The engine (`srgan_cli.batch`, planning in `srgan_cli.planning`) decides and runs everything;
this module only turns its reports into terminal output: a progress display on a terminal, a
line per image (or one JSON record per image with --json), the failures listed at the end.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from srgan_cli.batch import (
    BatchResult,
    Record,
    Reporter,
    UpscaleOptions,
    load_upscaler,
    run_batch,
)
from srgan_cli.planning import Job


def _describe(rec: Record) -> str:
    if rec.status == "skipped":
        return f"{rec.input}: skipped, {rec.note}"
    (w, h), (ow, oh) = rec.input_size or (0, 0), rec.output_size or (0, 0)
    return f"{rec.input} -> {rec.output}  {w}x{h} -> {ow}x{oh}  {rec.seconds:.2f} s"


class _TerminalReporter(Reporter):
    """Progress bars on stderr (on a terminal), a line or a JSON record per image on stdout.

    Notes are printed before the progress display starts (`attach`), failures after it ends."""

    def __init__(self, *, json_out: bool, quiet: bool) -> None:
        from srgan_cli.console import stderr_console

        self.json_out, self.quiet = json_out, quiet
        self.err = stderr_console()
        self.bar: Any = None
        self.out: Any = None
        self.images: int | None = None
        self.tiles: int | None = None

    def attach(self, bar: Any) -> None:
        """Report into the progress display `bar` (rich's, or the no-op one when piped)."""
        from srgan_cli.console import stdout_console

        self.bar = bar
        self.out = stdout_console()  # made inside the display: a live display redirects stdout

    def note(self, text: str) -> None:
        if not self.quiet:
            self.err.print(text, markup=False)

    def batch_started(self, jobs: Sequence[Job]) -> None:
        if len(jobs) > 1:
            self.images = self.bar.add_task("images", total=len(jobs))

    def image_started(self, job: Job) -> None:
        self.tiles = self.bar.add_task(job.input.name, total=1)

    def image_progress(self, job: Job, done: int, total: int) -> None:
        self.bar.update(self.tiles, completed=done, total=total)

    def image_finished(self, record: Record) -> None:
        self.bar.remove_task(self.tiles)
        if self.images is not None:
            self.bar.advance(self.images)
        if self.json_out:
            print(json.dumps(record.as_json()), flush=True)
        elif not self.quiet and record.status != "error":
            self.out.print(_describe(record), markup=False)

    def list_failures(self, result: BatchResult) -> None:
        """Every failed image's error line, for a batch (one image's is the line cli prints)."""
        if len(result.records) > 1:
            for r in result.failed:
                self.err.print(f"error: {r.error}", markup=False)


def upscale_command(
    inputs: list[str] = typer.Argument(
        ..., metavar="INPUT... | IN OUT",
        help="Images, folders of images and glob patterns ('photos/*.jpg', quoted or not). "
        "Exactly two paths, without -o, --suffix or --ext, mean IN OUT: upscale IN and write "
        "the new file OUT (its extension picks the format), unless the second is an existing "
        "folder (then both are inputs) or an existing image (refused: to replace a file use "
        "--output FILE --overwrite). Files that folders or patterns find and that this run "
        "writes itself (photo_x4.png beside photo.png) are skipped.",
        show_default=False),
    output: Path | None = typer.Option(
        None, "--output", "-O", metavar="FILE",
        help="Write the result of the one INPUT to FILE (its extension picks the format); an "
        "existing FILE is replaced only with --overwrite.", show_default=False),
    output_dir: Path | None = typer.Option(
        None, "--output-dir", "-o", metavar="DIR",
        help="Write the results into DIR (created if needed; subfolders of a --recursive "
        "folder input are mirrored). Without -o, results go beside their inputs.",
        show_default=False),
    suffix: str | None = typer.Option(
        None, "--suffix", metavar="TEXT",
        help="Appended to each output's file name before the extension. "
        "Default: none with -o DIR, '_x4' (the scale) beside the inputs.", show_default=False),
    ext: str | None = typer.Option(
        None, "--ext", metavar="EXT", help="Output format for several inputs: png, jpg, jpeg, "
        "bmp, tif, tiff or webp. Default: the input's own format.", show_default=False),
    recursive: bool = typer.Option(
        False, "--recursive", "-r", help="Also take images in subfolders of folder inputs, and "
        "let '**' in patterns match subfolders."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace outputs that exist (by default that image fails)."),
    skip_existing: bool = typer.Option(
        False, "--skip-existing", help="Leave outputs that exist alone and report the image "
        "as skipped (for resuming a batch)."),
    model: str | None = typer.Option(
        None, "--model", "-m", metavar="NAME|PATH",
        help="A bundled model name (see 'srgan models'), a model file (.safetensors, .pth, .pt, "
        ".ckpt: SRResNet, MSRResNet, EDSR or any spandrel SR architecture; or .onnx), or "
        "'bicubic' (plain MATLAB bicubic x4). Default: srresnet_x4 when it is installed, "
        "else bicubic.", show_default=False),
    outscale: float | None = typer.Option(
        None, "--outscale", metavar="FACTOR", help="Final size factor: the model's scale is "
        "applied, then MATLAB bicubic resizes to round(size x FACTOR). Default: the model's "
        "scale.", show_default=False),
    device: str = typer.Option(
        "auto", "--device", metavar="DEVICE",
        help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps."),
    precision: str = typer.Option(
        "auto", "--precision", metavar="PRECISION",
        help="auto (bf16 on a CPU with native bf16, AVX512-BF16 or AMX; on CUDA bf16 where "
        "supported, else fp16; each only where the model allows it; else fp32), fp32, bf16, "
        "or fp16 (GPU only)."),
    tile: int | None = typer.Option(
        None, "--tile", metavar="N", help="Process the image in N x N low-resolution "
        "tiles to bound memory; the result is the same as untiled for convolutional models "
        "(see 'srgan models MODEL'). 0 = whole image at once. Default: the largest tile that "
        "fits the memory budget (the whole image when it fits). Halved automatically on GPU "
        "out-of-memory, and kept halved for the rest of the batch.",
        show_default=False),
    tile_pad: int | None = typer.Option(
        None, "--tile-pad", metavar="N", help="Pixels of context around each tile. "
        "Default: the model's receptive radius (exact), or its default pad for windowed "
        "models; less is faster but can show seams.",
        show_default=False),
    batch_size: int = typer.Option(
        1, "--batch-size", metavar="N", help="Tiles per forward pass (GPU throughput)."),
    max_pixels: int | None = typer.Option(
        None, "--max-pixels", metavar="N", help="Refuse inputs larger than N pixels "
        "(decompression-bomb guard; 0 = no limit). Default: about 89 million.",
        show_default=False),
    json_out: bool = typer.Option(
        False, "--json", help="Print one JSON record per image on stdout: input, output, "
        "input_size, output_size (width, height), seconds, status (ok, error, skipped), error, "
        "tile (0: whole image), tiling_exact (false: tiled approximately)."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Print nothing but errors (and --json records)."),
) -> None:
    """Upscale images with a super-resolution model.

    Examples: 'srgan upscale photo.png photo_x4.png', 'srgan upscale photo.png --output
    old_x4.png --overwrite', 'srgan upscale shots/ -o big/ --ext png', 'srgan upscale "*.jpg"
    -o out --model bicubic --outscale 2'. Exit codes: 0 all done, 2 usage, 3 input image,
    4 output, 5 model, 10 device, 130 interrupted (Ctrl-C; no partial file is left); a batch
    whose failures have different causes exits with 1.
    """
    try:
        options = UpscaleOptions(
            output=output, output_dir=output_dir, suffix=suffix, ext=ext, recursive=recursive,
            overwrite=overwrite, skip_existing=skip_existing, model=model, outscale=outscale,
            device=device, precision=precision, tile=tile, tile_pad=tile_pad,
            batch_size=batch_size, max_pixels=max_pixels)
        _upscale(inputs, options, json_out=json_out, quiet=quiet)
    except KeyboardInterrupt:
        # cli.main says "interrupted" and exits 130. The image being written is a temporary
        # file that atomic_write has already removed; flush the --json records written so far.
        sys.stdout.flush()
        raise


def _upscale(inputs: list[str], options: UpscaleOptions, *, json_out: bool, quiet: bool) -> None:
    """Load the model, run the batch under a progress display, list failures, then raise
    BatchError (one line, the failures' exit code) if any image failed."""
    from srgan_cli.console import progress

    reporter = _TerminalReporter(json_out=json_out, quiet=quiet)
    upscaler = load_upscaler(options, reporter)
    with progress(None if not quiet else False) as bar:
        reporter.attach(bar)
        result = run_batch(inputs, options, reporter, upscaler=upscaler)
    reporter.list_failures(result)
    sys.stdout.flush()
    result.check()


def register(app: typer.Typer) -> None:
    app.command("upscale", no_args_is_help=True)(upscale_command)
