"""The Python API for notebooks and scripts: `upscale`, `load_model`, `evaluate`.

The same engine as the CLI: `load_model` is what `--model` reads, `upscale` runs one image
through `batch.upscale_step` with the Upscaler that `srgan upscale` builds from the same
`UpscaleOptions`, and `evaluate` is `scoring.score`, the numbers `srgan eval` prints. Errors are
the CLI's typed `SrganError`s (ModelError, UsageError, DeviceError, ...), one line each, naming
an option by its keyword ("tile_pad must be >= 0") where the command line names its flag.

    >>> import srgan_cli
    >>> from PIL import Image
    >>> big = srgan_cli.upscale(Image.open("photo.png"))                # PIL in, PIL out
    >>> big = srgan_cli.upscale(array, model="bicubic", outscale=2)      # numpy in, numpy out
    >>> result = srgan_cli.evaluate("srresnet_x4", "set5", data_root="data")
    >>> result.mean_psnr, result.mean_ssim
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from srgan_cli.errors import UsageError
from srgan_cli.models.bundled import DEFAULT_MODEL
from srgan_cli.options import check_tiling, parse_device, parse_precision

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from srgan_cli.evaluation.evaluate import EvalResult
    from srgan_cli.media.decode import ImageData
    from srgan_cli.models.descriptor import ModelDescriptor

    ImageT = TypeVar("ImageT", Image.Image, np.ndarray)
else:
    ImageT = TypeVar("ImageT")

__all__ = ["evaluate", "load_model", "upscale"]


def load_model(model: str | Path = DEFAULT_MODEL, *, scale: int | None = None,
               denoise_strength: float | None = None, offline: bool = False,
               ) -> ModelDescriptor:
    """The frozen `ModelDescriptor` of a bundled name ("srresnet_x4"), "bicubic", a catalogue
    name ("realesrgan-x4plus", fetched into the cache on first use, size and SHA-256 checked)
    or a model file (.safetensors, .pth, .pt, .ckpt, .onnx), as `--model` reads it.

    `denoise_strength` (0..1, Real-ESRGAN's -dn) blends a catalogue model with its denoise twin
    (realesr-general-x4v3); `offline` (or SRGAN_OFFLINE=1) never downloads. ModelError (one
    line) for an unknown name, a missing bundled model (never a silent fallback to bicubic), a
    catalogue model that cannot be fetched, an unsafe or unsupported file, or a `scale` the
    model does not have (for "bicubic", `scale` picks its factor)."""
    from srgan_cli.models.loading import load

    if denoise_strength is not None:
        from srgan_cli.models.denoise import load_denoised

        return load_denoised(str(model), denoise_strength, scale=scale, no_download=offline)
    return load(str(model), scale=scale, no_download=offline)


def upscale(image: ImageT, model: str | Path | ModelDescriptor = DEFAULT_MODEL,
            **options: Any) -> ImageT:
    """`image` upscaled by `model`, returned as the same kind of image.

    `image` is a PIL image (any mode Pillow opens files in: RGB, RGBA, L, LA, P, I;16, CMYK;
    the result is RGB, RGBA, L, LA or I;16) or a numpy array, uint8 or uint16, HxW (gray),
    HxWx1, HxWx2 (gray + alpha), HxWx3 (RGB) or HxWx4 (RGBA): the result has the same layout
    and dtype. `model` is a name or file for `load_model`, or a loaded descriptor (load once
    to upscale many images). `options` are `batch.UpscaleOptions` fields of the model run:
    outscale, device, precision, tile, tile_pad, batch_size, memory_budget (bytes),
    alpha_upsampler ("bicubic" or "model"). Alpha, 16 bits, ICC, EXIF and DPI (scaled with
    the size) are kept as `srgan upscale` keeps them."""
    from srgan_cli.upscaling.batch import UpscaleOptions, load_upscaler, upscale_step

    allowed = {"outscale", "device", "precision", "tile", "tile_pad", "batch_size",
               "memory_budget", "alpha_upsampler"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UsageError(f"upscale: unknown option {', '.join(unknown)} (expected "
                         f"{', '.join(sorted(allowed))})")
    if isinstance(model, (str, Path)):
        opts = UpscaleOptions(model=str(model), **options)
        upscaler = load_upscaler(opts)
    else:
        opts = UpscaleOptions(model=model.name, **options)
        upscaler = load_upscaler(opts, model=model)
    data, back = _to_image_data(image)
    return back(upscale_step(data, upscaler, opts))


def evaluate(model: str | Path | ModelDescriptor = DEFAULT_MODEL, dataset: str | Path = "set5",
             *, scale: int | None = None, data_root: str | Path | None = None,
             split: str = "valid", regenerate_lr: bool = False, device: str = "auto",
             precision: str = "fp32", tile: int = 0, crop_border: int | None = None,
             y_channel: bool = True) -> EvalResult:
    """PSNR/SSIM of `model` on `dataset` by the standard protocol (Y channel, border = scale,
    fp32, whole images unless said otherwise): the `EvalResult` `srgan eval` prints, with
    `images` (per-image `ImageScore`s), `mean_psnr`, `mean_ssim` and `seconds`.

    `dataset` is a benchmark name (set5, set14, b100, urban100, manga109, div2k) under
    `data_root` ($SRGAN_DATA, else ./data) or a folder; `scale` defaults to the model's."""
    from srgan_cli.evaluation import scoring

    parse_device(device, "device")
    parse_precision(precision)
    check_tiling(tile, None, 1)
    if isinstance(model, (str, Path)):
        model = load_model(model, scale=scale)
    elif scale is not None and scale != model.scale:
        from srgan_cli.errors import ModelError

        raise ModelError(f"{model.name}: model is x{model.scale}, but x{scale} was asked")
    (ds,) = scoring.open_datasets([str(dataset)], model.scale, data_root=data_root,
                                  split=split, regenerate_lr=regenerate_lr)
    protocol = scoring.EvalProtocol(crop_border=crop_border, y_channel=y_channel,
                                    precision=precision, tile=tile)
    return scoring.score(model, ds, protocol, device=device)


# ----------------------------------------------------------------------------- image kinds


def _to_image_data(image: Any) -> tuple[ImageData, Any]:
    """`image` as ImageData, and the function that turns a result back into its kind."""
    import numpy as np
    from PIL import Image

    if isinstance(image, Image.Image):
        from srgan_cli.media.decode import from_pillow

        return from_pillow(image), _to_pillow
    if not isinstance(image, np.ndarray):
        raise UsageError(f"upscale: expected a PIL image or a numpy array, got "
                         f"{type(image).__name__}")
    return _array_to_image_data(image), _array_back(image.ndim, _channels(image))


def _channels(arr: np.ndarray) -> int:
    return 1 if arr.ndim == 2 else int(arr.shape[2])


def _array_to_image_data(arr: np.ndarray) -> ImageData:
    import numpy as np

    from srgan_cli.media.decode import ImageData
    from srgan_cli.media.pixels import gray_to_rgb

    if arr.dtype not in (np.uint8, np.uint16):
        raise UsageError(f"upscale: expected a uint8 or uint16 array, got {arr.dtype}")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)) \
            or min(arr.shape[:2]) < 1:
        raise UsageError(f"upscale: expected an HxW, HxWx1, HxWx2, HxWx3 or HxWx4 array, got "
                         f"shape {arr.shape}")
    c = _channels(arr)
    planes = arr if arr.ndim == 3 else arr[..., None]
    gray = c <= 2
    color = gray_to_rgb(planes[..., 0]) if gray else np.ascontiguousarray(planes[..., :3])
    alpha = np.ascontiguousarray(planes[..., c - 1]) if c in (2, 4) else None
    return ImageData(color=color, alpha=alpha, gray=gray, bit_depth=8 * arr.dtype.itemsize,
                     icc_profile=None, source_mode="array")


