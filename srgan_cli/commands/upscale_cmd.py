"""`srgan upscale`: upscale one image (IN OUT, IN --output FILE) or many (files, folders, globs).

Each image is independent: a bad one is reported and the batch goes on; failures are listed on
stderr at the end and the exit code is that of the failures' error type (1 when they differ).
No output may replace an input: two existing images are never read as IN OUT, an output that is
another input of the batch is an error of its image, and files that folders or globs turn up
which are outputs of this very batch (``a_x4.png`` beside ``a.png``) are skipped, so re-running
a batch does not upscale its own results.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from srgan_cli.errors import InputImageError, OutputError, SrganError, UsageError

if TYPE_CHECKING:
    from srgan_cli.upscale import Upscaler

EXIT_MIXED = 1
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
GLOB_CHARS = "*?["


@dataclass
class Job:
    """One image to upscale; `error` is set when planning already found it cannot be done."""

    input: Path
    output: Path | None = None
    error: SrganError | None = None
    make_folder: bool = False  # output under -o DIR: create its (mirrored) subfolder
    skip: str | None = None  # why it is left alone (it is an output of this batch)


@dataclass
class Source:
    """An input file, and the folder it was found under (to mirror subfolders with -o)."""

    path: Path
    root: Path | None = None
    named: bool = False  # given as a file argument, not found in a folder or by a pattern


# ----------------------------------------------------------------------------- planning


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    from srgan_cli.discovery import images_in

    return images_in(folder, recursive=recursive)


def expand_inputs(specs: list[str], recursive: bool) -> list[Source | Job]:
    """Files, folders (images in them; subfolders with `recursive`) and globs, in order, without
    duplicates. An argument that yields nothing becomes a failed Job."""
    from srgan_cli.imaging import READ_EXTENSIONS

    out: list[Source | Job] = []
    seen: set[Path] = set()

    def add(src: Source) -> None:
        key = src.path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(src)

    for spec in specs:
        p = Path(spec).expanduser()
        if p.is_dir():
            files = _images_in(p, recursive)
            if not files:
                exts = ", ".join(sorted(READ_EXTENSIONS))
                where = "or its subfolders " if recursive else ""
                hint = "" if recursive else "; use --recursive for subfolders"
                out.append(Job(p, error=InputImageError(
                    f"{p}: folder {where}has no images ({exts}){hint}")))
            for f in files:
                add(Source(f, p))
        elif p.exists() or not any(c in spec for c in GLOB_CHARS):
            if not p.exists():
                out.append(Job(p, error=InputImageError(f"{p}: no such file")))
            else:
                add(Source(p, named=True))
        else:
            matches = sorted(glob.glob(os.path.expanduser(spec), recursive=recursive))
            files = [Path(m) for m in matches
                     if Path(m).is_file() and Path(m).suffix.lower() in READ_EXTENSIONS]
            if not files:
                out.append(Job(p, error=InputImageError(f"{spec}: no image files match")))
            for f in files:
                add(Source(f))
    return out


def normalise_ext(ext: str | None) -> str | None:
    """'.png' for 'png' / '.PNG'; OutputError for an extension that cannot be written."""
    if ext is None:
        return None
    from srgan_cli.imaging import WRITE_EXTENSIONS

    e = "." + ext.lower().lstrip(".")
    if e not in WRITE_EXTENSIONS:
        raise OutputError(f"--ext {ext}: unknown output extension (expected one of "
                          f"{', '.join(sorted(x.lstrip('.') for x in WRITE_EXTENSIONS))})")
    return e


def output_for(src: Source, out_dir: Path | None, suffix: str, ext: str | None) -> Path:
    """<out_dir or the input's folder>/<subfolders under the input root>/<stem><suffix><ext>."""
    from srgan_cli.imaging import WRITE_EXTENSIONS

    if ext is None:
        ext = src.path.suffix.lower() if src.path.suffix.lower() in WRITE_EXTENSIONS else ".png"
    name = f"{src.path.stem}{suffix}{ext}"
    if out_dir is None:
        return src.path.with_name(name)
    sub = src.path.parent.relative_to(src.root) if src.root is not None else Path()
    return out_dir / sub / name


def _is_image_file(p: Path) -> bool:
    from srgan_cli.imaging import READ_EXTENSIONS, WRITE_EXTENSIONS

    return p.is_file() and p.suffix.lower() in READ_EXTENSIONS | WRITE_EXTENSIONS


