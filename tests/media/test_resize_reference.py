"""resize.imresize reproduces the official LR images bit for bit (needs SRGAN_TEST_DATA).

Set5 and DIV2K LR are modern MATLAB on uint8 (variant A: mirror padding, per-pass rounding);
the Set14 LR here is older MATLAB (variant C: replicated borders)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srgan_cli.media.resize import imresize, modcrop


def _data() -> Path:
    root = os.environ.get("SRGAN_TEST_DATA")
    if not root:
        pytest.skip("SRGAN_TEST_DATA is not set")
    return Path(root)


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _differing_pixels(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape
    diff = a != b
    return int(diff.any(axis=2).sum() if diff.ndim == 3 else diff.sum())


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_set5_lr_reproduced_exactly(scale: int) -> None:
    root = _data() / "Set5"
    hr_files = sorted((root / "HR").glob("*.png"))
    assert len(hr_files) == 5
    for hr_path in hr_files:
        hr = modcrop(_load(hr_path), scale)
        lr = _load(root / "LR_bicubic" / f"X{scale}" / f"{hr_path.stem}x{scale}.png")
        assert _differing_pixels(imresize(hr, 1 / scale), lr) == 0, hr_path.name


def test_div2k_0004_x2_reproduced_exactly() -> None:
    root = _data() / "DIV2K"
    hr = modcrop(_load(root / "DIV2K_train_HR" / "0004.png"), 2)
    lr = _load(root / "DIV2K_train_LR_bicubic" / "X2" / "0004x2.png")
    assert _differing_pixels(imresize(hr, 0.5), lr) == 0


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_set14_lr_reproduced_with_replicate_border(scale: int) -> None:
    root = _data() / "Set14"
    hr_files = sorted((root / "HR").glob("*.png"))
    assert len(hr_files) == 14
    for hr_path in hr_files:
        hr = modcrop(_load(hr_path), scale)
        lr = _load(root / "LR_bicubic" / f"X{scale}" / f"{hr_path.stem}x{scale}.png")
        mine = imresize(hr, 1 / scale, border="replicate")
        assert _differing_pixels(mine, lr) == 0, hr_path.name
        if hr_path.stem == "bridge":  # the gray image stays gray
            assert hr.ndim == 2 and lr.ndim == 2
        # variant C differs from A only near the border: the inner LR pixels agree
        symmetric = imresize(hr, 1 / scale)
        assert _differing_pixels(symmetric[3:-3, 3:-3], lr[3:-3, 3:-3]) == 0, hr_path.name
