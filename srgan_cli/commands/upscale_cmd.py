"""`srgan upscale`: upscale one image (IN OUT) or many (files, folders, globs; -o DIR).

Each image is independent: a bad one is reported and the batch goes on; failures are listed on
stderr at the end and the exit code is that of the failures' error type (1 when they differ).
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
GLOB_CHARS = "*?["


@dataclass
class Job:
    """One image to upscale; `error` is set when planning already found it cannot be done."""

    input: Path
    output: Path | None = None
    error: SrganError | None = None
    make_folder: bool = False  # output under -o DIR: create its (mirrored) subfolder


@dataclass
class Source:
    """An input file, and the folder it was found under (to mirror subfolders with -o)."""

    path: Path
    root: Path | None = None


# ----------------------------------------------------------------------------- planning


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    from srgan_cli.imaging import READ_EXTENSIONS

    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p for p in found
        if p.is_file() and p.suffix.lower() in READ_EXTENSIONS and not p.name.startswith(".")
    )


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
                add(Source(p))
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


def _in_out_job(src: str, dst: str) -> Job:
    """The one job of `srgan upscale IN OUT`."""
    out = Path(dst).expanduser()
    if any(c in dst for c in GLOB_CHARS) and not out.exists():
        raise UsageError(f"{dst}: the output of IN OUT cannot be a pattern; use -o DIR for "
                         "several images")
    if Path(src).expanduser().is_dir():
        raise UsageError(f"{src} is a folder: IN OUT takes one image; use -o DIR to upscale "
                         "a folder")
    found = expand_inputs([src], recursive=False)
    if len(found) != 1:
        raise UsageError(f"{src} matches {len(found)} images: IN OUT takes one image; use -o "
                         "DIR to upscale several")
    first = found[0]
    if isinstance(first, Job):
        return Job(first.input, out, first.error)
    return Job(first.path, out)


def plan_jobs(
    inputs: list[str],
    *,
    output_dir: Path | None,
    suffix: str | None,
    ext: str | None,
    recursive: bool,
    scale_label: str,
) -> list[Job]:
    """Decide every input's output path. Two paths without -o, --suffix or --ext, the second
    not an existing folder, mean IN OUT; otherwise outputs go to -o DIR, or beside the inputs
    with a suffix."""
    ext = normalise_ext(ext)
    if (len(inputs) == 2 and output_dir is None and suffix is None and ext is None
            and not Path(inputs[1]).expanduser().is_dir()):
        return [_in_out_job(inputs[0], inputs[1])]
    if suffix is None:
        suffix = "" if output_dir is not None else f"_{scale_label}"
    if output_dir is not None:
        output_dir = output_dir.expanduser()
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"-o {output_dir}: cannot create the output folder "
                              f"({e.strerror or e})") from None
    jobs: list[Job] = []
    claimed: dict[Path, Path] = {}
    for item in expand_inputs(inputs, recursive):
        if isinstance(item, Job):
            jobs.append(item)
            continue
        out = output_for(item, output_dir, suffix, ext)
        job = Job(item.path, out, make_folder=output_dir is not None)
        key = out.resolve()
        if key == item.path.resolve():
            job.error = OutputError(f"{item.path}: the output would replace the input; give "
                                    "--suffix or -o DIR")
        elif key in claimed:
            job.error = OutputError(f"{item.path}: output {out} is also the output of "
                                    f"{claimed[key]}; give --ext or separate folders")
        else:
            claimed[key] = item.path
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
        return f"{rec.input}: skipped, {rec.output} exists"
    (w, h), (ow, oh) = rec.input_size or (0, 0), rec.output_size or (0, 0)
    return f"{rec.input} -> {rec.output}  {w}x{h} -> {ow}x{oh}  {rec.seconds:.2f} s"


def _scale_label(scale: float) -> str:
    return f"x{int(scale)}" if float(scale).is_integer() else f"x{scale:g}"


def upscale_command(
    inputs: list[str] = typer.Argument(
        ..., metavar="INPUT... | IN OUT",
        help="Images, folders of images and glob patterns ('photos/*.jpg', quoted or not). "
        "Exactly two paths, without -o, --suffix or --ext and the second not an existing "
        "folder, mean IN OUT: upscale IN and write OUT (its extension picks the format).",
        show_default=False),
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
        help="auto (bf16 on a GPU that has it, else fp16; fp32 on the CPU), fp32, bf16 or fp16 "
        "(GPU only)."),
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

    Examples: 'srgan upscale photo.png photo_x4.png', 'srgan upscale shots/ -o big/ --ext png',
    'srgan upscale "*.jpg" -o out --model bicubic --outscale 2'. Exit codes: 0 all done,
    2 usage, 3 input image, 4 output, 5 model, 10 device; a batch whose failures have
    different causes exits with 1.
    """
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
                     scale_label=_scale_label(outscale if outscale else loaded.scale))
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
