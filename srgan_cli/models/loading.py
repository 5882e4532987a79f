"""Model files -> `ModelDescriptor`: bundled names, safetensors, weights-only pickles, ONNX.

- Our SRResNet (bundled names, our ``.safetensors``): read as `bundled` does, BatchNorm folded
  when prepared, exact tiling from its receptive radius.
- Native families spandrel 0.4.2 does not detect: BasicSR MSRResNet (`msrresnet`), EDSR in the
  official and BasicSR layouts (`edsr`).
- Everything else goes to spandrel as a state dict (``ModelLoader().load_from_state_dict``):
  accepted when spandrel describes it as an RGB super-resolution model (purpose "SR", scale >= 1).
- ``.onnx`` runs through onnxruntime (`onnx_runtime`).
- A catalogue name (`catalogue`, e.g. ``realesrgan-x4plus``) is the cached file of that model,
  downloaded first when needed; files and bundled names come first.
The suffixes are `media.formats.MODEL_FORMATS`. Pickles (``.pth``, ``.pt``, ``.ckpt``) are read
only by ``fileio.torch_load_weights_only``; declared shapes are checked
(`state_dicts.check_sane`) before any module is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srgan_cli.errors import ModelError
from srgan_cli.media.formats import MODEL_FORMATS, listing
from srgan_cli.messages import one_line
from srgan_cli.models import bundled
from srgan_cli.models.descriptor import (
    ALL_PRECISIONS,
    DEFAULT_APPROX_PAD,
    FP32_ONLY,
    ModelDescriptor,
    SizeRequirements,
    Tiling,
    bicubic,
)
from srgan_cli.models.state_dicts import check_sane, key_summary, shapes_of

if TYPE_CHECKING:  # the networks import torch when a file is loaded, not for "bicubic"
    from pathlib import Path

    import torch
    from torch import nn

    from srgan_cli.models import edsr, msrresnet
    from srgan_cli.models.srresnet import SRResNet

# spandrel architectures whose networks are purely convolutional (plus pixel (un)shuffle and
# nearest/bilinear upsampling): tiled output is exact with the radius from `conv_radius`.
EXACT_SPANDREL = frozenset({"ESRGAN", "Compact"})
# spandrel architectures whose call mixes the images of a batch up: run one image at a time
SINGLE_IMAGE_SPANDREL = frozenset({"IPT", "SeemoRe"})
PURPOSES = {"FaceSR": "a face-restoration model", "Restoration": "a restoration model (x1)",
            "Inpainting": "an inpainting model"}


def load(spec: str, *, scale: int | None = None, no_download: bool = False) -> ModelDescriptor:
    """The descriptor of a bundled name, "bicubic", a model file, or a catalogue name
    (`catalogue`: fetched into the cache on first use, size and hash checked).

    Files: ``.safetensors``, ``.pth``, ``.pt``, ``.ckpt`` (our SRResNet, MSRResNet, EDSR, or any
    spandrel SR architecture, with the usual nestings and prefixes) and ``.onnx``. Raises
    ModelError with one line for a missing, corrupt, unsafe, absurd or unsupported file, and when
    `scale` is given and differs from the model's. `no_download` (or SRGAN_OFFLINE) refuses to
    download a catalogue model that is not cached."""
    if spec.lower() == bundled.BICUBIC:
        return bicubic(4 if scale is None else scale)
    path, name, source, card = _resolve(spec, no_download)
    suffix = path.suffix.lower()
    kind = MODEL_FORMATS.get(suffix)
    if kind in ("safetensors", "pickle"):
        from srgan_cli.models.torch_impl import one_thread

        with one_thread():  # ~hundreds of tiny tensor ops (see `one_thread`)
            descriptor = _load_state_dict_file(path, kind, name, source, card)
    elif kind == "onnx":
        from srgan_cli.models.onnx_runtime import load_onnx

        descriptor = load_onnx(path, name, source)
    else:
        raise ModelError(
            f"{path}: unknown model file type {suffix or '(none)'!r}, expected "
            f"{listing(MODEL_FORMATS)}")
    if scale is not None and scale != descriptor.scale:
        raise ModelError(f"{name}: model is x{descriptor.scale}, but x{scale} was asked")
    return descriptor


def _resolve(spec: str, no_download: bool) -> tuple[Path, str, str, dict[str, Any]]:
    """(path, name, source, card fields) of a spec: a file or bundled name (`bundled`), else a
    catalogue name, fetched into the cache first when needed (`catalogue.fetch`)."""
    from srgan_cli.models import catalogue

    entry = catalogue.lookup(spec)
    if entry is None:
        try:
            return (*bundled.resolve_spec(spec), {})
        except ModelError as e:
            hint = catalogue.suggestion(spec) if "/" not in spec else None
            if hint is None:
                raise
            raise ModelError(f"{e}; {hint}") from None
    path = catalogue.fetch(entry, no_download=no_download)
    return path, entry.name, f"catalogue:{entry.name}", entry.card()


def _load_state_dict_file(path: Path, kind: str, name: str, source: str,
                          card: dict[str, Any]) -> ModelDescriptor:
    """A safetensors or pickle file's state dict -> descriptor (`card`: fields of the
    catalogue entry, over the file's own card)."""
    if kind == "safetensors":
        _, shapes = bundled.read_safetensors_header(path)
        check_sane(shapes, str(path))  # before reading a single tensor
        state, file_card = bundled.load_safetensors(path)
        return from_state_dict(bundled.strip_wrapper_prefixes(state), name=name, source=source,
                               card={**file_card, **card}, where=str(path))
    return from_state_dict(bundled.load_pickle(path), name=name, source=source, card=card,
                           where=str(path))


