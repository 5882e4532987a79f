"""Export a training run or checkpoint as a model file (safetensors + model card)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from srgan_cli import fileio
from srgan_cli.errors import CheckpointError, UsageError
from srgan_cli.messages import option
from srgan_cli.models.srresnet import SRResNet
from srgan_cli.models.state_dicts import blend_states
from srgan_cli.options import check_float
from srgan_cli.training import checkpoint as ckpt

WEIGHT_CHOICES = ("auto", "ema", "raw", "best")


def _pick_checkpoint(source: Path, weights: str) -> Path:
    if source.is_dir():
        name = ckpt.BEST if weights == "best" else ckpt.LAST
        path = source / name
        if not path.is_file():
            raise CheckpointError(f"{source}: run folder has no {name}")
        return path
    if weights == "best":
        raise UsageError(f"{option('weights')} best needs a run folder (it reads <run>/best.pt)")
    return source


def generator_from_checkpoint(state: dict[str, Any], weights: str, where: Path) -> SRResNet:
    """The generator of a checkpoint: EMA weights when present (auto/ema), else the raw ones."""
    cfg = state.get("config", {})
    try:
        net = SRResNet(int(cfg["scale"]), int(cfg["num_blocks"]), int(cfg["channels"]))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{where}: checkpoint has no usable config ({e})") from e
    ema = ckpt.ema_weights(state)
    if weights == "ema" and ema is None:
        raise CheckpointError(f"{where}: checkpoint holds no EMA weights (trained with ema = 0)")
    use_ema = weights in ("auto", "ema") and ema is not None
    sd = ema if use_ema and ema is not None else state["generator"]
    try:
        net.load_state_dict(sd)
    except RuntimeError as e:
        raise CheckpointError(f"{where}: generator weights do not match its config") from e
    return net.eval()


def training_card(state: dict[str, Any], weights_used: str) -> dict[str, Any]:
    """Card fields describing how the weights were trained (from the checkpoint's config)."""
    cfg = state.get("config", {})
    data = [d if d.lower() == "div2k" else Path(d).name for d in cfg.get("data", [])]
    return {
        "training": {
            "stage": state.get("stage", cfg.get("stage")),
            "steps": int(state.get("step", 0)),
            "data": data,
            "batch_size": cfg.get("batch_size"),
            "patch_size": cfg.get("patch_size"),
            "lr": cfg.get("lr"),
            "schedule": cfg.get("schedule"),
            "pixel_loss": cfg.get("pixel_loss"),
            "content_loss": cfg.get("content_loss") if cfg.get("stage") == "gan" else None,
            "ema": cfg.get("ema"),
            "amp": cfg.get("amp"),
            "seed": cfg.get("seed"),
        },
        "weights": weights_used,
        "exported": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def check_target(out: str | Path, *, overwrite: bool = False) -> Path:
    """The output path, refused with OutputError before any work when it cannot be written."""
    return fileio.check_target(Path(out).expanduser(), overwrite=overwrite, kind="model file",
                               suffixes={".safetensors"})


def build(
    source: str | Path, *, weights: str = "auto", name: str = "",
    extra: dict[str, Any] | None = None,
) -> tuple[SRResNet, dict[str, Any]]:
    """The generator (eval mode, CPU) of a run folder or checkpoint and its card; writes nothing."""
    if weights not in WEIGHT_CHOICES:
        raise UsageError(f"{option('weights')} must be one of {', '.join(WEIGHT_CHOICES)}, "
                         f"got {weights!r}")
    path = _pick_checkpoint(Path(source).expanduser(), weights)
    state = ckpt.load(path)
    net = generator_from_checkpoint(state, weights, path)
    has_ema = ckpt.ema_weights(state) is not None
    used = "ema" if weights in ("auto", "ema") and has_ema else "raw"
    if weights == "best":
        used = "best"
    card = training_card(state, used)
    card["name"] = name
    card.update(extra or {})
    return net, card


def export(
    source: str | Path,
    out: str | Path,
    *,
    weights: str = "auto",
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
    measure: list[str] | None = None,
    data_root: str | Path | None = None,
    device: str = "auto",
) -> tuple[SRResNet, dict[str, Any]]:
    """Write `out` (.safetensors) from a run folder or checkpoint; return the model and card.

    With `measure`, the in-memory model is scored on those datasets first and the scores are
    stored in the card as ``metrics``, so a missing dataset or a failed image leaves no file
    behind; the file is written once, complete."""
    from srgan_cli.models.bundled import save_model

    out = check_target(out, overwrite=overwrite)
    net, card = build(source, weights=weights, name=out.stem, extra=extra)
    if measure:
        from srgan_cli.evaluation.scoring import measure_model
        from srgan_cli.models.loading import srresnet_descriptor

        model = srresnet_descriptor(net, name=out.stem, source=str(source), card=card)
        card["metrics"] = measure_model(model, measure, data_root=data_root, device=device)
        check_target(out, overwrite=overwrite)  # measuring takes a while: check again
    save_model(net, out, card)
    return net, card


def interpolate(
    a: str | Path, b: str | Path, alpha: float, out: str | Path, *,
    extra: dict[str, Any] | None = None, overwrite: bool = False,
) -> tuple[SRResNet, dict[str, Any]]:
    """Write `out`, the weight-by-weight blend of models `a` and `b` (same SRResNet shape):
    alpha 0 is `a`, 1 is `b` (the perception-distortion knob between a PSNR and a GAN model).

    The card records both sources (name, file, card) and alpha. ModelError (exit 5) when the
    architectures differ, UsageError for alpha outside [0, 1]."""
    from srgan_cli.errors import ModelError
    from srgan_cli.models.bundled import save_model
    from srgan_cli.models.loading import load

    check_float(alpha, "alpha", low=0, high=1, hint=" (0: the first model, 1: the second)")
    out = check_target(out, overwrite=overwrite)
    models = [load(str(spec)) for spec in (a, b)]
    nets = [getattr(m.implementation, "net", None) for m in models]
    for spec, m, net in zip((a, b), models, nets, strict=True):
        if not isinstance(net, SRResNet):
            raise ModelError(f"{option('interpolate')} {spec}: {m.name} is {m.architecture}, "
                             "not an srgan-cli SRResNet (the architecture blended)")
    ma, mb = nets
    assert isinstance(ma, SRResNet) and isinstance(mb, SRResNet)
    shape_a = (ma.scale, ma.num_blocks, ma.channels)
    shape_b = (mb.scale, mb.num_blocks, mb.channels)
    if shape_a != shape_b:
        raise ModelError(
            f"{option('interpolate')}: {models[0].name} (x{shape_a[0]}, {shape_a[1]} blocks, "
            f"{shape_a[2]} channels) and {models[1].name} (x{shape_b[0]}, {shape_b[1]} "
            f"blocks, {shape_b[2]} channels) are not the same architecture")
    try:
        state = blend_states(ma.state_dict(), mb.state_dict(), alpha)
    except ValueError as e:
        raise ModelError(f"{option('interpolate')}: {models[0].name} and {models[1].name}: "
                         f"{e}") from e
    net = SRResNet(*shape_a)
    net.load_state_dict(state)
    card: dict[str, Any] = {
        "name": out.stem,
        "interpolation": {
            "alpha": alpha,
            "a": {"name": models[0].name, "source": models[0].source,
                  "card": dict(models[0].card)},
            "b": {"name": models[1].name, "source": models[1].source,
                  "card": dict(models[1].card)},
        },
        "exported": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    card.update(extra or {})
    save_model(net, out, card)
    return net.eval(), card