def _array_back(ndim: int, channels: int) -> Any:
    def back(img: ImageData) -> np.ndarray:
        import numpy as np

        color = img.color[..., :1] if channels <= 2 else img.color
        planes = [color] if img.alpha is None else [color, img.alpha[..., None]]
        out = np.ascontiguousarray(np.concatenate(planes, axis=2))
        return out[..., 0] if ndim == 2 else out
    return back


def _to_pillow(img: ImageData) -> Image.Image:
    """RGB, RGBA, L, LA, or I;16 for 16-bit gray (16-bit colour has no Pillow mode: 8 bits)."""
    import numpy as np
    from PIL import Image

    from srgan_cli.media.pixels import to_uint8

    if img.gray and img.bit_depth == 16 and img.alpha is None:
        out = Image.fromarray(np.ascontiguousarray(img.color[..., 0]).astype("<u2"))  # I;16
    else:  # the array's shape picks L, LA, RGB or RGBA
        color = to_uint8(img.color)
        planes = [color[..., :1] if img.gray else color]
        if img.alpha is not None:
            planes.append(to_uint8(img.alpha)[..., None])
        arr = np.ascontiguousarray(np.concatenate(planes, axis=2))
        out = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    info = {"icc_profile": img.icc_profile, "dpi": img.dpi, "exif": img.exif, "xmp": img.xmp}
    out.info.update({k: v for k, v in info.items() if v is not None})
    return out

