"""The one scoring path: a model (anything `--model` gives, bicubic included) on a dataset, by a
protocol. `srgan eval`, training validation and `export --measure` all call `score`, so the three
give the same numbers for the same weights; `evaluation.evaluate` does the per-image metrics and
means. `srgan eval` under torchrun shares the images among the processes (`shared`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srgan_cli import distributed
from srgan_cli.errors import DatasetError, SrganError, UsageError
from srgan_cli.messages import option
from srgan_cli.options import check_metrics

if TYPE_CHECKING:
    import numpy as np

    from srgan_cli.evaluation.datasets import BenchmarkDataset
    from srgan_cli.evaluation.evaluate import EvalResult, ImageScore
    from srgan_cli.evaluation.perceptual import Lpips
    from srgan_cli.models.descriptor import ModelDescriptor


@dataclass(frozen=True)
class EvalProtocol:
    """How an SR image is scored and how the model runs for it.

    The defaults are the standard protocol of the literature (Y channel, border = scale, fp32,
    whole images): the numbers published results are compared with."""

    crop_border: int | None = None  # pixels removed from each edge (None: the scale)
    y_channel: bool = True  # score BT.601 luma, else all RGB channels
    precision: str = "fp32"
    tile: int = 0  # LR tile size (0: whole image)
    metrics: tuple[str, ...] = ("psnr", "ssim")  # shown; psnr/ssim are always computed
    lpips_net: str = "alex"  # LPIPS backbone: alex or vgg
    tta: bool = False  # x8 self-ensemble of the model (not the standard protocol)


STANDARD = EvalProtocol()

def open_datasets(
    specs: Iterable[str], scale: int, *, data_root: str | Path | None = None,
    split: str = "valid", regenerate_lr: bool = False,
) -> list[BenchmarkDataset]:
    """Open every dataset (duplicates once) before any is scored: a missing one fails fast.

    Two datasets of one name (``a/HR`` and ``b/HR``) are told apart as ``HR`` and ``HR#2``, so
    that their rows, records and saved images stay apart."""
    from srgan_cli.evaluation.datasets import open_dataset

    opened = [
        open_dataset(spec, scale, data_root=data_root, split=split, regenerate_lr=regenerate_lr)
        for spec in dict.fromkeys(specs)
    ]
    seen: dict[str, int] = {}
    for ds in opened:
        seen[ds.name] = seen.get(ds.name, 0) + 1
        if seen[ds.name] > 1:
            ds.name = f"{ds.name}#{seen[ds.name]}"
    return opened


def check_scorable(datasets: Iterable[BenchmarkDataset], protocol: EvalProtocol) -> None:
    """DatasetError, before anything runs, when images of `datasets` are too small for the
    protocol's border crop and metrics (SSIM's window, LPIPS's smallest input)."""
    from srgan_cli.evaluation.metrics import SSIM_WINDOW

    window, metric = SSIM_WINDOW, "SSIM"
    if "lpips" in protocol.metrics:
        from srgan_cli.evaluation.perceptual import MIN_SIDE

        if MIN_SIDE[protocol.lpips_net] > window:
            window, metric = MIN_SIDE[protocol.lpips_net], "LPIPS"
    for ds in datasets:
        ds.check_scorable(protocol.crop_border, window=window, metric=metric)


