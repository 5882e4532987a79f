"""Training data: find HR (and LR) images, decode them once into a cache, sample aligned patches.

Decoding a 2K PNG for every crop is far too slow, so each image is decoded once (HR cropped to a
multiple of the scale; LR read from disk when given, else made with the MATLAB bicubic) and stored
as ``.npy`` in a cache folder; workers memory-map those arrays, so a crop costs microseconds and the
OS page cache is shared between workers.

Sampling is a pure function of (seed, sample index): sample ``k`` of the run always gives the same
image, crop and augmentation, so resuming at step ``s`` only needs ``s``, and DDP ranks take
disjoint sample indices."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from srgan_cli.errors import DatasetError, SrganError
from srgan_cli.fileio import atomic_write, find_subdir
from srgan_cli.imaging import load_rgb_uint8
from srgan_cli.resize import imresize, modcrop

TRAIN_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
CACHE_VERSION = "1"


@dataclass(frozen=True)
class SourcePair:
    """One training image: its HR file and, optionally, its LR file."""

    hr: Path
    lr: Path | None = None


@dataclass(frozen=True)
class CachedPair:
    """A decoded image pair in the cache: `.npy` paths and the LR size."""

    name: str
    hr: Path
    lr: Path
    lr_size: tuple[int, int]  # (H, W)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in TRAIN_EXTENSIONS)


def default_data_root() -> Path:
    return Path(os.environ.get("SRGAN_DATA", "data"))


def div2k_sources(root: Path, scale: int, split: str = "train") -> list[SourcePair]:
    """The official DIV2K layout: DIV2K/DIV2K_<split>_HR and DIV2K_<split>_LR_bicubic/X<s>."""
    base = find_subdir(root, "DIV2K") or root
    hr_dir = find_subdir(base, f"DIV2K_{split}_HR")
    if hr_dir is None:
        raise DatasetError(
            f"DIV2K not found: no folder {base / f'DIV2K_{split}_HR'} (set --data-root or "
            "SRGAN_DATA; see data/README.md)"
        )
    lr_parent = find_subdir(base, f"DIV2K_{split}_LR_bicubic")
    lr_dir = find_subdir(lr_parent, f"X{scale}") if lr_parent is not None else None
    pairs = []
    for hr in _images_in(hr_dir):
        lr = None
        if lr_dir is not None:  # the LR folder is there: every LR file must be too
            lr = lr_dir / f"{hr.stem}x{scale}.png"
            if not lr.is_file():
                raise DatasetError(
                    f"{lr}: missing LR image for {hr.name} (complete {lr_dir}, or remove it to "
                    "make LR with MATLAB bicubic)"
                )
        pairs.append(SourcePair(hr, lr))
    if not pairs:
        raise DatasetError(f"DIV2K folder {hr_dir} holds no images (see data/README.md)")
    return pairs


def folder_sources(folder: Path, lr_folder: Path | None, scale: int) -> list[SourcePair]:
    """HR images of a folder (or its HR/ subfolder), paired with LR files by name when given."""
    if not folder.is_dir():
        raise DatasetError(f"training folder {folder} does not exist")
    if (folder / "HR").is_dir():
        folder = folder / "HR"
    pairs = []
    for hr in _images_in(folder):
        lr = None
        if lr_folder is not None:
            candidates = [lr_folder / f"{hr.stem}{sfx}" for sfx in ("", f"x{scale}")]
            found = [c for stem in candidates for c in _with_any_ext(stem)]
            if not found:
                raise DatasetError(f"{hr}: no LR image of the same name in {lr_folder}")
            lr = found[0]
        pairs.append(SourcePair(hr, lr))
    if not pairs:
        raise DatasetError(f"training folder {folder} holds no PNG, JPEG or BMP images")
    return pairs


def _with_any_ext(stem: Path) -> list[Path]:
    candidates = (stem.with_name(stem.name + e) for e in TRAIN_EXTENSIONS)
    return [c for c in candidates if c.is_file()]


def gather_sources(
    data: Sequence[str], lr_data: Sequence[str], scale: int, data_root: str = ""
) -> list[SourcePair]:
    """All training pairs of the config's `data` entries ("div2k" or folders)."""
    root = Path(data_root) if data_root else default_data_root()
    out: list[SourcePair] = []
    for i, entry in enumerate(data):
        if entry.lower() == "div2k":
            out += div2k_sources(root, scale)
        else:
            lr = Path(lr_data[i]) if lr_data else None
            out += folder_sources(Path(entry), lr, scale)
    return out


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "srgan-cli" / "decoded"


def _cache_key(src: SourcePair, scale: int) -> str:
    h = hashlib.sha1(CACHE_VERSION.encode())
    for p in (src.hr, src.lr):
        if p is None:
            h.update(b"<bicubic>")
            continue
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    h.update(f"x{scale}".encode())
    return h.hexdigest()[:20]


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_write(path) as tmp, tmp.open("wb") as fh:  # a handle: np.save adds .npy to names
        np.save(fh, arr)


