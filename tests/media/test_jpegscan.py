"""jpegscan: counting the MCUs a baseline JPEG's scan really holds, and the lower bound on the
entropy-coded bytes of any size and of progressive files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from srgan_cli.media.jpegscan import scan_is_short


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


def _inflate(data: bytes, factor: int) -> bytes:
    """`data` with its frame header claiming `factor` times the width and height."""
    out = bytearray(data)
    i = 2
    while out[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + int.from_bytes(out[i + 2:i + 4], "big")
    h, w = int.from_bytes(out[i + 5:i + 7], "big"), int.from_bytes(out[i + 7:i + 9], "big")
    out[i + 5:i + 9] = (h * factor).to_bytes(2, "big") + (w * factor).to_bytes(2, "big")
    return bytes(out)


@pytest.mark.parametrize("kw", [{}, {"optimize": True}, {"subsampling": 0},
                                {"progressive": True}, {"progressive": True, "subsampling": 0},
                                {"restart_marker_blocks": 4}])
@pytest.mark.parametrize("flat", [False, True])
def test_the_byte_bound_never_calls_a_whole_file_short(kw: dict[str, object],
                                                       flat: bool) -> None:
    """Flat images code each block in the fewest bits; they still pass (max_blocks=0 leaves
    the bound alone), while the same data under a 60x wider and taller header is short."""
    shape = (48, 64, 3)
    arr = np.full(shape, 128, np.uint8) if flat else None
    data = _jpeg(shape, **kw) if arr is None else _encode(arr, **kw)
    assert scan_is_short(data, max_blocks=0) is None
    assert scan_is_short(_inflate(data, 60), max_blocks=0) is True


def _encode(arr: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", **kw)
    return buf.getvalue()
