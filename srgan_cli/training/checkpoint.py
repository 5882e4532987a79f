"""Training checkpoints: atomic writes, safe loads, RNG capture, `--resume auto` lookup.

A checkpoint is a plain dict of tensors, numbers, strings and lists, saved with ``torch.save`` and
loaded with ``weights_only=True`` (no arbitrary code). It is written to a temporary file in the
same folder, flushed to disk, then renamed over the old one, so a crash never leaves a torn file."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from srgan_cli.errors import CheckpointError
from srgan_cli.fileio import atomic_write, torch_load_weights_only

FORMAT = "srgan-cli-checkpoint/1"
LAST = "last.pt"
BEST = "best.pt"


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save to `path` through a temp file + fsync + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


def rng_state() -> dict[str, Any]:
    """The torch RNG states (CPU and every CUDA device)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def save(state: dict[str, Any], path: Path) -> None:
    atomic_torch_save({"format": FORMAT, **state}, path)


def load(path: str | Path) -> dict[str, Any]:
    """Load one of our checkpoints (weights_only); CheckpointError when it is not one."""
    p = Path(path)
    if p.is_dir():
        p = p / LAST
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    try:
        state = torch_load_weights_only(p)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{p}: not a readable checkpoint (corrupt, or a pickle that the safe loader refuses "
            "to run)"
        ) from e
    except Exception as e:  # truncated zip, garbage bytes
        raise CheckpointError(f"{p}: not a readable checkpoint ({type(e).__name__})") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not an srgan-cli training checkpoint")
    return state


EMA_KEY = "params_ema"  # BasicSR's name; "ema" in checkpoints of srgan-cli 0.1.0 development runs


def ema_weights(state: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """The EMA generator weights of a checkpoint, or None when the run had no EMA."""
    return state.get(EMA_KEY, state.get("ema"))


def find_resume(run_dir: Path) -> Path | None:
    """`--resume auto`: the run folder's last checkpoint, if any."""
    p = run_dir / LAST
    return p if p.is_file() else None
