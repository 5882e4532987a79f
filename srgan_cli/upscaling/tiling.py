"""Tiling maths for upscaling large images tile by tile (pure integer arithmetic, no torch).

Each tile has a *core* (the LR pixels whose output it produces) and a *window* (the LR pixels fed
to the network): the core plus `pad` pixels of real context on every side, or up to the image
border. The image is never padded artificially, so at the border the network applies its own zero
padding exactly as on the whole image; with `pad` >= the network's receptive radius the tiled
output equals the untiled one.

All windows of one grid have the same size, min(tile + 2 pad, image size) per axis: a window
that would cross the border is shifted inside the image (more context on the other side never
hurts), so every tile of a grid can go in one batch.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from srgan_cli.options import WHOLE_IMAGE

Span = tuple[int, int]  # half-open [start, stop)


def core_size(tile: int, height: int, width: int) -> int:
    """The longest core edge that tile size `tile` gives on a `height` x `width` image."""
    return max(height, width) if tile == WHOLE_IMAGE else tile


@dataclass(frozen=True)
class Tile:
    """One tile: core and window, in LR pixel coordinates of the whole image (half-open)."""

    core_y: Span
    core_x: Span
    win_y: Span
    win_x: Span

    @property
    def window_shape(self) -> tuple[int, int]:
        """(height, width) of the window."""
        return self.win_y[1] - self.win_y[0], self.win_x[1] - self.win_x[0]

    @property
    def core_area(self) -> int:
        """LR pixels of the core."""
        return (self.core_y[1] - self.core_y[0]) * (self.core_x[1] - self.core_x[0])

    def output_slices(self, scale: int) -> tuple[slice, slice]:
        """Where the core's output goes in the whole upscaled image."""
        return (
            slice(self.core_y[0] * scale, self.core_y[1] * scale),
            slice(self.core_x[0] * scale, self.core_x[1] * scale),
        )

    def crop_slices(self, scale: int) -> tuple[slice, slice]:
        """Which part of the window's upscaled output belongs to the core."""
        oy = self.core_y[0] - self.win_y[0]
        ox = self.core_x[0] - self.win_x[0]
        return (
            slice(oy * scale, (oy + self.core_y[1] - self.core_y[0]) * scale),
            slice(ox * scale, (ox + self.core_x[1] - self.core_x[0]) * scale),
        )


def split_span(span: Span, tile: int, window: int, length: int) -> list[Span]:
    """Cut `span` into cores of at most `tile` pixels (the last one shorter).

    One core when the span fits a tile, or when a window covers the whole axis anyway."""
    start, stop = span
    n = stop - start
    if n <= tile or window >= length:
        return [span]
    count = math.ceil(n / tile)
    return [(start + i * tile, min(start + (i + 1) * tile, stop)) for i in range(count)]


def window_span(core: Span, pad: int, window: int, length: int) -> Span:
    """The window of size `window` holding `core` with `pad` context, shifted inside [0, length).

    When `window` >= `length` it is the whole axis (and a core of any size fits)."""
    if window >= length:
        return 0, length
    start = min(max(core[0] - pad, 0), length - window)
    return start, start + window


def tile_grid(
    height: int, width: int, tile: int, pad: int, region: tuple[Span, Span] | None = None
) -> list[Tile]:
    """Tiles covering `region` (default: the whole image) of a `height` x `width` LR image.

    `tile` is the core size (WHOLE_IMAGE: the region is one tile, its window the whole image); `pad`
    the context per side. Tiles come row by row; every window has the same shape."""
    if height < 1 or width < 1:
        raise ValueError(f"image must be non-empty, got {height}x{width}")
    if tile < 0 or pad < 0:
        raise ValueError(f"tile and pad must be >= 0, got tile={tile}, pad={pad}")
    ry, rx = region if region is not None else ((0, height), (0, width))
    if not (0 <= ry[0] < ry[1] <= height and 0 <= rx[0] < rx[1] <= width):
        raise ValueError(f"region {region} is not inside a {height}x{width} image")
    if tile == WHOLE_IMAGE:
        return [Tile(ry, rx, (0, height), (0, width))]
    win_h, win_w = tile + 2 * pad, tile + 2 * pad
    tiles = []
    for cy in split_span(ry, tile, win_h, height):
        wy = window_span(cy, pad, win_h, height)
        for cx in split_span(rx, tile, win_w, width):
            tiles.append(Tile(cy, cx, wy, window_span(cx, pad, win_w, width)))
    return tiles


def take_batch(queue: deque[Tile], batch_size: int) -> list[Tile]:
    """Pop up to `batch_size` tiles from the front of `queue` whose windows have equal shapes."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    group = [queue.popleft()]
    while queue and len(group) < batch_size and queue[0].window_shape == group[0].window_shape:
        group.append(queue.popleft())
    return group


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of `multiple` >= `n`."""
    return -(-n // multiple) * multiple


def tile_for_budget(
    height: int, width: int, pad: int, bytes_per_pixel: int, budget: int, multiple: int = 1,
    min_tile: int = 32,
) -> int:
    """The largest tile whose window fits `budget` bytes at `bytes_per_pixel` per LR pixel.

    WHOLE_IMAGE when the whole `height` x `width` image fits (or one tile would cover it);
    else the side of the square window that fits, less the context on both sides, rounded down
    to `multiple` and at least `min_tile` (rounded up to `multiple`); or that tile evened out
    over the longer side when this computes fewer pixels (512 px with at most 336: two tiles
    of 256, not 336 + 176 whose windows overlap more)."""
    if bytes_per_pixel < 1 or budget < 1:
        raise ValueError(f"bytes_per_pixel and budget must be positive, got "
                         f"{bytes_per_pixel}, {budget}")
    if height * width * bytes_per_pixel <= budget:
        return WHOLE_IMAGE
    window = math.isqrt(budget // bytes_per_pixel)
    tile = window - 2 * pad
    if tile >= max(height, width):
        return WHOLE_IMAGE
    tile = max(tile // multiple * multiple, round_up(min_tile, multiple))
    side = max(height, width)
    even = round_up(-(-side // -(-side // tile)), multiple)  # as many tiles, of equal sizes
    return min((tile, even), key=lambda t: _computed(height, width, t, pad))


def _computed(height: int, width: int, tile: int, pad: int) -> int:
    """LR pixels the windows of a `tile` grid hold together (the work of one image)."""
    window = tile + 2 * pad

    def axis(length: int) -> int:
        return length if window >= length else math.ceil(length / tile) * window

    return axis(height) * axis(width)