def load_srresnet(spec: str, *, scale: int | None = None) -> SRResNet:
    """Our SRResNet (CPU, fp32, eval, BatchNorm unfolded) of a bundled name, model file or
    checkpoint: what training starts from. ModelError for bicubic and other families."""
    from srgan_cli.models.srresnet import SRResNet

    descriptor = load(spec, scale=scale)
    net = getattr(descriptor.implementation, "net", None)
    if not isinstance(net, SRResNet):
        raise ModelError(f"{descriptor.name}: is {descriptor.architecture}, not an srgan-cli "
                         "SRResNet")
    return net


def from_state_dict(
    state: Mapping[str, torch.Tensor], *, name: str, source: str, card: Mapping[str, Any],
    where: str,
) -> ModelDescriptor:
    """The descriptor of a state dict (prefixes already stripped), whichever family it is."""
    from srgan_cli.models import edsr, msrresnet

    shapes = shapes_of(state)
    if not shapes:
        raise ModelError(f"{where}: the file holds no tensors (an empty state dict), not a model")
    check_sane(shapes, where)
    if "head.weight" in shapes and any(k.startswith("upsampler.") for k in shapes):
        module, full_card = bundled.srresnet_from_state(state, dict(card), where)
        return srresnet_descriptor(module, name=name, source=source, card=full_card)
    try:
        if msrresnet.detect(shapes):
            return _native(msrresnet.build(state), "msrresnet", 1.0, name, source, card)
        layout = edsr.detect(shapes)
        if layout is not None:
            net = edsr.build(state, layout)
            card = {**card, "layout": layout}
            return _native(net, "edsr", edsr.RGB_RANGE, name, source, card)
    except ModelError as e:
        raise ModelError(f"{where}: {e}") from None
    return _spandrel(state, name=name, source=source, card=card, where=where)


def srresnet_descriptor(module: SRResNet, *, name: str, source: str, card: Mapping[str, Any]
                        ) -> ModelDescriptor:
    """Our SRResNet: BatchNorm folded and the banded lean forward when prepared
    (`srresnet_infer`), exact tiling, every precision."""
    from srgan_cli.models import srresnet_infer
    from srgan_cli.models.torch_impl import TorchImplementation, parameter_count

    return ModelDescriptor(
        name=name, architecture=bundled.ARCHITECTURE, scale=module.scale, in_channels=3,
        out_channels=3, parameters=parameter_count(module), precisions=ALL_PRECISIONS,
        size=SizeRequirements(), tiling=Tiling(True, module.receptive_radius), card=card,
        source=source,
        implementation=TorchImplementation(module, for_inference=srresnet_infer.for_inference),
        activations_per_pixel=srresnet_infer.activation_floats_per_pixel(module),
    )


