"""Export a training run or checkpoint as a model file (safetensors + model card)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from srgan_cli.errors import CheckpointError, OutputError, UsageError
from srgan_cli.models.srresnet import SRResNet
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
        raise UsageError("--weights best needs a run folder (it reads <run>/best.pt)")
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
    out = Path(out).expanduser()
    if out.suffix.lower() != ".safetensors":
        raise OutputError(f"{out}: the model file must end in .safetensors")
    if out.is_dir():
        raise OutputError(f"{out}: is a folder, expected a .safetensors file name")
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: exists; use --overwrite")
    if not out.parent.is_dir():
        raise OutputError(f"{out}: folder {out.parent} does not exist")
    return out


def build(
    source: str | Path, *, weights: str = "auto", name: str = "",
    extra: dict[str, Any] | None = None,
) -> tuple[SRResNet, dict[str, Any]]:
    """The generator (eval mode, CPU) of a run folder or checkpoint and its card; writes nothing."""
    if weights not in WEIGHT_CHOICES:
        raise UsageError(f"--weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
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
    from srgan_cli.models.zoo import save_model

    out = check_target(out, overwrite=overwrite)
    net, card = build(source, weights=weights, name=out.stem, extra=extra)
    if measure:
        from srgan_cli.models.loading import srresnet_descriptor
        from srgan_cli.scoring import measure_model

        model = srresnet_descriptor(net, name=out.stem, source=str(source), card=card)
        card["metrics"] = measure_model(model, measure, data_root=data_root, device=device)
        check_target(out, overwrite=overwrite)  # measuring takes a while: check again
    save_model(net, out, card)
    return net, card