def score(
    model: ModelDescriptor,
    dataset: BenchmarkDataset | str,
    protocol: EvalProtocol = STANDARD,
    *,
    device: str = "auto",
    data_root: str | Path | None = None,
    save_dir: Path | None = None,
    on_image: Callable[[ImageScore], None] | None = None,
    lpips: Lpips | None = None,
    shared: bool = False,
) -> EvalResult:
    """Score `model` on `dataset` (an opened dataset, or a spec opened at the model's scale).

    A failed image is recorded in the result, not raised; ``save_dir`` receives the SR images as
    scored, ``on_image`` is called after each image. When the protocol asks for LPIPS, `lpips`
    is used (pass one to share it between calls), else it is loaded here. With `shared`, under
    torchrun, each process scores its share of the images on its own device and every process
    returns the whole result (`evaluate.merged`: the means of one process, bit for bit);
    collective then, so every process must make the same calls."""
    from srgan_cli.evaluation.datasets import open_dataset
    from srgan_cli.evaluation.evaluate import evaluate, merged

    check_metrics(protocol.metrics)
    if "lpips" in protocol.metrics and lpips is None:
        from srgan_cli.evaluation.perceptual import load_lpips

        lpips = load_lpips(protocol.lpips_net)
    ds = open_dataset(dataset, model.scale, data_root=data_root) if isinstance(
        dataset, str) else dataset
    info = distributed.from_env() if shared else distributed.DistInfo()
    distributed.init(info)  # every process has checked its outputs before any writes
    result = evaluate(
        predictor(model, protocol, str(distributed.rank_device(device, info))),
        ds.subset(distributed.shard(range(len(ds)), info)) if info.enabled else ds,
        scale=model.scale, crop_border=protocol.crop_border,
        y_channel=protocol.y_channel, model_name=model.name, dataset_name=ds.name,
        save_dir=save_dir, on_image=on_image,
        lpips=lpips if "lpips" in protocol.metrics else None,
    )
    if info.enabled:
        result = merged(distributed.gather_all(result, info), ds)
    result.metrics = protocol.metrics
    result.lpips_net = protocol.lpips_net if "lpips" in protocol.metrics else ""
    result.tta = protocol.tta
    return result


def score_videos(
    model: ModelDescriptor,
    name: str,
    videos: list[Path],
    protocol: EvalProtocol = STANDARD,
    *,
    device: str = "auto",
    max_frames: int | None = None,
    on_video: Callable[[ImageScore], None] | None = None,
    shared: bool = False,
) -> EvalResult:
    """Score `model` on videos, each frame as HR, by the standard protocol (Y, border = scale;
    `protocol` gives precision and tile): per-video and mean PSNR/SSIM and temporal_psnr.
    `shared`: the videos shared among torchrun's processes, as `score` shares images."""
    from srgan_cli.evaluation.evaluate import evaluate_videos, merged
    from srgan_cli.upscaling.upscaler import Upscaler

    if (protocol.crop_border not in (None, model.scale) or not protocol.y_channel
            or "lpips" in protocol.metrics):
        raise UsageError(f"videos are scored by the standard protocol only: "
                         f"{option('y_channel')}, {option('crop_border')} and "
                         f"{option('metrics')} lpips apply to image datasets")
    info = distributed.from_env() if shared else distributed.DistInfo()
    up = Upscaler(model, device=distributed.rank_device(device, info),
                  precision=protocol.precision, tile=protocol.tile, tta=protocol.tta)

    def upscale_frames(frames: list[np.ndarray]) -> list[np.ndarray]:
        return [up.upscale_array(f) for f in frames]

    distributed.init(info)
    result = evaluate_videos(upscale_frames, distributed.shard(videos, info),
                             scale=model.scale, max_frames=max_frames,
                             model_name=model.name, dataset_name=name, on_video=on_video)
    if info.enabled:
        result = merged(distributed.gather_all(result, info))
    result.metrics = protocol.metrics
    result.tta = protocol.tta
    return result


def predictor(model: ModelDescriptor, protocol: EvalProtocol = STANDARD,
              device: str = "auto") -> Callable[[np.ndarray], np.ndarray]:
    """LR uint8 -> SR uint8 for `model`: an Upscaler, or for a model with its own integer path
    (bicubic) on the CPU in fp32 that path itself, the same numbers without importing torch
    (`srgan eval --model bicubic` starts fast). Other devices and precisions go through the
    Upscaler, which checks them."""
    resize = getattr(model.implementation, "resize_integer", None)
    if (resize is not None and device.strip().lower() in ("auto", "cpu")
            and protocol.precision in ("auto", "fp32") and not protocol.tta):
        return resize
    from srgan_cli.upscaling.upscaler import Upscaler

    return Upscaler(model, device=device, precision=protocol.precision,
                    tile=protocol.tile, tta=protocol.tta).upscale_array


def measure_model(
    model: ModelDescriptor | str | Path, datasets: list[str], *,
    data_root: str | Path | None = None, device: str = "auto",
) -> dict[str, dict[str, Any]]:
    """{dataset: {psnr, ssim, scale, images, protocol}} of a model, for its card.

    The standard protocol, shipped LR files if present: the numbers `srgan eval` gives. Every
    dataset is opened before any is scored (DatasetError); a failed image is an SrganError
    naming it, since a card's scores must cover the whole set."""
    from srgan_cli.evaluation import report
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
