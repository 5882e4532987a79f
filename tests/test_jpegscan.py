"""jpegscan: counting the MCUs a baseline JPEG's scan really holds."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from srgan_cli.jpegscan import scan_is_short


def _jpeg(shape: tuple[int, ...], **kw: object) -> bytes:
    arr = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", **kw)
    return buf.getvalue()


@pytest.mark.parametrize("shape,kw", [
    ((45, 61, 3), {}), ((45, 61, 3), {"subsampling": 0, "quality": 100}),
    ((45, 61, 3), {"subsampling": 1}), ((45, 61), {}), ((45, 61, 3), {"optimize": True}),
    ((45, 61, 3), {"restart_marker_blocks": 3}), ((45, 61, 3), {"restart_marker_rows": 1}),
])
def test_complete_and_cut_scans(shape: tuple[int, ...], kw: dict[str, object]) -> None:
    data = _jpeg(shape, **kw)
    assert scan_is_short(data) is False
    assert scan_is_short(data[: int(len(data) * 0.7)] + b"\xff\xd9") is True


def test_not_checked() -> None:
    assert scan_is_short(_jpeg((40, 40, 3), progressive=True)) is None
    assert scan_is_short(b"\xff\xd8\xff\xd9") is None
    assert scan_is_short(b"\xff\xd8garbage") is None
    assert scan_is_short(_jpeg((400, 400, 3), subsampling=0), max_blocks=100) is None
