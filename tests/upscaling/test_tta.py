"""x8 self-ensemble (`srgan_cli.upscaling.tta`): the transforms invert exactly, an equivariant model
is
unchanged, and a non-equivariant one is averaged over the 8 views."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import RunCli, save, smooth
from PIL import Image

from srgan_cli.models.descriptor import ModelDescriptor
from srgan_cli.models.loading import load, srresnet_descriptor
from srgan_cli.models.srresnet import SRResNet
from srgan_cli.upscaling.tta import TRANSFORMS, inverse, self_ensemble, transform
from srgan_cli.upscaling.upscaler import Upscaler


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


# ----------------------------------------------------------------------------- in the Upscaler


def _descriptor(seed: int = 0) -> tuple[SRResNet, ModelDescriptor]:
    torch.manual_seed(seed)
    net = SRResNet(scale=2, num_blocks=1, channels=8).eval()
    return net, srresnet_descriptor(net, name="t", source="memory", card={})


def test_upscaler_tta_is_the_mean_of_the_views_and_tiles_exactly(one_thread: None) -> None:
    net, model = _descriptor()
    arr = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    whole = Upscaler(model, device="cpu", precision="fp32", tile=0, tta=True).upscale_float(arr)
    x = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255.0
    with torch.inference_mode():
        views = [inverse(net(transform(x, k, f)), k, f) for k, f in TRANSFORMS]
    want = torch.stack(views).mean(0)[0].permute(1, 2, 0).numpy()
    assert np.abs(whole - want).max() <= 1e-5
    plain = Upscaler(model, device="cpu", precision="fp32", tile=0).upscale_float(arr)
    assert np.abs(whole - plain).max() > 1e-3  # the ensemble is not the plain model
    for tile in (8, 20):  # tiles transformed whole: tiled == untiled
        up = Upscaler(model, device="cpu", precision="fp32", tile=tile, tta=True)
        assert np.abs(up.upscale_float(arr) - whole).max() <= 1e-4


@pytest.mark.slow
def test_eval_and_upscale_tta_flags(tmp_path: Path, run_cli: RunCli,
                                    tiny_model_file: Callable[..., Path],
                                    one_thread: None) -> None:
    model = tiny_model_file(scale=2)
    lr = np.random.default_rng(1).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    src = save(tmp_path / "in.png", lr)
    code, _, err = run_cli(["upscale", str(src), str(tmp_path / "out.png"), "--model",
                            str(model), "--tta", "--precision", "fp32", "--device", "cpu"])
    assert code == 0, err
    up = Upscaler(load(str(model)), device="cpu", precision="fp32", tile=0, tta=True)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), up.upscale_array(lr))
    data = tmp_path / "data"
    save(data / "Set5" / "HR" / "a.png", smooth(32, 32, 0))
    j = tmp_path / "r.json"
    code, out, err = run_cli(["eval", "--model", str(model), "--data-root", str(data),
                              "--tta", "--json", str(j), "--device", "cpu"])
    assert code == 0, err
    assert "x8 self-ensembles" in out and json.loads(j.read_text())["summary"][0]["tta"] is True
