"""The bundled default model: its card, and that it clearly beats bicubic on a sample image."""

from __future__ import annotations

import math

import numpy as np

from srgan_cli.evaluation.metrics import psnr
from srgan_cli.media.samples import sample_pair
from srgan_cli.models.bundled import DEFAULT_MODEL, bundled_models, bundled_path
from srgan_cli.models.loading import load, load_srresnet
from srgan_cli.upscaling.upscaler import Upscaler


def test_default_model_is_bundled_and_small() -> None:
    path = bundled_path(DEFAULT_MODEL)
    assert path.is_file(), f"{path} is missing"
    assert path.stat().st_size <= 10 * 1024 * 1024
    assert DEFAULT_MODEL in [m.name for m in bundled_models()]


def test_card_describes_the_model() -> None:
    model = load(DEFAULT_MODEL)
    card = model.card
    assert (card["architecture"], card["scale"], card["num_blocks"], card["channels"]) == (
        "srresnet", 4, 16, 64
    )
    assert model.parameters == 1_549_462
    assert sum(p.numel() for p in load_srresnet(DEFAULT_MODEL).parameters()) == 1_549_462
    training = card["training"]
    assert training["stage"] == "psnr" and training["steps"] > 1000
    assert set(training["data"]) == {"T91", "BSD200"}
    assert "srgan train" in card["command"]
    for name, floor in (("Set5", 30.5), ("Set14", 27.5)):
        m = card["metrics"][name]
        assert m["scale"] == 4 and m["psnr"] >= floor and 0 < m["ssim"] < 1


def test_beats_bicubic_by_a_clear_margin_on_a_sample() -> None:
    # scikit-image's astronaut (public domain), shrunk x4 with the MATLAB bicubic
    hr, lr = sample_pair("astronaut", 4)
    up = Upscaler(load(DEFAULT_MODEL), device="cpu", precision="fp32", tile=0)
    sr = up.upscale_array(lr)
    bicubic = load("bicubic", scale=4)
    bi = Upscaler(bicubic, device="cpu").upscale_array(lr)
    p_model, p_bicubic = psnr(sr, hr, crop_border=4), psnr(bi, hr, crop_border=4)
    assert math.isfinite(p_model) and p_model >= p_bicubic + 1.0, (p_model, p_bicubic)
    assert sr.dtype == np.uint8 and sr.shape == hr.shape
