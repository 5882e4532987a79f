"""The one scoring path: a model (anything `--model` gives, bicubic included) on a dataset, by a
protocol. `srgan eval`, training validation and `export --measure` all call `score`, so the three
give the same numbers for the same weights; `evaluation.evaluate` does the per-image metrics and
means."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srgan_cli.errors import DatasetError, SrganError, UsageError

if TYPE_CHECKING:
    import numpy as np

    from srgan_cli.datasets import BenchmarkDataset
    from srgan_cli.evaluation import EvalResult, ImageScore
    from srgan_cli.models.descriptor import ModelDescriptor


@dataclass(frozen=True)
class Protocol:
    """How an SR image is scored and how the model runs for it.

    The defaults are the standard protocol of the literature (Y channel, border = scale, fp32,
    whole images): the numbers published results are compared with."""

    crop_border: int | None = None  # pixels removed from each edge (None: the scale)
    y_channel: bool = True  # score BT.601 luma, else all RGB channels
    precision: str = "fp32"
    tile: int = 0  # LR tile size (0: whole image)


STANDARD = Protocol()

_DEVICE_NAME = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device_name(spec: str, option: str = "--device") -> None:
    """UsageError (exit 2) for a device name that is not one ("foo"), before any work; whether a
    well-formed device exists is devices.resolve_device's DeviceError. No torch import."""
    if not _DEVICE_NAME.fullmatch(spec.strip().lower()):
        raise UsageError(
            f"{option} {spec!r}: unknown device, expected auto, cpu, cuda, cuda:N or mps"
        )


def open_datasets(
    specs: Iterable[str], scale: int, *, data_root: str | Path | None = None,
    split: str = "valid", regenerate_lr: bool = False,
) -> list[BenchmarkDataset]:
    """Open every dataset (duplicates once) before any is scored: a missing one fails fast."""
    from srgan_cli.datasets import open_dataset

    return [
        open_dataset(spec, scale, data_root=data_root, split=split, regenerate_lr=regenerate_lr)
        for spec in dict.fromkeys(specs)
    ]


def score(
    model: ModelDescriptor,
    dataset: BenchmarkDataset | str,
    protocol: Protocol = STANDARD,
    *,
    device: str = "auto",
    data_root: str | Path | None = None,
    save_dir: Path | None = None,
    on_image: Callable[[ImageScore], None] | None = None,
) -> EvalResult:
    """Score `model` on `dataset` (an opened dataset, or a spec opened at the model's scale).

    A failed image is recorded in the result, not raised; ``save_dir`` receives the SR images as
    scored, ``on_image`` is called after each image."""
    from srgan_cli.datasets import open_dataset
    from srgan_cli.evaluation import evaluate

    ds = open_dataset(dataset, model.scale, data_root=data_root) if isinstance(
        dataset, str) else dataset
    return evaluate(
        predictor(model, protocol, device), ds, scale=model.scale, crop_border=protocol.crop_border,
        y_channel=protocol.y_channel, model_name=model.name, dataset_name=ds.name,
        save_dir=save_dir, on_image=on_image,
    )


def predictor(model: ModelDescriptor, protocol: Protocol = STANDARD, device: str = "auto"
              ) -> Callable[[np.ndarray], np.ndarray]:
    """LR uint8 -> SR uint8 for `model`: an Upscaler, or for a model with its own integer path
    (bicubic) on the CPU in fp32 that path itself, the same numbers without importing torch
    (`srgan eval --model bicubic` starts fast). Other devices and precisions go through the
    Upscaler, which checks them."""
    resize = getattr(model.implementation, "resize_integer", None)
    if (resize is not None and device.strip().lower() in ("auto", "cpu")
            and protocol.precision in ("auto", "fp32")):
        return resize
    from srgan_cli.upscaler import Upscaler

    return Upscaler(model, device=device, precision=protocol.precision,
                    tile=protocol.tile).upscale_array


def measure_model(
    model: ModelDescriptor | str | Path, datasets: list[str], *,
    data_root: str | Path | None = None, device: str = "auto",
) -> dict[str, dict[str, Any]]:
    """{dataset: {psnr, ssim, scale, images, protocol}} of a model, for its card.

    The standard protocol, shipped LR files if present: the numbers `srgan eval` gives. Every
    dataset is opened before any is scored (DatasetError); a failed image is an SrganError
    naming it, since a card's scores must cover the whole set."""
    from srgan_cli import report
    from srgan_cli.models.loading import load

    loaded = load(str(model)) if isinstance(model, (str, Path)) else model
    scale = loaded.scale
    out: dict[str, dict[str, Any]] = {}
    for ds in open_datasets(datasets, scale, data_root=data_root):
        res = score(loaded, ds, STANDARD, device=device)
        failure = report.failure_message([res])
        if failure is not None:
            raise SrganError(f"{ds.name}: not measured, {failure}")
        if res.partial:
            raise DatasetError(
                f"{ds.name}: not measured, only {res.images_found} of {res.images_expected} "
                "images are present (a model card needs the whole set)"
            )
        lr = "shipped LR files" if ds.lr_source == "file" else "MATLAB bicubic LR from HR"
        out[ds.name] = {
            "psnr": round(float(res.mean_psnr), 4),
            "ssim": round(float(res.mean_ssim), 5),
            "scale": scale,
            "images": len(res.images),
            "protocol": f"Y channel, crop {scale}, uint8, {lr}",
        }
    return out
