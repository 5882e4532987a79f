"""Where images come from: folders, benchmark layouts, DIV2K, HR/LR pairing and the data root.

Rules shared by upscale, eval and training:
- an image is a regular file whose extension is in `formats.READ_EXTENSIONS` (any case) and
  whose name does not start with a dot (hidden files, our own ``.part`` temp files); folders
  list in sorted order; what kind of input a file is for upscale (image, animation, video) is
  `input_kind`, the one answer;
- folder names match case-insensitively (`fileio.find_subdir`): ``HR``, ``LR_bicubic``, ``X4``,
  ``DIV2K_train_HR`` ...; so do LR file names;
- the data root is ``--data-root``, else ``$SRGAN_DATA``, else ``./data``, ``~`` expanded;
- the LR image of ``<stem>.<ext>`` at scale s is ``<stem>x<s>.<any ext>`` (EDSR and DIV2K
  naming), else ``<stem>.<any ext>``; when an LR folder exists every HR image must have one;
- an image's stem is its name (LR pairing, scores, saved SR images), so two images of one folder
  whose stems differ only in extension or case (``a.png`` + ``a.jpg``) are refused, in HR and
  LR folders alike.

Datasets (`find_dataset`, for eval and training alike): "div2k", a benchmark name or a folder.
Layouts: a benchmark folder holds ``HR/`` and optionally ``LR_bicubic/X<s>/`` (or is itself a
plain folder of HR images); DIV2K keeps its official ``DIV2K/DIV2K_<split>_HR`` and
``DIV2K/DIV2K_<split>_LR_bicubic/X<s>`` (the data root may also be the DIV2K folder itself).
Problems are `DatasetError`s that say where they looked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from srgan_cli.errors import DatasetError
from srgan_cli.fileio import find_subdir
from srgan_cli.media.formats import (
    ANIMATION_FORMATS,
    ANIMATION_SUFFIXES,
    ANIMATION_WRITE_SUFFIX,
    READ_EXTENSIONS,
    VIDEO_SUFFIXES,
)
from srgan_cli.messages import option, show_path
from srgan_cli.options import DATA_ENV, data_root_env

InputKind = Literal["image", "animation", "video"]

HELP = "see data/README.md"
DIV2K = "div2k"
# spec -> folder names tried under the data root (case-insensitively), first is canonical
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "set5": ("Set5",),
    "set14": ("Set14",),
    "b100": ("B100", "BSD100"),
    "bsd100": ("B100", "BSD100"),
    "urban100": ("Urban100",),
    "manga109": ("Manga109",),
}
# How many images the official sets hold, so that a partial copy is never scored as the set
BENCHMARK_SIZES: dict[str, int] = {
    "set5": 5, "set14": 14, "b100": 100, "bsd100": 100, "urban100": 100, "manga109": 109,
}
DIV2K_SIZES: dict[str, int] = {"valid": 100, "train": 800}
KNOWN = (*BENCHMARKS, DIV2K)
_SORTED_EXTENSIONS = tuple(sorted(READ_EXTENSIONS))


@dataclass(frozen=True)
class ImagePair:
    """One HR image file and, when given, its LR file (else LR is made from HR)."""

    hr: Path
    lr: Path | None = None

    @property
    def name(self) -> str:
        return self.hr.stem


def is_image_name(path: Path) -> bool:
    """A name discovery picks up: a read extension, not hidden."""
    return path.suffix.lower() in READ_EXTENSIONS and not path.name.startswith(".")


def images_in(folder: Path, *, recursive: bool = False) -> list[Path]:
    """The image files in `folder` (and its subfolders with `recursive`), sorted."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if is_image_name(p) and p.is_file())


def input_kind(path: str | Path) -> InputKind | None:
    """What kind of input the file at `path` is, from its suffix (any case) and, for an image or
    animation suffix, its content: "video" (a `VIDEO_SUFFIXES` name), "animation" (a GIF, APNG
    or WebP of more than one frame, whatever image suffix it has: an animated GIF named .jpg
    too), "image" (any other `READ_EXTENSIONS` name), or None: not an input (a still GIF or
    APNG included, whose format the decoder does not read)."""
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if _animation_format(path) is not None:
        return "animation"
    return "image" if suffix in READ_EXTENSIONS else None


def media_suffix(path: str | Path) -> str | None:
    """The suffix the output of a video or animation at `path` takes, so that it is written as
    the same kind of file: a video's own; an animation's own when it names the animation's
    format, else that format's (an animated GIF named .jpg is written as .gif). None for
    anything else (a still image's output suffix is the user's choice)."""
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return suffix
    fmt = _animation_format(path)
    if fmt is None:
        return None
    return suffix if ANIMATION_FORMATS.get(suffix) == fmt else ANIMATION_WRITE_SUFFIX[fmt]


def _animation_format(path: str | Path) -> str | None:
    """`decode.animation_format` for a name with an image or animation suffix (no other file
    is opened)."""
    suffix = Path(path).suffix.lower()
    if suffix not in ANIMATION_SUFFIXES and suffix not in READ_EXTENSIONS:
        return None
    from srgan_cli.media.decode import animation_format  # Pillow: only when a file is asked about

    return animation_format(path)


