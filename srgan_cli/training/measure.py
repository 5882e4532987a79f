"""Score a model file on benchmark sets for its card (standard protocol: Y, crop = scale)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def measure_model(
    model_path: str | Path, datasets: list[str], *, data_root: str | Path | None = None,
    device: str = "auto",
) -> dict[str, dict[str, Any]]:
    """{dataset: {psnr, ssim, scale, images, protocol}}; shipped LR files are used if present."""
    from srgan_cli.datasets import open_dataset
    from srgan_cli.evaluate import evaluate
    from srgan_cli.models.zoo import load_model
    from srgan_cli.upscale import Upscaler

    model = load_model(str(model_path))
    up = Upscaler(model, device=device, precision="fp32")
    out: dict[str, dict[str, Any]] = {}
    for spec in datasets:
        ds = open_dataset(spec, model.scale, data_root=data_root)
        res = evaluate(up.upscale_array, ds, scale=model.scale, model_name=model.name,
                       dataset_name=ds.name)
        out[ds.name] = {
            "psnr": round(float(res.mean_psnr), 4),
            "ssim": round(float(res.mean_ssim), 5),
            "scale": model.scale,
            "images": len(res.images),
            "protocol": f"Y channel, crop {model.scale}, uint8, MATLAB bicubic LR",
        }
    return out
