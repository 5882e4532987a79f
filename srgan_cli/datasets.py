"""Benchmark datasets for evaluation: Set5, Set14, B100, Urban100, Manga109, DIV2K or a folder.

A benchmark root (``--data-root``, else ``$SRGAN_DATA``, else ``./data``) holds the EDSR layout
``<Name>/HR/<name>.png`` and optionally ``<Name>/LR_bicubic/X<s>/<name>x<s>.png``; DIV2K keeps its
official layout ``DIV2K/DIV2K_<split>_HR`` and ``DIV2K/DIV2K_<split>_LR_bicubic/X<s>``. Folder
names match case-insensitively. HR is cropped top-left to a multiple of the scale; shipped LR files
are used (their size checked) unless missing or ``regenerate_lr``, then LR is MATLAB bicubic of HR.
Gray images stay gray (HxW) so that they are scored on their own values.

Structural problems (missing or empty folders, missing LR files, sizes wrong in the headers) are
DatasetErrors when the dataset is opened; a file that fails to decode later is reported per image
by ``BenchmarkDataset.load_all`` (a ``LoadFailure``) so that an evaluation can go on without it.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

from srgan_cli.errors import DatasetError, UsageError
from srgan_cli.fileio import find_subdir
from srgan_cli.resize import imresize, modcrop

DATA_ENV = "SRGAN_DATA"
HELP = "see data/README.md"
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
SPLITS = ("valid", "train")
# spec -> folder names tried under the data root (case-insensitively), first is canonical
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "set5": ("Set5",),
    "set14": ("Set14",),
    "b100": ("B100", "BSD100"),
    "bsd100": ("B100", "BSD100"),
    "urban100": ("Urban100",),
    "manga109": ("Manga109",),
}
DIV2K = "div2k"
KNOWN = (*BENCHMARKS, DIV2K)
_GRAY_MODES = ("L", "LA", "1", "I;16", "I;16B", "I;16L", "I")

LrSource = Literal["file", "bicubic"]


@dataclass(frozen=True)
class Sample:
    """One evaluation pair: HR cropped to a multiple of the scale, and its LR (H/s x W/s)."""

    name: str
    hr: np.ndarray
    lr: np.ndarray
    lr_source: LrSource


@dataclass(frozen=True)
class LoadFailure:
    """An image of the dataset that could not be loaded; ``error`` is the one-line reason."""

    name: str
    error: str


@dataclass(frozen=True)
class _Entry:
    name: str
    hr_path: Path
    lr_path: Path | None


def resolve_data_root(explicit: str | Path | None = None) -> Path:
    """The benchmark root: the argument, else $SRGAN_DATA, else ./data."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path.cwd() / "data"


