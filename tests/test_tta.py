"""x8 self-ensemble (`srgan_cli.tta`): the transforms invert exactly, an equivariant model is
unchanged, and a non-equivariant one is averaged over the 8 views."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from srgan_cli.tta import TRANSFORMS, inverse, self_ensemble, transform


def test_eight_distinct_transforms_that_invert_exactly() -> None:
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    views = [transform(x, k, f) for k, f in TRANSFORMS]
    assert len(TRANSFORMS) == 8
    assert len({(tuple(v.shape), v.flatten().tolist().__repr__()) for v in views}) == 8
    for (k, f), v in zip(TRANSFORMS, views, strict=True):
        assert torch.equal(inverse(v, k, f), x)


def test_equivariant_model_is_unchanged() -> None:
    x = torch.rand(1, 3, 6, 7)

    def nearest_x2(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t, scale_factor=2, mode="nearest")

    assert torch.allclose(self_ensemble(nearest_x2)(x), nearest_x2(x), atol=1e-7)


def test_non_equivariant_model_is_averaged_over_the_views() -> None:
    x = torch.zeros(1, 1, 4, 4)

    def top_row_marker(t: torch.Tensor) -> torch.Tensor:  # adds 8 to the top-left pixel
        out = t.clone()
        out[..., 0, 0] += 8.0
        return out

    got = self_ensemble(top_row_marker)(x)[0, 0]
    # the top-left pixel of each view is one of the 4 corners, each corner twice: 8 * 2 / 8
    corners = got[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert torch.equal(corners, torch.full((4,), 2.0)) and float(got.sum()) == 8.0


def test_half_precision_outputs_are_summed_in_float32() -> None:
    x = torch.rand(1, 3, 5, 5)
    got = self_ensemble(lambda t: t.to(torch.bfloat16))(x)
    assert got.dtype == torch.float32
