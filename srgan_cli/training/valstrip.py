"""A picture of each validation: bicubic | SR | HR crops of the first few validation images, one
row per image, saved as ``run_dir/val/step_000123.png`` so progress can be seen, not only read."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from srgan_cli.errors import OutputError
from srgan_cli.evaluation.datasets import Sample
from srgan_cli.evaluation.evaluate import as_rgb
from srgan_cli.media.encode import write_png as encode_png
from srgan_cli.media.resize import imresize

FOLDER = "val"
ROWS = 3  # validation images shown
CROP = 64  # HR crop size in pixels
GAP = 2  # white pixels between panels


def strip_path(run_dir: Path, step: int) -> Path:
    return run_dir / FOLDER / f"step_{step:06d}.png"


def center_crops(lr: np.ndarray, hr: np.ndarray, scale: int,
                 crop: int = CROP) -> tuple[np.ndarray, np.ndarray]:
    """The central LR crop of about `crop`/`scale` pixels and the HR crop it corresponds to."""
    h, w = lr.shape[:2]
    c = max(1, min(crop // scale, h, w))
    y, x = (h - c) // 2, (w - c) // 2
    return lr[y:y + c, x:x + c], hr[y * scale:(y + c) * scale, x * scale:(x + c) * scale]


def compose(rows: list[list[np.ndarray]], gap: int = GAP) -> np.ndarray:
    """Panels (HxWx3 uint8) in a grid on white, each in a cell of the largest panel's size."""
    ch = max(p.shape[0] for row in rows for p in row)
    cw = max(p.shape[1] for row in rows for p in row)
    ncols = max(len(row) for row in rows)
    out = np.full((len(rows) * (ch + gap) - gap, ncols * (cw + gap) - gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, p in enumerate(row):
            y, x = i * (ch + gap), j * (cw + gap)
            out[y:y + p.shape[0], x:x + p.shape[1]] = p
    return out


def make_strip(samples: Iterable[Sample | object], scale: int,
               predict: Callable[[np.ndarray], np.ndarray], rows: int = ROWS,
               crop: int = CROP) -> np.ndarray | None:
    """bicubic | SR | HR rows of the first `rows` samples that loaded (None if none did)."""
    loaded = (s for s in samples if isinstance(s, Sample))
    grid = []
    for s in itertools.islice(loaded, rows):
        lr, hr = center_crops(as_rgb(s.lr), as_rgb(s.hr), scale, crop)
        grid.append([imresize(lr, scale), predict(lr), hr])
    return compose(grid) if grid else None


def write_png(path: Path, image: np.ndarray) -> None:
    """Save `image` as PNG through the encoder (atomic); OutputError naming the file on failure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot write validation strip {path} ({e.strerror or e})") from e
    encode_png(path, image)
