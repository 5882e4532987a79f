"""Plain helpers shared by tests: small images (noise, smooth content, saving) and types."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CliResult = tuple[int, str, str]
RunCli = Callable[[list[str]], CliResult]  # the `run_cli` fixture of conftest.py


def run_srgan(argv: list[str], capsys: Any) -> CliResult:
    """`srgan ARGV` in this process: (exit code, stdout, stderr) read from pytest's `capsys`."""
    from srgan_cli.cli.app import main

    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def noise(h: int, w: int, seed: int, gray: bool = False) -> np.ndarray:
    """Uniform random uint8 pixels, HxWx3 (HxW when `gray`)."""
    shape = (h, w) if gray else (h, w, 3)
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def smooth(h: int, w: int, seed: int) -> np.ndarray:
    """Random content upscaled with MATLAB bicubic: smooth enough for meaningful PSNR/SSIM."""
    from srgan_cli.media.resize import imresize

    return imresize(noise(h // 4 + 1, w // 4 + 1, seed), size=(h, w))


def save(path: Path, arr: np.ndarray, **kw: Any) -> Path:
    """Write `arr` with Pillow (format from the suffix), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


def tiny_set5(root: Path, sizes: list[tuple[int, int]]) -> Path:
    """`root`/Set5 in the benchmark layout: HR `im{i}.png` of smooth content, one per (h, w) in
    `sizes`, and their MATLAB-bicubic x2 LR under LR_bicubic/X2. Returns `root`."""
    from srgan_cli.media.resize import imresize, modcrop

    for i, (h, w) in enumerate(sizes):
        hr = smooth(h, w, i)
        save(root / "Set5" / "HR" / f"im{i}.png", hr)
        save(root / "Set5" / "LR_bicubic" / "X2" / f"im{i}x2.png", imresize(modcrop(hr, 2), 0.5))
    return root
