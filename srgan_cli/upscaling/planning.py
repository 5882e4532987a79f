"""Batch planning: which files a batch reads, and the output path of each (no model, no torch).

Inputs are files, folders (their images; subfolders with `recursive`) and glob patterns. No
output may replace an input: two existing images are never read as IN OUT, an output that is
another input of the batch is an error of its image, two inputs with one output path are an
error of the second, and files that folders or patterns turn up which are outputs of this very
batch (``a_x4.png`` beside ``a.png``) are skipped, so re-running a batch does not upscale its
own results. Paths are compared as they will be used: an input by the file it reads (symlinks
resolved), an output by where it is written (its folder resolved, its own name kept: a write
replaces a symlink there, it never writes through it, see `fileio.atomic_write`). A named
input must be a regular file (asked before anything opens it: a FIFO would block), and `-`
(stdin, stdout) is refused. Before any pixel is read, `check_output_sizes` refuses outputs
too large for the limit or the memory (from the file headers alone).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from srgan_cli.errors import InputImageError, OutputError, SrganError, UsageError
from srgan_cli.fileio import not_a_regular_file
from srgan_cli.messages import option, show_path
from srgan_cli.options import check_name_part

GLOB_CHARS = "*?["
STDIO = "-"  # the usual name of stdin / stdout, which upscale does not read or write
DEFAULT_MAX_OUTPUT_PIXELS = 400_000_000  # --max-output-pixels: 400 MP (20000 x 20000)
OUTPUT_BYTES_PER_PIXEL = 8  # the output array and the encoder's copy, RGBA 8 bit


@dataclass
class Job:
    """One image to upscale; `error` is set when planning already found it cannot be done."""

    input: Path
    output: Path | None = None
    error: SrganError | None = None
    make_folder: bool = False  # output under -o DIR: create its (mirrored) subfolder
    skip_reason: str | None = None  # why it is left alone (it is an output of this batch)
    keep_existing_output: bool = False  # planned by a batch: an output that exists is kept and
    # the job skipped, not refused (unless --overwrite), so re-running a batch redoes nothing


@dataclass(frozen=True)
class Source:
    """An input file, and the folder it was found under (to mirror subfolders with -o)."""

    path: Path
    root: Path | None = None
    named: bool = False  # given as a file argument, not found in a folder or by a pattern


def scale_label(scale: float) -> str:
    """'x4' for 4 or 4.0, 'x2.5' for 2.5: the default suffix of outputs beside their inputs."""
    return f"x{int(scale)}" if float(scale).is_integer() else f"x{scale:g}"


# ----------------------------------------------------------------------------- inputs


def expand_inputs(specs: list[str], recursive: bool) -> list[Source | Job]:
    """Files, folders (images in them; subfolders with `recursive`) and globs, in order, without
    duplicates. An argument that yields nothing becomes a failed Job."""
    from srgan_cli.media.discovery import is_upscale_input, upscale_inputs_in
    from srgan_cli.media.formats import READ_EXTENSIONS, VIDEO_SUFFIXES

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
            files = upscale_inputs_in(p, recursive=recursive)
            if not files:
                exts = ", ".join(sorted(READ_EXTENSIONS))
                exts += f"; or videos: {', '.join(sorted(VIDEO_SUFFIXES))}, animated .gif"
                where = "or its subfolders " if recursive else ""
                hint = "" if recursive else f"; use {option('recursive')} for subfolders"
                out.append(Job(p, error=InputImageError(
                    f"{show_path(p)}: folder {where}has no images ({exts}){hint}")))
            for f in files:
                add(Source(f, p))
        elif os.path.lexists(p) or not any(c in spec for c in GLOB_CHARS):
            problem = not_a_regular_file(p)  # a FIFO, a device: refused before any open
            if problem is not None:
                out.append(Job(p, error=InputImageError(f"{show_path(p)}: {problem}")))
            else:
                add(Source(p, named=True))
        else:
            files = [m for m in _pattern_files(spec, recursive) if is_upscale_input(m)]
            if not files:
                out.append(Job(p, error=InputImageError(
                    f"{show_path(spec)}: no image files match")))
            for f in files:
                add(Source(f))
    return out


def _pattern_files(spec: str, recursive: bool) -> list[Path]:
    """The regular files a glob pattern matches, sorted. With `recursive`, '**' does not enter
    a symlinked folder below the pattern's fixed part, as a folder scan with --recursive does
    not (the fixed part itself may hold symlinks the user named)."""
    pattern = os.path.expanduser(spec)
    files = [Path(m) for m in sorted(glob.glob(pattern, recursive=recursive))]
    files = [m for m in files if not_a_regular_file(m) is None]
    if recursive and "**" in pattern:
        parts = Path(pattern).parts
        fixed = next((i for i, part in enumerate(parts) if any(c in part for c in GLOB_CHARS)),
                     len(parts))
        files = [m for m in files
                 if not any(d.is_symlink() for d in m.parents if len(d.parts) > fixed)]
    return files


def _is_image_file(p: Path) -> bool:
    """An existing input file: an image, animation or video (two such paths are two inputs,
    never IN OUT)."""
    from srgan_cli.media.discovery import input_kind

    return p.is_file() and input_kind(p) is not None


# ----------------------------------------------------------------------------- outputs


def normalise_ext(ext: str | None) -> str | None:
    """'.png' for 'png' / '.PNG'; OutputError for an extension that cannot be written."""
    if ext is None:
        return None
    from srgan_cli.media.formats import WRITE_EXTENSIONS

    check_name_part(ext, "ext")  # a path in it is a usage error before it is an unknown suffix
    e = "." + ext.lower().lstrip(".")
    if e not in WRITE_EXTENSIONS:
        raise OutputError(f"{option('ext')} {ext}: unknown output extension (expected one of "
                          f"{', '.join(sorted(x.lstrip('.') for x in WRITE_EXTENSIONS))})")
    return e


def output_for(src: Source, out_dir: Path | None, suffix: str, ext: str | None) -> Path:
    """<out_dir or the input's folder>/<subfolders under the input root>/<stem><suffix><ext>.

    A video or an animation is written as the same kind of file (`ext` is for still images):
    its suffix is `discovery.media_suffix` (an animated GIF named .jpg gets .gif)."""
    from srgan_cli.media.discovery import media_suffix
    from srgan_cli.media.formats import WRITE_EXTENSIONS

    own = src.path.suffix.lower()
    kept = media_suffix(src.path)
    if kept is not None:
        ext = kept
    elif ext is None:
        ext = own if own in WRITE_EXTENSIONS else ".png"
    name = f"{src.path.stem}{suffix}{ext}"
    if out_dir is None:
        return src.path.with_name(name)
    sub = src.path.parent.relative_to(src.root) if src.root is not None else Path()
    return out_dir / sub / name


def written_path(path: Path) -> Path:
    """Where a write to `path` lands: its folder resolved, its own name kept (a symlink there
    is replaced, not written through), so two output links to one file are two outputs."""
    return path.parent.resolve() / path.name


def assign_outputs(
    items: list[Source | Job], output_dir: Path | None, suffix: str, ext: str | None
) -> list[Job]:
    """The collision rules: one Job per item, in order, given expanded inputs (no file is read).

    A file found by a folder or pattern that is this batch's output for another input is
    skipped (a chain left by earlier runs is skipped whole); an output that would replace its
    own input, that is another input, or that an earlier input already claimed, is an error of
    its image. An input is the file it reads (resolved) and its own path (`written_path`); an
    output is where it is written (`written_path`)."""
    sources = [i for i in items if isinstance(i, Source)]  # distinct resolved paths
    planned = {src.path.resolve(): output_for(src, output_dir, suffix, ext) for src in sources}
    producer = {written_path(out): key for key, out in planned.items()}
    paths = {src.path.resolve(): src.path for src in sources}
    skipped: dict[Path, Path] = {}  # found file -> the input whose output it is
    for src in sources:
        key = src.path.resolve()
        maker = producer.get(written_path(src.path)) or producer.get(key)
        if not src.named and maker is not None and maker != key:
            skipped[key] = maker
    kept = [src for src in sources if src.path.resolve() not in skipped]
    batch_inputs = {src.path.resolve() for src in kept} | {written_path(src.path) for src in kept}
    claimed: dict[Path, Path] = {}
    jobs: list[Job] = []
    for item in items:
        if isinstance(item, Job):
            jobs.append(item)
            continue
        key = item.path.resolve()
        if key in skipped:
            jobs.append(Job(item.path, skip_reason=f"named as this batch's output for "
                            f"{show_path(paths[skipped[key]])}"))
            continue
        out = planned[key]
        job = Job(item.path, out, make_folder=output_dir is not None,
                  keep_existing_output=True)
        out_key = written_path(out)
        if out_key in (key, written_path(item.path)):
            job.error = OutputError(f"{show_path(item.path)}: the output would replace the "
                                    f"input; give {option('suffix')} or "
                                    f"{option('output_dir', 'DIR')}")
        elif out_key in batch_inputs:
            job.error = OutputError(f"{show_path(item.path)}: output {show_path(out)} is also "
                                    f"an input of this batch; give {option('suffix')} or "
                                    f"{option('output_dir', 'DIR')}")
        elif out_key in claimed:
            job.error = OutputError(f"{show_path(item.path)}: output {show_path(out)} is also "
                                    f"the output of {show_path(claimed[out_key])}; give "
                                    f"{option('ext')} or separate folders")
        else:
            claimed[out_key] = item.path
        jobs.append(job)
    return jobs


def is_folder_arg(path: str | Path) -> bool:
    """True for an existing folder or a path written with a trailing slash (`out/`)."""
    text = os.fspath(path)
    return text.endswith(("/", os.sep)) or Path(text).expanduser().is_dir()


def _single_job(src: str, dst: str, form: str) -> Job:
    """The one job of `IN OUT` or `IN --output FILE` (`form` names which, for messages)."""
    out = Path(dst).expanduser()
    if form == "IN OUT" and any(c in dst for c in GLOB_CHARS) and not out.exists():
        raise UsageError(f"{show_path(dst)}: the output of IN OUT cannot be a pattern; use "
                         f"{option('output_dir', 'DIR')} for several images")
    if Path(src).expanduser().is_dir():
        raise UsageError(f"{show_path(src)} is a folder: {form} takes one image; use "
                         f"{option('output_dir', 'DIR')} to upscale a folder")
    found = expand_inputs([src], recursive=False)
    if len(found) != 1:
        raise UsageError(f"{show_path(src)} matches {len(found)} images: {form} takes one "
                         f"image; use {option('output_dir', 'DIR')} to upscale several")
    first = found[0]
    if isinstance(first, Job):
        return Job(first.input, out, first.error)
    job = Job(first.path, out, make_folder=True)
    if written_path(out) in (first.path.resolve(), written_path(first.path)):
        job.error = OutputError(f"{show_path(first.path)}: the output would replace the input; "
                                f"give another OUT, {option('suffix')} or "
                                f"{option('output_dir', 'DIR')}")
    return job


def plan_jobs(
    inputs: list[str],
    *,
    output_dir: Path | None,
    suffix: str | None,
    ext: str | None,
    recursive: bool,
    scale_label: str,
    output: str | Path | None = None,
) -> list[Job]:
    """Decide every input's output path.

    `output` (--output FILE) is the one output of one input; an existing folder, or a path
    written with a trailing slash, is taken as -o DIR instead. Two paths without -o, --suffix or
    --ext mean IN OUT when the second is neither a folder nor an existing image (two existing
    images may be a pattern the shell expanded: refused, never overwritten); a second path
    that does not exist and ends in '/' is the output folder (-o DIR). Otherwise outputs go to
    -o DIR (created here), or beside the inputs with a suffix (default `_<scale_label>`), by
    the rules of `assign_outputs`. UsageError for `-` (stdin, stdout) and for a suffix or an
    extension that is not a plain part of a file name."""
    check_name_part(suffix, "suffix")
    check_name_part(ext, "ext")
    in_out = (len(inputs) == 2 and output is None and output_dir is None and suffix is None
              and ext is None)
    if any(t is not None and os.fspath(t) == STDIO
           for t in (output, output_dir, inputs[1] if in_out else None)):
        raise UsageError(f"{STDIO}: writing images to stdout is not supported; name the output "
                         f"file or folder (./{STDIO} for a file named '{STDIO}')")
    if STDIO in inputs:
        raise UsageError(f"{STDIO}: reading images from stdin is not supported; name the "
                         f"files (./{STDIO} for a file named '{STDIO}')")
    ext = normalise_ext(ext)
    if output is not None and is_folder_arg(output):
        if output_dir is not None:
            raise UsageError(f"{option('output')} {show_path(output)} is a folder: it excludes "
                             f"{option('output_dir', 'DIR')}")
        output_dir = Path(output)
        output = None
    if output is not None:
        if output_dir is not None or suffix is not None or ext is not None:
            raise UsageError(f"{option('output', 'FILE')} names the one output: it excludes "
                             f"{option('output_dir')}, {option('suffix')} and {option('ext')}")
        if len(inputs) != 1:
            raise UsageError(f"{option('output', 'FILE')} takes one INPUT, got {len(inputs)}; "
                             f"use {option('output_dir', 'DIR')} for several images")
        return [_single_job(inputs[0], str(output), option("output"))]
    if in_out:
        src, dst = inputs
        second = Path(dst).expanduser()
        if _is_image_file(second):
            d = show_path(dst)
            raise UsageError(f"{d} exists: to upscale both images use "
                             f"{option('output_dir', 'DIR')} or {option('suffix', 'TEXT')}; to "
                             f"replace {d} with the result of {show_path(src)}, use "
                             f"{option('output')} {d} {option('overwrite')}")
        if dst.endswith(("/", os.sep)) and not os.path.lexists(second):
            output_dir, inputs = second, [src]  # a new folder, written as one: -o DIR
        elif not second.is_dir():
            return [_single_job(src, dst, "IN OUT")]
    if suffix is None:
        suffix = "" if output_dir is not None else f"_{scale_label}"
    if output_dir is not None:
        output_dir = output_dir.expanduser()
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"{option('output_dir')} {show_path(output_dir)}: cannot create "
                              f"the output folder ({e.strerror or e})") from None
    return assign_outputs(expand_inputs(inputs, recursive), output_dir, suffix, ext)


# ----------------------------------------------------------------------------- output sizes


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _amount(pixels: int) -> str:
    """'1,296 MP', '1.9 MP' or '1,000 pixels'."""
    if pixels >= 10_000_000:
        return f"{pixels / 1e6:,.0f} MP"
    return f"{pixels / 1e6:.1f} MP" if pixels >= 1_000_000 else f"{pixels:,} pixels"


def output_size_error(
    path: Path, size: tuple[int, int], scale: float, *, max_output_pixels: int,
    memory: int | None,
) -> OutputError | None:
    """Why an input of `size` (height, width) cannot be upscaled by `scale`, or None.

    Refused when the output has more than `max_output_pixels` pixels (0 = no limit) or when
    its buffers would not fit in `memory` bytes (None = unknown)."""
    h, w = size
    oh, ow = max(1, round(h * scale)), max(1, round(w * scale))
    pixels = oh * ow
    if max_output_pixels and pixels > max_output_pixels:
        return OutputError(
            f"{show_path(path)}: the output would be {ow}x{oh} ({_amount(pixels)}), above "
            f"the limit of {_amount(max_output_pixels)}; raise it with "
            f"{option('max_output_pixels', 'N')} (0 = no limit)")
    need = pixels * OUTPUT_BYTES_PER_PIXEL
    if memory is not None and need > memory:
        return OutputError(
            f"{show_path(path)}: the output would be {ow}x{oh} and needs about "
            f"{need / 2**30:.1f} GiB of memory; {memory / 2**30:.1f} GiB is available "
            f"(use a smaller {option('outscale')})")
    return None


def check_output_sizes(jobs: list[Job], scale: float, *, max_output_pixels: int) -> None:
    """Set the error of each job whose output would be too large, from its header alone."""
    from srgan_cli.media.decode import peek_size

    memory = available_memory()
    for job in jobs:
        if job.error is not None or job.skip_reason is not None or job.output is None:
            continue
        size = peek_size(job.input)
        if size is not None:
            job.error = output_size_error(job.input, size, scale,
                                          max_output_pixels=max_output_pixels, memory=memory)
