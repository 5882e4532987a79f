"""Benchmark datasets for evaluation: Set5, Set14, B100, Urban100, Manga109, DIV2K or a folder.

Where the files are is `discovery`'s job (data root, EDSR and DIV2K layouts, LR pairing, case-
insensitive names); this module turns them into samples. HR is cropped top-left to a multiple of
the scale; shipped LR files are used (their size checked) unless missing or ``regenerate_lr``,
then LR is MATLAB bicubic of HR. Images are decoded by `decode.read_image`, with every guard
upscale has; gray images stay gray (HxW) so that they are scored on their own values.

Structural problems (missing or empty folders, missing LR files, ambiguous names, sizes wrong in
the headers) are DatasetErrors when the dataset is opened, and images too small for a protocol's
border crop are one DatasetError of ``check_scorable`` before anything is scored; a file that
fails to decode later (an InputImageError) is reported per image by
``BenchmarkDataset.load_all`` (a ``LoadFailure``) so that an evaluation can go on without it.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from srgan_cli.errors import DatasetError, InputImageError, SrganError, UsageError
from srgan_cli.evaluation.metrics import SSIM_WINDOW
from srgan_cli.media import discovery
from srgan_cli.media.decode import peek_size, read_uint8
from srgan_cli.media.discovery import DIV2K, ImagePair
from srgan_cli.media.resize import imresize, modcrop
from srgan_cli.messages import option, show_path

SPLITS = ("valid", "train")
_LR_HINT = f"add it, remove the folder, or pass {option('regenerate_lr')}"

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
    """An image of the dataset that could not be loaded; ``error`` is the one-line reason and
    ``exit_code`` that of its error (InputImageError's 3 for a file that does not decode)."""

    name: str
    error: str
    exit_code: int = InputImageError.exit_code


def _read(path: Path) -> np.ndarray:
    """Decode to uint8 for scoring: HxW for gray sources, HxWx3 RGB otherwise (alpha dropped).

    A file the decoder refuses is an InputImageError "<path>: cannot read image (<reason>)"."""
    try:
        return read_uint8(path, keep_gray=True)
    except InputImageError as e:
        reason = str(e).removeprefix(f"{show_path(path)}: ")
        raise InputImageError(f"{show_path(path)}: cannot read image ({reason})") from e


def min_scorable_side(scale: int, crop_border: int, window: int = SSIM_WINDOW) -> int:
    """The smallest HR side that can be scored: cropped to a multiple of `scale`, less
    `crop_border` pixels at each edge, `window` pixels (SSIM's window) must be left."""
    need = window + 2 * crop_border
    return -(-need // scale) * scale


class BenchmarkDataset:
    """HR/LR pairs of one dataset at one scale; images are decoded lazily while iterating.

    `expected` is the number of images of the official set (None for a folder of one's own);
    `partial` says fewer were found, so that a report never passes a partial set off as the
    standard one."""

    def __init__(
        self, name: str, scale: int, root: Path, entries: list[ImagePair], lr_dir: Path | None,
        expected: int | None = None, hr_sizes: list[tuple[int, int] | None] | None = None,
    ) -> None:
        self.name = name
        self.scale = scale
        self.root = root
        self.lr_dir = lr_dir
        self.expected = expected
        self._entries = entries
        self._hr_sizes = hr_sizes  # (h, w) from the headers, None where unreadable

    @property
    def partial(self) -> bool:
        """Fewer images found than the official set holds."""
        return self.expected is not None and len(self) < self.expected

    def __len__(self) -> int:
        return len(self._entries)

    def subset(self, indices: Sequence[int]) -> BenchmarkDataset:
        """The images at `indices`, in that order, under this dataset's name, scale and expected
        count (one process's share under torchrun: `distributed.shard`)."""
        sizes = self._hr_sizes
        return BenchmarkDataset(self.name, self.scale, self.root,
                                [self._entries[i] for i in indices], self.lr_dir, self.expected,
                                None if sizes is None else [sizes[i] for i in indices])

    @property
    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    @property
    def files(self) -> list[Path]:
        """Every file the dataset reads: its HR images and their LR files."""
        return [p for e in self._entries for p in (e.hr, e.lr) if p is not None]

    @property
    def lr_source(self) -> LrSource:
        """"file" when shipped LR images are used, "bicubic" when LR is made from HR."""
        return "file" if self.lr_dir is not None else "bicubic"

    def check_scorable(self, crop_border: int | None = None, *, window: int = SSIM_WINDOW,
                       metric: str = "SSIM") -> None:
        """DatasetError, one line with their count and an example, when images are too small
        to score with `crop_border` (None: the scale) cropped from each edge: `metric` needs
        `window` pixels a side left. From the headers, so before anything runs; an image whose
        header does not read fails when loaded."""
        crop = self.scale if crop_border is None else crop_border
        side = min_scorable_side(self.scale, crop, window)
        sizes = self._hr_sizes
        if sizes is None:
            sizes = self._hr_sizes = [peek_size(e.hr) for e in self._entries]
        small = [(e, hw) for e, hw in zip(self._entries, sizes, strict=True)
                 if hw is not None and min(hw) < side]
        if not small:
            return
        entry, (h, w) = small[0]
        raise DatasetError(
            f"{self.name}: {len(small)} of {len(self)} images are too small to score (such as "
            f"{show_path(entry.hr.name)}, {w}x{h}): at x{self.scale} with {crop} px cropped "
            f"from each edge, {metric} needs {window}x{window} px left, so at least "
            f"{side}x{side}; remove them" + (f" or lower {option('crop_border')}" if crop else ""))

    def __iter__(self) -> Iterator[Sample]:
        """Every sample in order; a file that fails to decode raises InputImageError, an LR
        file of the wrong size DatasetError."""
        for entry in self._entries:
            yield self._load(entry)

    def load_all(self) -> Iterator[Sample | LoadFailure]:
        """Every sample in order, with a LoadFailure in place of each one that fails to load."""
        for entry in self._entries:
            try:
                yield self._load(entry)
            except SrganError as e:
                yield LoadFailure(entry.name, str(e), e.exit_code)

    def __repr__(self) -> str:
        found = f"{len(self)} of {self.expected}" if self.partial else str(len(self))
        return (f"BenchmarkDataset({self.name!r}, x{self.scale}, {found} images, "
                f"LR {self.lr_source}, root={str(self.root)!r})")

    def _load(self, entry: ImagePair) -> Sample:
        s = self.scale
        hr = modcrop(_read(entry.hr), s)
        if entry.lr is None:
            return Sample(entry.name, hr, imresize(hr, 1 / s), "bicubic")
        lr = _read(entry.lr)
        _check_lr_size(entry.lr, lr.shape[:2], hr.shape[:2], s)
        return Sample(entry.name, hr, lr, "file")


def _check_lr_size(
    lr_path: Path, lr_hw: tuple[int, ...], hr_hw: tuple[int, ...], scale: int
) -> None:
    if (lr_hw[0] * scale, lr_hw[1] * scale) != tuple(hr_hw):
        raise DatasetError(
            f"{show_path(lr_path)}: LR is {lr_hw[1]}x{lr_hw[0]}, expected {hr_hw[1] // scale}x"
            f"{hr_hw[0] // scale} (HR cropped to {hr_hw[1]}x{hr_hw[0]}, divided by x{scale})"
        )


def _checked(pairs: list[ImagePair], scale: int) -> list[tuple[int, int] | None]:
    """The HR sizes of `pairs` from the headers, checked so that errors come early.

    A file whose header cannot be read is kept (size None): it fails alone when loaded."""
    sizes = []
    for pair in pairs:
        hr_hw = peek_size(pair.hr)
        sizes.append(hr_hw)
        if hr_hw is not None and min(hr_hw) < scale:
            h, w = hr_hw
            raise DatasetError(
                f"{show_path(pair.hr)}: image is {w}x{h}, smaller than the scale x{scale}")
        lr_hw = None if pair.lr is None else peek_size(pair.lr)
        if pair.lr is not None and hr_hw is not None and lr_hw is not None:
            h, w = hr_hw
            _check_lr_size(pair.lr, lr_hw, (h - h % scale, w - w % scale), scale)
    return sizes


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
        raise UsageError(f"{option('split')} must be one of {', '.join(SPLITS)}, got {split!r}")
    if split != "valid" and spec.lower() != DIV2K:
        raise UsageError(f"{option('split')} {split} applies to div2k only, not to {spec!r}")
    found = discovery.find_dataset(spec, scale, data_root=data_root, split=split,
                                   with_lr=not regenerate_lr)
    pairs = discovery.pair_images(found.hr_dir, found.lr_dir, scale, hint=_LR_HINT)
    return BenchmarkDataset(found.name, scale, found.root, pairs, found.lr_dir, found.expected,
                            _checked(pairs, scale))
