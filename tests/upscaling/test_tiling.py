"""Tiling maths: cores cover the image once, windows hold enough real context, equal shapes."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from srgan_cli.options import WHOLE_IMAGE
from srgan_cli.upscaling.tiling import (
    Tile,
    core_size,
    split_span,
    take_batch,
    tile_grid,
    window_span,
)


def _coverage(tiles: list[Tile], h: int, w: int) -> np.ndarray:
    cover = np.zeros((h, w), dtype=int)
    for t in tiles:
        cover[t.core_y[0] : t.core_y[1], t.core_x[0] : t.core_x[1]] += 1
    return cover


def _has_context(t: Tile, pad: int, h: int, w: int) -> bool:
    """Each side of the core has >= pad real pixels in the window, or touches the border."""
    ok_top = t.win_y[0] == 0 or t.core_y[0] - t.win_y[0] >= pad
    ok_bottom = t.win_y[1] == h or t.win_y[1] - t.core_y[1] >= pad
    ok_left = t.win_x[0] == 0 or t.core_x[0] - t.win_x[0] >= pad
    ok_right = t.win_x[1] == w or t.win_x[1] - t.core_x[1] >= pad
    return ok_top and ok_bottom and ok_left and ok_right


@pytest.mark.parametrize(
    ("h", "w", "tile", "pad"),
    [(200, 300, 16, 12), (200, 300, 37, 12), (200, 300, 64, 40), (200, 300, 128, 40),
     (7, 5, 3, 0), (1, 1, 16, 40), (100, 30, 16, 40), (257, 256, 256, 10)],
)
def test_grid_covers_once_with_context(h: int, w: int, tile: int, pad: int) -> None:
    tiles = tile_grid(h, w, tile, pad)
    assert (_coverage(tiles, h, w) == 1).all()
    shapes = {t.window_shape for t in tiles}
    assert len(shapes) == 1  # one shape: the whole grid can be batched
    for t in tiles:
        assert 0 <= t.win_y[0] <= t.core_y[0] < t.core_y[1] <= t.win_y[1] <= h
        assert 0 <= t.win_x[0] <= t.core_x[0] < t.core_x[1] <= t.win_x[1] <= w
        assert _has_context(t, pad, h, w)
        assert t.window_shape[0] == min(tile + 2 * pad, h)
        assert t.window_shape[1] == min(tile + 2 * pad, w)


def test_tile_zero_is_whole_image() -> None:
    assert WHOLE_IMAGE == 0
    (t,) = tile_grid(30, 40, 0, 5)
    assert t.core_y == t.win_y == (0, 30) and t.core_x == t.win_x == (0, 40)
    assert core_size(WHOLE_IMAGE, 30, 40) == 40 and core_size(16, 30, 40) == 16


def test_axis_covered_by_one_window_is_not_split() -> None:
    # windows of 16 + 2 * 40 = 96 >= 90 rows: splitting the rows would only repeat work
    tiles = tile_grid(90, 500, 16, 40)
    assert all(t.core_y == (0, 90) for t in tiles)
    assert len(tiles) == 32  # ceil(500 / 16) columns


def test_split_and_window_spans() -> None:
    assert split_span((0, 10), 4, 6, 100) == [(0, 4), (4, 8), (8, 10)]
    assert split_span((0, 10), 4, 100, 100) == [(0, 10)]
    assert window_span((0, 4), 2, 8, 100) == (0, 8)  # at the border: shifted, not padded
    assert window_span((50, 54), 2, 8, 100) == (48, 56)
    assert window_span((96, 100), 2, 8, 100) == (92, 100)
    assert window_span((3, 5), 2, 50, 10) == (0, 10)


def test_slices_map_core_to_output() -> None:
    t = Tile(core_y=(10, 20), core_x=(5, 9), win_y=(6, 24), win_x=(0, 13))
    assert t.output_slices(4) == (slice(40, 80), slice(20, 36))
    assert t.crop_slices(4) == (slice(16, 56), slice(20, 36))
    assert t.core_area == 40


def test_region_regrid_stays_inside_region() -> None:
    region = ((32, 64), (64, 96))
    tiles = tile_grid(100, 120, 8, 4, region)
    cover = _coverage(tiles, 100, 120)
    assert cover[32:64, 64:96].min() == 1 and cover.sum() == 32 * 32
    assert all(_has_context(t, 4, 100, 120) for t in tiles)


def test_take_batch_groups_equal_windows_only() -> None:
    a = Tile((0, 2), (0, 2), (0, 4), (0, 4))
    b = Tile((0, 2), (2, 4), (0, 4), (0, 4))
    c = Tile((2, 3), (0, 2), (0, 3), (0, 4))
    queue = deque([a, b, c, a])
    assert [take_batch(queue, 2) for _ in range(3)] == [[a, b], [c], [a]]
    assert not queue
    assert take_batch(deque([a, b, a]), 5) == [a, b, a]
    with pytest.raises(ValueError):
        take_batch(deque([a]), 0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        tile_grid(0, 5, 4, 1)
    with pytest.raises(ValueError):
        tile_grid(5, 5, -1, 1)
    with pytest.raises(ValueError):
        tile_grid(5, 5, 2, 1, ((0, 6), (0, 5)))