def is_video_name(path: Path) -> bool:
    """A video name discovery picks up: `input_kind` "video", not hidden."""
    return input_kind(path) == "video" and not path.name.startswith(".")


def is_upscale_input(path: Path) -> bool:
    """A file `srgan upscale` takes from a folder or pattern: not hidden and of an input kind.

    An image name is taken whatever its frame count (the batch tells animations apart later),
    so that a folder scan opens only .gif and .apng files."""
    if path.name.startswith("."):
        return False
    return path.suffix.lower() in READ_EXTENSIONS or input_kind(path) is not None


def upscale_inputs_in(folder: Path, *, recursive: bool = False) -> list[Path]:
    """The files `srgan upscale` takes in `folder` (images, videos, animations), sorted."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and is_upscale_input(p))


def videos_in(folder: Path) -> list[Path]:
    """The video files directly in `folder`, sorted (a folder of videos for `srgan eval`)."""
    return sorted(p for p in folder.iterdir() if is_video_name(p) and p.is_file())


def video_set(spec: str | Path) -> list[Path] | None:
    """The videos of an eval dataset that is a video file or a folder of videos (a folder with
    no images and no HR/ subfolder), each video scored as HR; None for an image dataset.

    DatasetError for a video file that is not there."""
    p = Path(spec).expanduser()
    if is_video_name(p) and not p.is_dir():
        if not p.is_file():
            raise DatasetError(f"{show_path(p)}: no such video file")
        return [p]
    if p.is_dir() and find_subdir(p, "HR") is None and not images_in(p):
        return videos_in(p) or None
    return None


def resolve_data_root(explicit: str | Path | None = None) -> Path:
    """The data root: `explicit` (``--data-root``), else ``$SRGAN_DATA``, else ``./data``."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = data_root_env()
    return env if env is not None else Path.cwd() / "data"


def lr_scale_dir(lr_root: Path | None, scale: int) -> Path | None:
    """``<lr_root>/X<scale>`` (any case), or None."""
    return find_subdir(lr_root, f"X{scale}")


def benchmark_dirs(folder: Path, scale: int, *, with_lr: bool = True) -> tuple[Path, Path | None]:
    """(HR folder, LR folder or None) of a benchmark folder (``HR/``, ``LR_bicubic/X<s>/``);
    a folder without ``HR/`` is itself the HR folder and has no LR."""
    hr_dir = find_subdir(folder, "HR")
    if hr_dir is None:
        return folder, None
    lr_dir = lr_scale_dir(find_subdir(folder, "LR_bicubic"), scale) if with_lr else None
    return hr_dir, lr_dir


def find_benchmark(key: str, root: Path) -> Path:
    """The folder of a known benchmark (`BENCHMARKS` key) under the data root."""
    names = BENCHMARKS[key]
    folder = find_subdir(root, *names)
    if folder is None:
        raise DatasetError(
            f"{key}: no {' or '.join(names)} folder under {show_path(root)} (looked for "
            f"<Name>/HR; set {option('data_root')} or ${DATA_ENV}; {HELP})"
        )
    return folder


def div2k_dirs(
    root: Path, split: str, scale: int, *, with_lr: bool = True
) -> tuple[Path, Path, Path | None]:
    """(DIV2K folder, HR folder, LR folder or None) of the official layout under `root`."""
    base = find_subdir(root, "DIV2K")
    if base is None and find_subdir(root, f"DIV2K_{split}_HR") is not None:
        base = root  # the data root is the DIV2K folder itself
    hr_dir = None if base is None else find_subdir(base, f"DIV2K_{split}_HR")
    if base is None or hr_dir is None:
        where = root / "DIV2K" if base is None else base
        raise DatasetError(
            f"div2k: no DIV2K_{split}_HR folder in {show_path(where)} (set "
            f"{option('data_root')} or ${DATA_ENV}; {HELP})"
        )
    lr_dir = None
    if with_lr:
        lr_dir = lr_scale_dir(find_subdir(base, f"DIV2K_{split}_LR_bicubic"), scale)
    return base, hr_dir, lr_dir


def pair_images(hr_dir: Path, lr_dir: Path | None, scale: int, *, hint: str) -> list[ImagePair]:
    """Every image of `hr_dir` with its LR file from `lr_dir` (when given), in name order.

    Raises DatasetError for an empty `hr_dir` and for an HR image without an LR file (the
    message ends with `hint`, what the user can do)."""
    hr_files = images_in(hr_dir)
    if not hr_files:
        raise DatasetError(
            f"no images in {show_path(hr_dir)} ({', '.join(_SORTED_EXTENSIONS)}; {HELP})")
    check_unique_stems(hr_dir, hr_files)
    if lr_dir is None:
        return [ImagePair(hr) for hr in hr_files]
    lr_files = images_in(lr_dir)
    check_unique_stems(lr_dir, lr_files)  # else two files could pair with one HR image
    index = {p.name.lower(): p for p in lr_files}
    pairs = []
    for hr in hr_files:
        lr = _lr_file(index, hr.stem, scale)
        if lr is None:
            raise DatasetError(
                f"{show_path(hr)}: no LR image {show_path(hr.stem)}x{scale}.png (or "
                f"{show_path(hr.stem)}.png, any image extension) in {show_path(lr_dir)}; {hint}"
            )
        pairs.append(ImagePair(hr, lr))
    return pairs