def _native(net: msrresnet.MSRResNet | edsr.EDSR, arch: str, value_range: float, name: str,
            source: str, card: Mapping[str, Any]) -> ModelDescriptor:
    """MSRResNet / EDSR: purely convolutional, exact tiling, every precision."""
    from srgan_cli.models.torch_impl import TorchImplementation, parameter_count

    scale = net.scale
    return ModelDescriptor(
        name=name, architecture=arch, scale=scale, in_channels=3, out_channels=3,
        parameters=parameter_count(net), precisions=ALL_PRECISIONS, size=SizeRequirements(),
        tiling=Tiling(True, net.receptive_radius),
        card={**card, "architecture": arch, "scale": scale}, source=source,
        implementation=TorchImplementation(net, value_range=value_range),
    )


def conv_radius(net: nn.Module, input_factor: int = 1) -> int:
    """An upper bound on the receptive radius (LR pixels) of a purely convolutional net: the
    reach of every convolution added up as if all ran at input resolution, times the factor of
    an input pixel unshuffle (each conv then reaches `input_factor` LR pixels per tap), plus one
    more step for the unshuffle itself and the nearest/bilinear upsampling skips."""
    from torch import nn

    reach = 0
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            k, d = max(m.kernel_size), max(m.dilation)
            reach += d * (k - 1) // 2 + (k - 1) % 2
    return (reach + 1) * input_factor


def spandrel_call(arch: str, call: Any) -> Any:
    """spandrel's per-architecture call (0.4.2: private `_call_fn`) in a picklable form (the ONNX
    tracer gets the module in a child process): None for its default ``model(image)`` lambda."""
    from srgan_cli.models.torch_impl import first_output

    if arch == "MMRealSR":
        return first_output
    if call is None or getattr(call, "__qualname__", "").startswith("ImageModelDescriptor."):
        return None
    return call


def _spandrel(state: Mapping[str, torch.Tensor], *, name: str, source: str,
              card: Mapping[str, Any], where: str) -> ModelDescriptor:
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    from srgan_cli.models.torch_impl import TorchImplementation, parameter_count

    try:
        sd = ModelLoader().load_from_state_dict(dict(state))
    except UnsupportedModelError:
        raise ModelError(f"{where}: unknown layout: keys {key_summary(sorted(state), 4)}") from None
    except Exception as e:  # a detected architecture whose tensors do not fit it
        why = one_line(e, first_line=True)
        raise ModelError(f"{where}: spandrel could not load it ({why})") from None
    arch = sd.architecture.id
    if not isinstance(sd, ImageModelDescriptor) or sd.purpose != "SR":
        what = PURPOSES.get(str(sd.purpose), f"a {sd.purpose} model")
        raise ModelError(f"{where}: spandrel detected {arch}, {what}, not super-resolution")
    if sd.input_channels != 3 or sd.output_channels != 3:
        raise ModelError(
            f"{where}: spandrel detected {arch} with {sd.input_channels} input and "
            f"{sd.output_channels} output channels; only RGB models are supported"
        )
    req = sd.size_requirements
    if req.square:
        raise ModelError(f"{where}: {arch} needs square input, which is not supported")
    net = sd.model.eval().requires_grad_(False)
    precisions = FP32_ONLY | ({"fp16"} if sd.supports_half else set()) | (
        {"bf16"} if sd.supports_bfloat16 else set())
    multiple = req.multiple_of
    if arch in EXACT_SPANDREL:
        unshuffle = int(getattr(net, "shuffle_factor", 0) or 1)
        tiling = Tiling(True, conv_radius(net, unshuffle))
        # tiles stay exact only when their windows start on the pixel-unshuffle grid
        multiple = math.lcm(multiple, unshuffle)
    else:
        tiling = Tiling(False, max(DEFAULT_APPROX_PAD, req.multiple_of))
    call = spandrel_call(arch, getattr(sd, "_call_fn", None))
    return ModelDescriptor(
        name=name, architecture=arch, scale=sd.scale, in_channels=3, out_channels=3,
        parameters=parameter_count(net), precisions=frozenset(precisions),
        size=SizeRequirements(multiple, req.minimum), tiling=tiling,
        card={**card, "architecture": arch, "scale": sd.scale, "tags": list(sd.tags),
              "loaded_by": "spandrel"},
        source=source, implementation=TorchImplementation(net, call=call,
                                          single_image=arch in SINGLE_IMAGE_SPANDREL),
    )