def decode_pair(src: SourcePair, scale: int, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode one pair: HR modcropped, LR from file (size-checked) or MATLAB bicubic."""
    hr = modcrop(load_rgb_uint8(src.hr), scale)
    if hr.shape[0] < patch_size or hr.shape[1] < patch_size:
        raise DatasetError(
            f"{src.hr}: image is {hr.shape[1]}x{hr.shape[0]} px, smaller than the "
            f"{patch_size} px patch"
        )
    if src.lr is not None:
        lr = load_rgb_uint8(src.lr)
        want = (hr.shape[0] // scale, hr.shape[1] // scale)
        if lr.shape[:2] != want:
            raise DatasetError(
                f"{src.lr}: LR is {lr.shape[1]}x{lr.shape[0]}, expected {want[1]}x{want[0]} "
                f"(HR {hr.shape[1]}x{hr.shape[0]} / {scale})"
            )
    else:
        lr = imresize(hr, 1 / scale)
    return np.ascontiguousarray(hr), np.ascontiguousarray(lr)


def build_cache(
    sources: Sequence[SourcePair],
    scale: int,
    patch_size: int,
    cache_dir: Path,
    *,
    skip_bad: bool = False,
    warn: Callable[[str], None] | None = None,
) -> list[CachedPair]:
    """Decode every pair once into `cache_dir` (reusing what is there); return the entries."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"cache folder {cache_dir}: cannot create ({e.strerror or e})") from e
    entries: list[CachedPair] = []
    for src in sources:
        try:
            key = _cache_key(src, scale)
            hr_p, lr_p = cache_dir / f"{key}_hr.npy", cache_dir / f"{key}_lr.npy"
            shapes = _cached_shapes(hr_p, lr_p)
            if shapes is not None:
                hr_shape, lr_shape = shapes
                if hr_shape[0] < patch_size or hr_shape[1] < patch_size:
                    raise DatasetError(
                        f"{src.hr}: image is {hr_shape[1]}x{hr_shape[0]} px, smaller than the "
                        f"{patch_size} px patch"
                    )
            else:
                hr, lr = decode_pair(src, scale, patch_size)
                _atomic_save_npy(hr_p, hr)
                _atomic_save_npy(lr_p, lr)
                lr_shape = lr.shape
            entries.append(CachedPair(src.hr.stem, hr_p, lr_p, (lr_shape[0], lr_shape[1])))
        except (SrganError, OSError) as e:
            if not skip_bad:
                if isinstance(e, DatasetError):
                    raise
                if isinstance(e, SrganError):  # e.g. InputImageError: its message names the file
                    raise DatasetError(f"training image {e}") from e
                raise DatasetError(f"{src.hr}: {e}") from e
            what = str(e) if isinstance(e, SrganError) else f"{src.hr}: {e}"
            msg = f"warning: skipping {what}"
            if warn is not None:
                warn(msg)
            else:
                warnings.warn(msg, stacklevel=2)
    if not entries:
        raise DatasetError("no usable training images left")
    return entries


def _cached_shapes(
    hr_p: Path, lr_p: Path
) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Shapes of a cached pair, or None when missing or unreadable (then it is rebuilt)."""
    if not (hr_p.is_file() and lr_p.is_file()):
        return None
    try:
        return np.load(hr_p, mmap_mode="r").shape, np.load(lr_p, mmap_mode="r").shape
    except (ValueError, OSError, EOFError):  # torn or corrupt cache file
        return None


def sample_patch(
    hr: np.ndarray, lr: np.ndarray, scale: int, patch_size: int, rng: np.random.Generator,
    augment: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """An aligned (HR, LR) crop pair with random flips and 90-degree rotation."""
    lp = patch_size // scale
    top = int(rng.integers(0, lr.shape[0] - lp + 1))
    left = int(rng.integers(0, lr.shape[1] - lp + 1))
    lr_c = lr[top : top + lp, left : left + lp]
    hr_c = hr[top * scale : (top + lp) * scale, left * scale : (left + lp) * scale]
    if augment:
        hflip, vflip, rot = rng.integers(0, 2, size=3)
        if hflip:
            lr_c, hr_c = lr_c[:, ::-1], hr_c[:, ::-1]
        if vflip:
            lr_c, hr_c = lr_c[::-1], hr_c[::-1]
        if rot:
            lr_c, hr_c = lr_c.transpose(1, 0, 2), hr_c.transpose(1, 0, 2)
    return np.ascontiguousarray(hr_c), np.ascontiguousarray(lr_c)


class PatchDataset(Dataset):
    """Index k -> (HR, LR) uint8 CHW tensors, a pure function of (seed, k)."""

    def __init__(
        self, entries: Sequence[CachedPair], scale: int, patch_size: int, seed: int,
        augment: bool = True,
    ) -> None:
        self.entries = list(entries)
        self.scale = scale
        self.patch_size = patch_size
        self.seed = seed
        self.augment = augment
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:  # virtual: any index is valid
        return 2**62

    def _arrays_of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self._arrays:
            e = self.entries[i]
            self._arrays[i] = (np.load(e.hr, mmap_mode="r"), np.load(e.lr, mmap_mode="r"))
        return self._arrays[i]

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(k)])
        i = int(rng.integers(0, len(self.entries)))
        hr, lr = self._arrays_of(i)
        hr_c, lr_c = sample_patch(hr, lr, self.scale, self.patch_size, rng, self.augment)
        return (
            torch.from_numpy(hr_c).permute(2, 0, 1).contiguous(),
            torch.from_numpy(lr_c).permute(2, 0, 1).contiguous(),
        )


class StepBatchSampler(Sampler[list[int]]):
    """Batches of sample indices for steps [start, total): step s, rank r gets
    ``s*B*world + r*B + j``; so the data stream depends only on the step (exact resume, DDP)."""

    def __init__(self, start_step: int, total_steps: int, batch_size: int, rank: int = 0,
                 world_size: int = 1) -> None:
        self.start = start_step
        self.total = total_steps
        self.batch = batch_size
        self.rank = rank
        self.world = world_size

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        for s in range(self.start, self.total):
            base = (s * self.world + self.rank) * self.batch
            yield list(range(base, base + self.batch))


def worker_init(worker_id: int) -> None:
    """Per-worker seeding of torch/numpy globals (sampling itself is keyed by sample index)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