def _images(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _lr_file(by_name: dict[str, Path], stem: str, scale: int) -> Path | None:
    """``<stem>x<s>.<ext>`` (EDSR / DIV2K naming) or ``<stem>.<ext>`` from a lowercase index."""
    for base in (f"{stem}x{scale}", stem):
        for suffix in IMAGE_SUFFIXES:
            hit = by_name.get(f"{base}{suffix}".lower())
            if hit is not None:
                return hit
    return None


def _header_size(path: Path) -> tuple[int, int] | None:
    """(height, width) from the file header, orientation applied; None if unreadable (the
    decode error is then reported for this image alone, when it is loaded)."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            if im.format == "PNG" and "exif" not in im.info:
                # Pillow would decode all the pixels to look for an eXIf chunk after them
                orientation = 1
            else:
                orientation = im.getexif().get(0x0112, 1)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def load_image(path: Path) -> np.ndarray:
    """Decode to uint8: HxW for grayscale files, HxWx3 RGB otherwise (alpha dropped)."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                return np.clip(np.floor(arr / 257.0 + 0.5), 0, 255).astype(np.uint8)
            if im.mode in _GRAY_MODES:
                return np.array(im.convert("L"), dtype=np.uint8)
            return np.array(im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise DatasetError(f"{path}: cannot read image ({e})") from e


class BenchmarkDataset:
    """HR/LR pairs of one dataset at one scale; images are decoded lazily while iterating."""

    def __init__(
        self, name: str, scale: int, root: Path, entries: list[_Entry], lr_dir: Path | None
    ) -> None:
        self.name = name
        self.scale = scale
        self.root = root
        self.lr_dir = lr_dir
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    @property
    def lr_source(self) -> LrSource:
        """"file" when shipped LR images are used, "bicubic" when LR is made from HR."""
        return "file" if self.lr_dir is not None else "bicubic"

    def __iter__(self) -> Iterator[Sample]:
        """Every sample in order; a file that fails to decode raises DatasetError."""
        for entry in self._entries:
            yield self._load(entry)

    def load_all(self) -> Iterator[Sample | LoadFailure]:
        """Every sample in order, with a LoadFailure in place of each one that fails to load."""
        for entry in self._entries:
            try:
                yield self._load(entry)
            except DatasetError as e:
                yield LoadFailure(entry.name, str(e))

    def __repr__(self) -> str:
        return (f"BenchmarkDataset({self.name!r}, x{self.scale}, {len(self)} images, "
                f"LR {self.lr_source}, root={str(self.root)!r})")

    def _load(self, entry: _Entry) -> Sample:
        s = self.scale
        hr = modcrop(load_image(entry.hr_path), s)
        if entry.lr_path is None:
            return Sample(entry.name, hr, imresize(hr, 1 / s), "bicubic")
        lr = load_image(entry.lr_path)
        _check_lr_size(entry.lr_path, lr.shape[:2], hr.shape[:2], s)
        return Sample(entry.name, hr, lr, "file")


def _check_lr_size(
    lr_path: Path, lr_hw: tuple[int, ...], hr_hw: tuple[int, ...], scale: int
) -> None:
    if (lr_hw[0] * scale, lr_hw[1] * scale) != tuple(hr_hw):
        raise DatasetError(
            f"{lr_path}: LR is {lr_hw[1]}x{lr_hw[0]}, expected {hr_hw[1] // scale}x"
            f"{hr_hw[0] // scale} (HR cropped to {hr_hw[1]}x{hr_hw[0]}, divided by x{scale})"
        )


def _entries(
    hr_dir: Path, lr_dir: Path | None, scale: int, label: str
) -> list[_Entry]:
    """One entry per HR image; sizes checked from the headers so that errors come early.

    A file whose header cannot be read is kept: it fails alone when it is loaded."""
    hr_files = _images(hr_dir)
    if not hr_files:
        raise DatasetError(f"{label}: no images in {hr_dir} ({HELP})")
    lr_index = {} if lr_dir is None else {p.name.lower(): p for p in _images(lr_dir)}
    entries = []
    for hr_path in hr_files:
        hr_hw = _header_size(hr_path)
        if hr_hw is not None and min(hr_hw) < scale:
            h, w = hr_hw
            raise DatasetError(f"{hr_path}: image is {w}x{h}, smaller than the scale x{scale}")
        lr_path = None
        if lr_dir is not None:
            lr_path = _lr_file(lr_index, hr_path.stem, scale)
            if lr_path is None:
                raise DatasetError(
                    f"{lr_dir}: no LR image {hr_path.stem}x{scale}.png for {hr_path.name}; "
                    "add it, remove the folder, or pass --regenerate-lr"
                )
            lr_hw = _header_size(lr_path)
            if hr_hw is not None and lr_hw is not None:
                h, w = hr_hw
                _check_lr_size(lr_path, lr_hw, (h - h % scale, w - w % scale), scale)
        entries.append(_Entry(hr_path.stem, hr_path, lr_path))
    return entries


def _scale_dir(lr_root: Path | None, scale: int) -> Path | None:
    return None if lr_root is None else find_subdir(lr_root, f"X{scale}")


def _benchmark_folder(folder: Path, name: str, scale: int, regenerate_lr: bool) -> BenchmarkDataset:
    """A folder in the EDSR layout (HR/ and maybe LR_bicubic/X<s>/) or a plain folder of HR."""
    hr_dir = find_subdir(folder, "HR")
    if hr_dir is None:
        hr_dir, lr_dir = folder, None
    else:
        lr_dir = None if regenerate_lr else _scale_dir(find_subdir(folder, "LR_bicubic"), scale)
    return BenchmarkDataset(name, scale, folder, _entries(hr_dir, lr_dir, scale, name), lr_dir)


def _known_benchmark(key: str, root: Path, scale: int, regenerate_lr: bool) -> BenchmarkDataset:
    names = BENCHMARKS[key]
    folder = find_subdir(root, *names)
    if folder is None:
        raise DatasetError(
            f"{key}: no {' or '.join(names)} folder under {root} (looked for <Name>/HR; set "
            f"--data-root or ${DATA_ENV}; {HELP})"
        )
    return _benchmark_folder(folder, folder.name, scale, regenerate_lr)


def _div2k(root: Path, scale: int, split: str, regenerate_lr: bool) -> BenchmarkDataset:
    base = find_subdir(root, "DIV2K")
    if base is None and find_subdir(root, f"DIV2K_{split}_HR") is not None:
        base = root  # the data root is the DIV2K folder itself
    hr_dir = None if base is None else find_subdir(base, f"DIV2K_{split}_HR")
    if base is None or hr_dir is None:
        where = root / "DIV2K" if base is None else base
        raise DatasetError(
            f"div2k: no DIV2K_{split}_HR folder in {where} (set --data-root or ${DATA_ENV}; {HELP})"
        )
    lr_dir = None
    if not regenerate_lr:
        lr_dir = _scale_dir(find_subdir(base, f"DIV2K_{split}_LR_bicubic"), scale)
    label = "DIV2K" if split == "valid" else "DIV2K-train"
    return BenchmarkDataset(label, scale, base, _entries(hr_dir, lr_dir, scale, label), lr_dir)


def open_dataset(
    spec: str,
    scale: int,
    *,
    data_root: str | Path | None = None,
    split: str = "valid",
    regenerate_lr: bool = False,
) -> BenchmarkDataset:
    """A dataset by name (set5, set14, b100/bsd100, urban100, manga109, div2k) or folder path.

    Known names are looked up under the benchmark root; anything else must be a folder, in the
    benchmark layout (with HR/) or a plain folder of HR images. ``split`` applies to div2k only.
    Raises DatasetError (one line, saying where it looked) for a missing, empty or inconsistent
    dataset and UsageError for a bad scale or split."""
    spec = str(spec)
    try:
        scale = operator.index(scale)
    except TypeError:
        raise UsageError(f"scale must be a positive integer, got {scale!r}") from None
    if scale < 1:
        raise UsageError(f"scale must be a positive integer, got {scale}")
    if split not in SPLITS:
        raise UsageError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    key = spec.lower()
    if key == DIV2K:
        return _div2k(resolve_data_root(data_root), scale, split, regenerate_lr)
    if split != "valid":
        raise UsageError(f"--split {split} applies to div2k only, not to {spec!r}")
    if key in BENCHMARKS:
        return _known_benchmark(key, resolve_data_root(data_root), scale, regenerate_lr)
    folder = Path(spec).expanduser()
    if not folder.exists():
        raise DatasetError(
            f"dataset {spec!r} is neither a known name ({', '.join(KNOWN)}) nor an existing folder"
            f" ({HELP})"
        )
    if not folder.is_dir():
        raise DatasetError(f"{folder}: is not a folder, expected HR images or an HR/ subfolder")
    return _benchmark_folder(folder, folder.resolve().name, scale, regenerate_lr)