def _single_job(src: str, dst: str, form: str) -> Job:
    """The one job of `IN OUT` or `IN --output FILE` (`form` names which, for messages)."""
    out = Path(dst).expanduser()
    if form == "IN OUT" and any(c in dst for c in GLOB_CHARS) and not out.exists():
        raise UsageError(f"{dst}: the output of IN OUT cannot be a pattern; use -o DIR for "
                         "several images")
    if Path(src).expanduser().is_dir():
        raise UsageError(f"{src} is a folder: {form} takes one image; use -o DIR to upscale "
                         "a folder")
    found = expand_inputs([src], recursive=False)
    if len(found) != 1:
        raise UsageError(f"{src} matches {len(found)} images: {form} takes one image; use -o "
                         "DIR to upscale several")
    first = found[0]
    if isinstance(first, Job):
        return Job(first.input, out, first.error)
    job = Job(first.path, out)
    if out.resolve() == first.path.resolve():
        job.error = OutputError(f"{first.path}: the output would replace the input; give "
                                "another OUT, --suffix or -o DIR")
    return job


def plan_jobs(
    inputs: list[str],
    *,
    output_dir: Path | None,
    suffix: str | None,
    ext: str | None,
    recursive: bool,
    scale_label: str,
    output: Path | None = None,
) -> list[Job]:
    """Decide every input's output path.

    `output` (--output FILE) is the one output of one input. Two paths without -o, --suffix or
    --ext mean IN OUT when the second is neither a folder nor an existing image (two existing
    images may be a pattern the shell expanded: refused, never overwritten). Otherwise outputs
    go to -o DIR, or beside the inputs with a suffix; folder and pattern finds that are outputs
    of this batch are skipped, and an output that is one of the inputs is an error."""
    ext = normalise_ext(ext)
    if output is not None:
        if output_dir is not None or suffix is not None or ext is not None:
            raise UsageError("--output FILE names the one output: it excludes -o, --suffix "
                             "and --ext")
        if len(inputs) != 1:
            raise UsageError(f"--output FILE takes one INPUT, got {len(inputs)}; use -o DIR "
                             "for several images")
        return [_single_job(inputs[0], str(output), "--output")]
    if len(inputs) == 2 and output_dir is None and suffix is None and ext is None:
        src, dst = inputs
        second = Path(dst).expanduser()
        if _is_image_file(second):
            raise UsageError(f"{dst} exists: to upscale both images use -o DIR or --suffix TEXT; "
                             f"to replace {dst} with the result of {src}, use --output {dst} "
                             "--overwrite")
        if not second.is_dir():
            return [_single_job(src, dst, "IN OUT")]
    if suffix is None:
        suffix = "" if output_dir is not None else f"_{scale_label}"
    if output_dir is not None:
        output_dir = output_dir.expanduser()
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"-o {output_dir}: cannot create the output folder "
                              f"({e.strerror or e})") from None
    items = expand_inputs(inputs, recursive)
    sources = [i for i in items if isinstance(i, Source)]  # distinct resolved paths
    planned = {src.path.resolve(): output_for(src, output_dir, suffix, ext) for src in sources}
    producer = {out.resolve(): key for key, out in planned.items()}
    paths = {src.path.resolve(): src.path for src in sources}
    # found by a folder or pattern, but named as this batch's output for another found file
    # (that file may itself be such a name: a chain left by earlier runs is skipped whole)
    skipped: dict[Path, Path] = {}
    for src in sources:
        key = src.path.resolve()
        maker = producer.get(key)
        if not src.named and maker is not None and maker != key:
            skipped[key] = maker
    batch_inputs = {key: src.path for src in sources
                    if (key := src.path.resolve()) not in skipped}
    claimed: dict[Path, Path] = {}
    jobs: list[Job] = []
    for item in items:
        if isinstance(item, Job):
            jobs.append(item)
            continue
        key = item.path.resolve()
        if key in skipped:
            jobs.append(Job(item.path, skip=f"named as this batch's output for "
                            f"{paths[skipped[key]]}"))
            continue
        out = planned[key]
        job = Job(item.path, out, make_folder=output_dir is not None)
        out_key = out.resolve()
        if out_key == key:
            job.error = OutputError(f"{item.path}: the output would replace the input; give "
                                    "--suffix or -o DIR")
        elif out_key in batch_inputs:
            job.error = OutputError(f"{item.path}: output {out} is also an input of this "
                                    "batch; give --suffix or -o DIR")
        elif out_key in claimed:
            job.error = OutputError(f"{item.path}: output {out} is also the output of "
                                    f"{claimed[out_key]}; give --ext or separate folders")
        else:
            claimed[out_key] = item.path
        jobs.append(job)
    return jobs


