"""Score a model on benchmark sets for its card (standard protocol: Y, crop = scale)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from srgan_cli.errors import SrganError

if TYPE_CHECKING:
    from srgan_cli.models.zoo import LoadedModel


def measure_model(
    model: LoadedModel | str | Path, datasets: list[str], *,
    data_root: str | Path | None = None, device: str = "auto",
) -> dict[str, dict[str, Any]]:
    """{dataset: {psnr, ssim, scale, images, protocol}} of a LoadedModel or model file.

    Shipped LR files are used if present, fp32, whole images: the numbers `srgan eval` gives.
    Every dataset is opened before any is scored (a missing one fails fast, DatasetError);
    an image that fails is an SrganError naming it, since a card's scores must cover the set."""
    from srgan_cli import report
    from srgan_cli.datasets import open_dataset
    from srgan_cli.evaluate import evaluate
    from srgan_cli.models.zoo import load_model
    from srgan_cli.upscale import Upscaler

    loaded = load_model(str(model)) if isinstance(model, (str, Path)) else model
    scale = loaded.scale
    opened = [open_dataset(spec, scale, data_root=data_root) for spec in dict.fromkeys(datasets)]
    up = Upscaler(loaded, device=device, precision="fp32")
    out: dict[str, dict[str, Any]] = {}
    for ds in opened:
        res = evaluate(up.upscale_array, ds, scale=scale, model_name=loaded.name,
                       dataset_name=ds.name)
        failure = report.failure_message([res])
        if failure is not None:
            raise SrganError(f"{ds.name}: not measured, {failure}")
        lr = "shipped LR files" if ds.lr_source == "file" else "MATLAB bicubic LR from HR"
        out[ds.name] = {
            "psnr": round(float(res.mean_psnr), 4),
            "ssim": round(float(res.mean_ssim), 5),
            "scale": scale,
            "images": len(res.images),
            "protocol": f"Y channel, crop {scale}, uint8, {lr}",
        }
    return out
