"""Where images come from: folders, benchmark layouts, DIV2K, HR/LR pairing and the data root.

Rules shared by upscale, eval and training:
- an image is a regular file whose extension is in `imaging.READ_EXTENSIONS` (any case) and
  whose name does not start with a dot (hidden files, our own ``.part`` temp files); folders
  list in sorted order;
- folder names match case-insensitively (`fileio.find_subdir`): ``HR``, ``LR_bicubic``, ``X4``,
  ``DIV2K_train_HR`` ...; so do LR file names;
- the data root is ``--data-root``, else ``$SRGAN_DATA``, else ``./data``, ``~`` expanded;
- the LR image of ``<stem>.<ext>`` at scale s is ``<stem>x<s>.<any ext>`` (EDSR and DIV2K
  naming), else ``<stem>.<any ext>``; when an LR folder exists every HR image must have one.

Layouts: a benchmark folder holds ``HR/`` and optionally ``LR_bicubic/X<s>/`` (or is itself a
plain folder of HR images); DIV2K keeps its official ``DIV2K/DIV2K_<split>_HR`` and
``DIV2K/DIV2K_<split>_LR_bicubic/X<s>`` (the data root may also be the DIV2K folder itself).
Problems are `DatasetError`s that say where they looked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from srgan_cli.errors import DatasetError
from srgan_cli.fileio import find_subdir
from srgan_cli.media.decode import READ_EXTENSIONS
from srgan_cli.messages import show_path
from srgan_cli.options import DATA_ENV, data_root_env

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


def is_video_name(path: Path) -> bool:
    """A video name discovery picks up: a suffix of `video.VIDEO_SUFFIXES` (the one video
    extension set, apart from the image READ_EXTENSIONS), not hidden."""
    from srgan_cli.media.video import VIDEO_SUFFIXES

    return path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def is_upscale_input(path: Path) -> bool:
    """A file `srgan upscale` takes from a folder or pattern: an image, a video, or an animated
    GIF/APNG (GIF and .apng only when animated; still ones are not a supported format)."""
    if is_image_name(path) or is_video_name(path):
        return True
    if path.suffix.lower() in (".gif", ".apng") and not path.name.startswith("."):
        from srgan_cli.media.animation import is_animated

        return is_animated(path)
    return False


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
            f"<Name>/HR; set --data-root or ${DATA_ENV}; {HELP})"
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
            f"div2k: no DIV2K_{split}_HR folder in {show_path(where)} (set --data-root or "
            f"${DATA_ENV}; {HELP})"
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
    if lr_dir is None:
        return [ImagePair(hr) for hr in hr_files]
    index = {p.name.lower(): p for p in images_in(lr_dir)}
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


def _lr_file(index: dict[str, Path], stem: str, scale: int) -> Path | None:
    for base in (f"{stem}x{scale}", stem):
        for ext in _SORTED_EXTENSIONS:
            hit = index.get(f"{base}{ext}".lower())
            if hit is not None:
                return hit
    return None


def gather_sources(
    data: Sequence[str], lr_data: Sequence[str], scale: int, data_root: str | Path = ""
) -> list[ImagePair]:
    """All training pairs of a config's `data` entries: "div2k" (the train split under the data
    root) or folders of HR images (or benchmark folders: their ``HR/``), each paired with the
    LR folder at the same position of `lr_data` when that is given."""
    out: list[ImagePair] = []
    for i, entry in enumerate(data):
        if entry.lower() == DIV2K:
            _, hr_dir, lr_dir = div2k_dirs(resolve_data_root(data_root), "train", scale)
            hint = "complete the LR folder, or remove it to make LR with MATLAB bicubic"
        else:
            folder = Path(entry).expanduser()
            if not folder.is_dir():
                raise DatasetError(f"training folder {show_path(folder)} does not exist")
            hr_dir, _ = benchmark_dirs(folder, scale, with_lr=False)
            lr_dir = Path(lr_data[i]).expanduser() if lr_data else None
            if lr_dir is not None and not lr_dir.is_dir():
                raise DatasetError(f"LR folder {show_path(lr_dir)} does not exist")
            hint = "add it, or leave the LR folder out to make LR with MATLAB bicubic"
        out += pair_images(hr_dir, lr_dir, scale, hint=hint)
    return out