# ----------------------------------------------------------------------------- running


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

    def as_json(self) -> dict[str, Any]:
        return {"input": self.input, "output": self.output, "input_size": self.input_size,
                "output_size": self.output_size, "seconds": round(self.seconds, 3),
                "status": self.status, "error": self.error}


def run_job(
    job: Job,
    upscaler: Upscaler,
    *,
    outscale: float | None,
    overwrite: bool,
    skip_existing: bool,
    max_pixels: int | None,
    progress_cb: Any = None,
) -> Record:
    """Check the output, read, upscale, write; every SrganError becomes an error Record."""
    from srgan_cli.imaging import check_output_path, read_image, write_image

    start = time.perf_counter()
    rec = Record(str(job.input), None if job.output is None else str(job.output), "ok")
    try:
        if job.error is not None:
            raise job.error
        if job.skip is not None:
            rec.status, rec.note = "skipped", job.skip
            return rec
        assert job.output is not None
        if skip_existing and job.output.exists():
            rec.status = "skipped"
            return rec
        if job.make_folder:
            job.output.parent.mkdir(parents=True, exist_ok=True)
        check_output_path(job.output, overwrite=overwrite)
        img = read_image(job.input, max_pixels=max_pixels)
        rec.input_size = list(img.size)
        result = upscaler.upscale_image(img, outscale, progress_cb)
        write_image(job.output, result, overwrite=overwrite)
        rec.output_size = list(result.size)
    except SrganError as e:
        rec.status, rec.error, rec.exit_code = "error", str(e), e.exit_code
    except OSError as e:
        rec.status, rec.exit_code = "error", OutputError.exit_code
        rec.error = f"{job.output}: {e.strerror or e}"
    except Exception as e:  # one broken image must not stop the batch
        if os.environ.get("SRGAN_DEBUG") == "1":
            raise
        first = str(e).splitlines()[0] if str(e) else ""
        rec.status, rec.exit_code = "error", EXIT_INTERNAL
        rec.error = f"{job.input}: internal error: {type(e).__name__}: {first}"
    finally:
        rec.seconds = time.perf_counter() - start
    return rec


def _describe(rec: Record) -> str:
    if rec.status == "skipped":
        return f"{rec.input}: skipped, {rec.note or f'{rec.output} exists'}"
    (w, h), (ow, oh) = rec.input_size or (0, 0), rec.output_size or (0, 0)
    return f"{rec.input} -> {rec.output}  {w}x{h} -> {ow}x{oh}  {rec.seconds:.2f} s"


def _scale_label(scale: float) -> str:
    return f"x{int(scale)}" if float(scale).is_integer() else f"x{scale:g}"


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
        help="A bundled model name (see 'srgan models'), a .safetensors / .pth / .pt file, or "
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
        help="auto (on CUDA bf16 where supported, else fp16; fp32 on CPU and MPS), fp32, bf16, "
        "or fp16 (GPU only). bf16 on a CPU with AVX-512 bf16 is ~4x faster than fp32."),
    tile: int | None = typer.Option(
        None, "--tile", min=0, metavar="N", help="Process the image in N x N low-resolution "
        "tiles to bound memory; the result is the same as untiled. 0 = whole image at once. "
        "Default: 256 on the CPU, 512 on a GPU. Halved automatically on GPU out-of-memory.",
        show_default=False),
    tile_pad: int | None = typer.Option(
        None, "--tile-pad", min=0, metavar="N", help="Pixels of context around each tile. "
        "Default: the model's receptive radius (exact); less is faster but can show seams.",
        show_default=False),
    batch_size: int = typer.Option(
        1, "--batch-size", min=1, metavar="N", help="Tiles per forward pass (GPU throughput)."),
    max_pixels: int | None = typer.Option(
        None, "--max-pixels", min=0, metavar="N", help="Refuse inputs larger than N pixels "
        "(decompression-bomb guard; 0 = no limit). Default: about 89 million.",
        show_default=False),
    json_out: bool = typer.Option(
        False, "--json", help="Print one JSON record per image on stdout: input, output, "
        "input_size, output_size (width, height), seconds, status (ok, error, skipped), error."),
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
        _upscale(inputs, output=output, output_dir=output_dir, suffix=suffix, ext=ext,
                 recursive=recursive, overwrite=overwrite, skip_existing=skip_existing,
                 model=model, outscale=outscale, device=device, precision=precision, tile=tile,
                 tile_pad=tile_pad, batch_size=batch_size, max_pixels=max_pixels,
                 json_out=json_out, quiet=quiet)
    except KeyboardInterrupt:
        # cli.main says "interrupted" and exits 130. The image being written is a temporary
        # file that atomic_write has already removed; flush the --json records written so far.
        sys.stdout.flush()
        raise