def check_unique_stems(folder: Path, files: Sequence[Path], *, limit: int = 3) -> None:
    """DatasetError (one line naming them) when two of `files` share a stem, any case: the stem
    is an image's name (its LR file, its scores, its saved SR), so ``a.png`` and ``a.jpg``
    would be mixed up."""
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(f.stem.casefold(), []).append(f)
    shared = [g for g in groups.values() if len(g) > 1]
    if not shared:
        return
    shown = "; ".join(", ".join(show_path(p.name) for p in g) for g in shared[:limit])
    more = f"; and {len(shared) - limit} more" if len(shared) > limit else ""
    raise DatasetError(
        f"{show_path(folder)}: images whose names differ only in extension or case ({shown}"
        f"{more}): the name keys an image's LR file, scores and outputs; rename or remove all "
        "but one of each")


def _lr_file(index: dict[str, Path], stem: str, scale: int) -> Path | None:
    for base in (f"{stem}x{scale}", stem):
        for ext in _SORTED_EXTENSIONS:
            hit = index.get(f"{base}{ext}".lower())
            if hit is not None:
                return hit
    return None


@dataclass(frozen=True)
class DatasetDirs:
    """Where a dataset's images are: the name it is reported under, what `spec` named (DIV2K, a
    benchmark or a folder of one's own), its folder, the HR folder, the LR folder (None: LR is
    made from HR) and the size of the official set (None for a folder of one's own)."""

    name: str
    kind: Literal["div2k", "benchmark", "folder"]
    root: Path
    hr_dir: Path
    lr_dir: Path | None
    expected: int | None = None


def find_dataset(
    spec: str, scale: int, *, data_root: str | Path | None = None, split: str = "valid",
    with_lr: bool = True,
) -> DatasetDirs:
    """The folders of a dataset named by `spec`: "div2k" (its `split` under the data root), a
    benchmark name (`BENCHMARKS`, any case, under the data root) or a folder (benchmark layout
    with ``HR/``, or a plain folder of HR images); the LR folder only `with_lr`. DatasetError
    (one line, saying where it looked) for a dataset that is not there."""
    key = str(spec).lower()
    if key == DIV2K:
        base, hr_dir, lr_dir = div2k_dirs(resolve_data_root(data_root), split, scale,
                                          with_lr=with_lr)
        label = "DIV2K" if split == "valid" else "DIV2K-train"
        return DatasetDirs(label, "div2k", base, hr_dir, lr_dir, DIV2K_SIZES[split])
    if key in BENCHMARKS:
        folder = find_benchmark(key, resolve_data_root(data_root))
        hr_dir, lr_dir = benchmark_dirs(folder, scale, with_lr=with_lr)
        return DatasetDirs(folder.name, "benchmark", folder, hr_dir, lr_dir,
                           BENCHMARK_SIZES[key])
    folder = Path(spec).expanduser()
    if not folder.exists():
        raise DatasetError(
            f"dataset {str(spec)!r} is neither a known name ({', '.join(KNOWN)}) nor an existing "
            f"folder ({HELP})")
    if not folder.is_dir():
        raise DatasetError(
            f"{show_path(folder)}: is not a folder, expected HR images or an HR/ subfolder")
    hr_dir, lr_dir = benchmark_dirs(folder, scale, with_lr=with_lr)
    return DatasetDirs(folder.resolve().name, "folder", folder, hr_dir, lr_dir)


def gather_sources(
    data: Sequence[str], lr_data: Sequence[str], scale: int, data_root: str | Path = ""
) -> list[ImagePair]:
    """All training pairs of a config's `data` entries, each a dataset of `find_dataset`:
    "div2k" is its train split with its own LR folder; a benchmark or a folder gives its HR
    images (``HR/`` where there is one), each paired with the LR folder at the same position of
    `lr_data` when that is given (else LR is made with MATLAB bicubic)."""
    out: list[ImagePair] = []
    for i, entry in enumerate(data):
        found = find_dataset(entry, scale, data_root=data_root, split="train")
        lr_dir = found.lr_dir
        if found.kind == "div2k":
            hint = "complete the LR folder, or remove it to make LR with MATLAB bicubic"
        else:
            lr_dir = Path(lr_data[i]).expanduser() if lr_data else None
            if lr_dir is not None and not lr_dir.is_dir():
                raise DatasetError(f"LR folder {show_path(lr_dir)} does not exist")
            hint = "add it, or leave the LR folder out to make LR with MATLAB bicubic"
        out += pair_images(found.hr_dir, lr_dir, scale, hint=hint)
    return out
