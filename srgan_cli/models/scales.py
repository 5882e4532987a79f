"""SRResNet's supported scales and their upsampling stages, without torch: `srgan models` and
the model-file checks in `bundled` describe a file from its header alone."""

from __future__ import annotations

SUPPORTED_SCALES = (2, 3, 4, 8)


def upsample_factors(scale: int) -> list[int]:
    """Per-stage factors: x2 stages, or one x3 stage for scale 3."""
    if scale not in SUPPORTED_SCALES:
        raise ValueError(f"scale must be one of {SUPPORTED_SCALES}, got {scale}")
    if scale == 3:
        return [3]
    return [2] * (scale.bit_length() - 1)