def _upscale(
    inputs: list[str],
    *,
    output: Path | None,
    output_dir: Path | None,
    suffix: str | None,
    ext: str | None,
    recursive: bool,
    overwrite: bool,
    skip_existing: bool,
    model: str | None,
    outscale: float | None,
    device: str,
    precision: str,
    tile: int | None,
    tile_pad: int | None,
    batch_size: int,
    max_pixels: int | None,
    json_out: bool,
    quiet: bool,
) -> None:
    """The body of `srgan upscale`: load, plan, run every job, report."""
    from srgan_cli.console import progress, stderr_console, stdout_console
    from srgan_cli.imaging import DEFAULT_MAX_PIXELS
    from srgan_cli.models.zoo import BICUBIC, DEFAULT_MODEL, default_model_spec, load_model
    from srgan_cli.upscale import Upscaler, default_tile, resolve_device

    if overwrite and skip_existing:
        raise UsageError("--overwrite and --skip-existing exclude each other")
    if outscale is not None and not outscale > 0:
        raise UsageError(f"--outscale must be positive, got {outscale}")
    err = stderr_console()
    spec = model if model is not None else default_model_spec()
    if model is None and spec == BICUBIC and not quiet:
        err.print(f"note: the default model {DEFAULT_MODEL} is not installed; using bicubic",
                  markup=False)
    loaded = load_model(spec)
    dev = resolve_device(device)
    upscaler = Upscaler(loaded, device=str(dev), precision=precision,
                        tile=default_tile(dev) if tile is None else tile, tile_pad=tile_pad,
                        batch_size=batch_size)
    jobs = plan_jobs(inputs, output_dir=output_dir, suffix=suffix, ext=ext, recursive=recursive,
                     scale_label=_scale_label(outscale if outscale else loaded.scale),
                     output=output)
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else (max_pixels or None)
    records: list[Record] = []
    with progress(None if not quiet else False) as bar:
        out = stdout_console()  # made inside: a live progress display redirects stdout
        images = bar.add_task("images", total=len(jobs)) if len(jobs) > 1 else None
        for job in jobs:
            tiles = bar.add_task(job.input.name, total=1)

            def on_tiles(done: int, total: int, task: int = tiles) -> None:
                bar.update(task, completed=done, total=total)

            rec = run_job(job, upscaler, outscale=outscale, overwrite=overwrite,
                          skip_existing=skip_existing, max_pixels=limit, progress_cb=on_tiles)
            bar.remove_task(tiles)
            if images is not None:
                bar.advance(images)
            records.append(rec)
            if json_out:
                print(json.dumps(rec.as_json()), flush=True)
            elif not quiet and rec.status != "error":
                out.print(_describe(rec), markup=False)
    _finish(records, err)


def _finish(records: list[Record], err: Any) -> None:
    """Exit non-zero when an image failed: one error line for a single image, else a list."""
    failed = [r for r in records if r.status == "error"]
    if not failed:
        return
    if len(records) == 1:
        raise _Failed(failed[0].error or "failed", failed[0].exit_code)
    for r in failed:
        err.print(f"error: {r.error}", markup=False)
    codes = {r.exit_code for r in failed}
    sys.stdout.flush()
    raise _Failed(f"{len(failed)} of {len(records)} images failed",
                  codes.pop() if len(codes) == 1 else EXIT_MIXED)


class _Failed(SrganError):
    """Re-raises a single image's error with its own exit code (cli prints it as one line)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def register(app: typer.Typer) -> None:
    app.command("upscale", no_args_is_help=True)(upscale_command)
