"""`ImageData`: decoded pixels plus what writing them back needs (the value the decoder returns
and the encoder takes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srgan_cli.media import metadata
from srgan_cli.media.pixels import to_uint8


@dataclass(frozen=True, eq=False)  # arrays: identity equality
class ImageData:
    """Decoded pixels plus what is needed to write them back faithfully.

    `color` is HxWx3 RGB (uint8 or uint16; gray sources replicated), `alpha` HxW of the same
    dtype or None, `gray` says to write one channel back, `bit_depth` is 8 or 16 and always
    matches the dtype, `source_mode` is Pillow's mode of the file ("RGB;16", "RGBA;16" or
    "LA;16" for 16-bit layouts Pillow has no mode for). `warnings` are one-line notes about
    the source for the record (damaged data accepted with ``allow_damaged``, EXIF dropped).
    Metadata to carry (see the module notes): `exif` as Pillow's ``b"Exif\\0\\0"`` bytes with
    Orientation 1 (it is applied to `color`), `xmp` the XMP packet, `dpi` (x, y) of these pixels.
    """

    color: np.ndarray
    alpha: np.ndarray | None
    gray: bool
    bit_depth: int
    icc_profile: bytes | None
    source_mode: str
    warnings: tuple[str, ...] = ()
    exif: bytes | None = None
    xmp: bytes | None = None
    dpi: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        c, a = self.color, self.alpha
        if c.ndim != 3 or c.shape[2] != 3:
            raise ValueError(f"color must be HxWx3, got shape {c.shape}")
        if c.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"color must be uint8 or uint16, got {c.dtype}")
        if self.bit_depth != 8 * c.dtype.itemsize:
            raise ValueError(f"bit_depth {self.bit_depth} does not match color dtype {c.dtype}")
        if a is not None and (a.shape != c.shape[:2] or a.dtype != c.dtype):
            raise ValueError(
                f"alpha must be {c.shape[:2]} {c.dtype}, got {a.shape} {a.dtype}")

    def replace(self, *, color: np.ndarray, alpha: np.ndarray | None) -> ImageData:
        """Same metadata, new pixels of any size (the same picture resampled): the bit depth
        follows `color`'s dtype, the DPI the size, so the physical size stays the same."""
        new_size = (color.shape[1], color.shape[0]) if color.ndim >= 2 else self.size
        return ImageData(color=color, alpha=alpha, gray=self.gray,
                         bit_depth=8 * color.dtype.itemsize, icc_profile=self.icc_profile,
                         source_mode=self.source_mode, warnings=self.warnings, exif=self.exif,
                         xmp=self.xmp, dpi=metadata.scaled_dpi(self.dpi, self.size, new_size))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow reports it."""
        return self.color.shape[1], self.color.shape[0]

    def uint8(self, *, keep_gray: bool = False) -> np.ndarray:
        """The colour as uint8 (16-bit rounded, alpha dropped): HxWx3 RGB, or with `keep_gray`
        HxW for a gray source, so that eval scores gray images on their own values."""
        color = to_uint8(self.color)
        return np.ascontiguousarray(color[..., 0] if keep_gray and self.gray else color)

