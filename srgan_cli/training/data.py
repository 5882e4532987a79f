"""Training data: decode the HR (and LR) images once into a cache, sample aligned patches.

The images come from `discovery.gather_sources` and are decoded by `decode.read_uint8` (every
guard of the one decoder; gray replicated to RGB, alpha dropped, 16-bit rounded).

Decoding a 2K PNG for every crop is far too slow, so each image is decoded once (HR cropped to a
multiple of the scale; LR read from disk when given, else made with the MATLAB bicubic) and stored
as ``.npy`` in a cache folder; workers memory-map those arrays, so a crop costs microseconds and the
OS page cache is shared between workers.

Sampling is a pure function of (seed, sample index): sample ``k`` of the run always gives the same
image, crop and augmentation, so resuming at step ``s`` only needs ``s``, and DDP ranks take
disjoint sample indices."""

from __future__ import annotations

import hashlib
import signal
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from srgan_cli.errors import DatasetError, OutputError, SrganError
from srgan_cli.fileio import atomic_write
from srgan_cli.media.decode import read_uint8
from srgan_cli.media.discovery import ImagePair
from srgan_cli.media.pixels import hwc_to_chw
from srgan_cli.media.resize import imresize, modcrop
from srgan_cli.options import cache_home
from srgan_cli.signals import TERMINATING

CACHE_VERSION = "1"


@dataclass(frozen=True)
class CachedPair:
    """A decoded image pair in the cache: `.npy` paths and the LR size."""

    name: str
    hr: Path
    lr: Path
    lr_size: tuple[int, int]  # (H, W)


def default_cache_dir() -> Path:
    return cache_home() / "srgan-cli" / "decoded"


def _cache_key(src: ImagePair, scale: int) -> str:
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


def decode_pair(src: ImagePair, scale: int, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode one pair: HR modcropped, LR from file (size-checked) or MATLAB bicubic."""
    hr = modcrop(read_uint8(src.hr), scale)
    if hr.shape[0] < patch_size or hr.shape[1] < patch_size:
        raise DatasetError(
            f"{src.hr}: image is {hr.shape[1]}x{hr.shape[0]} px, smaller than the "
            f"{patch_size} px patch"
        )
    if src.lr is not None:
        lr = read_uint8(src.lr)
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
    sources: Sequence[ImagePair],
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
        raise OutputError(f"cache folder {cache_dir}: cannot create ({e.strerror or e})") from e
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
        except OutputError:  # the cache could not be written (disk full): not a bad image
            raise
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
        return hwc_to_chw(hr_c), hwc_to_chw(lr_c)


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
    """A DataLoader worker's start: it ignores SIGINT, SIGTERM and SIGHUP, so a signal sent to
    the whole process group (Ctrl-C, `timeout`, SLURM, systemd) reaches only the main process,
    which decides (`signals.stop_requests`: finish the step, save, stop) and then stops the
    workers itself; torch/numpy globals seeded per worker (sampling is keyed by sample index)."""
    for sig in (signal.SIGINT, *TERMINATING):
        signal.signal(sig, signal.SIG_IGN)
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
