"""Training checkpoints: atomic writes, safe loads, RNG capture, `--resume auto` lookup, and the
check that a config may continue a checkpoint.

A checkpoint is a plain dict of tensors, numbers, strings and lists, saved with ``torch.save`` and
loaded with ``weights_only=True`` (no arbitrary code). It is written to a temporary file in the
same folder, flushed to disk, then renamed over the old one, so a crash never leaves a torn file."""

from __future__ import annotations

import errno
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srgan_cli.errors import CheckpointError, OutputError, TrainingError
from srgan_cli.fileio import atomic_write, torch_load_weights_only
from srgan_cli.messages import option, show_path
from srgan_cli.training.config import ALIASES

FORMAT = "srgan-cli-checkpoint/1"
LAST = "last.pt"
BEST = "best.pt"
# Config fields that may differ between a checkpoint and the run resuming it.
RESUMABLE_CHANGES = frozenset({
    "steps", "save_every", "val_every", "val_data", "log_every", "workers", "device",
    "cache_dir", "run_dir", "data_root", "skip_bad", "offline",
})


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save to `path` through a temp file + fsync + rename.

    torch.save reports a failed write (a full disk) as RuntimeError("... unexpected pos ...");
    it is raised as OSError, like any other write failure, after the temp file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_write(path) as tmp:
            torch.save(obj, tmp)
    except RuntimeError as e:
        raise OSError(errno.EIO, f"write failed{_free_space(path.parent)}") from e


def _free_space(folder: Path) -> str:
    """", 12.3 MB free on that disk" (the likely cause of a failed write), or "" if unknown."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    return f", {free / 1e6:.1f} MB free on that disk"


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


WEIGHT_KEYS = ("generator", EMA_KEY, "discriminator")


def non_finite_weight(state: dict[str, Any]) -> str | None:
    """The first weight of a checkpoint state holding nan/inf ("generator.head.weight"), or None
    when every network weight is finite."""
    for part in WEIGHT_KEYS:
        for key, value in (state.get(part) or {}).items():
            if (isinstance(value, torch.Tensor) and value.is_floating_point()
                    and not bool(torch.isfinite(value).all())):
                return f"{part}.{key}"
    return None


def find_resume(run_dir: Path) -> Path | None:
    """`--resume auto`: the run folder's last checkpoint, if any."""
    p = run_dir / LAST
    return p if p.is_file() else None


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's state dict as contiguous CPU copies (what a checkpoint stores)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


def check_compatible(config: dict[str, Any], state: dict[str, Any]) -> None:
    """CheckpointError when `config` differs from the checkpoint's in a field that shapes training
    (architecture, stage, losses...); paths, step counts and logging may change. Keys under an
    old name (config.ALIASES) are compared under the new one."""
    old = {ALIASES.get(k, k): v for k, v in state.get("config", {}).items()}
    for key, value in config.items():
        if key in RESUMABLE_CHANGES or key not in old:
            continue
        if old[key] != value:
            raise CheckpointError(
                f"cannot resume: the checkpoint was trained with {key} = {old[key]!r}, "
                f"this run asks for {value!r}"
            )


class Checkpointer:
    """A run folder's checkpoints: which one to resume from, and atomic saves of last.pt and
    best.pt. Only the main process writes; a failed write leaves the previous file intact."""

    def __init__(self, run_dir: Path, *, is_main: bool, log: Callable[[str], None]) -> None:
        self.run_dir = run_dir
        self.is_main = is_main
        self._log = log

    @property
    def last(self) -> Path:
        return self.run_dir / LAST

    def resume_state(self, resume: str | None) -> dict[str, Any] | None:
        """The state to continue (`resume`: None, "auto" or a path), None for a new run.

        A new run never starts over an existing checkpoint: that would overwrite it."""
        if not resume:
            existing = find_resume(self.run_dir)
            if existing is not None:
                raise CheckpointError(
                    f"{self.run_dir} already holds a training checkpoint ({existing.name}): "
                    f"continue it with {option('resume')} auto, or choose another "
                    f"{option('run_dir')}"
                )
            return None
        if resume == "auto":
            path = find_resume(self.run_dir)
            if path is None:
                self._log(f"no checkpoint in {self.run_dir}; starting a new run")
                return None
        else:
            path = Path(resume)
        state = load(path)
        self._log(f"resuming from {path} at step {state['step']}")
        return state

    def save_last(self, state: dict[str, Any]) -> Path | None:
        return self._save(state, self.last)

    def save_best(self, state: dict[str, Any]) -> Path | None:
        return self._save(state, self.run_dir / BEST)

    def last_good(self) -> str:
        """"the last good checkpoint step N is kept at PATH" when last.pt exists, loads and
        holds finite weights; else a sentence saying that none was saved."""
        path = self.last
        if path.is_file():
            try:
                state = load(path)
            except CheckpointError:
                state = None
            if state is not None and non_finite_weight(state) is None:
                return f"the last good checkpoint step {state['step']} is kept at {path}"
        return f"no good checkpoint was saved in {self.run_dir}"

    def _save(self, state: dict[str, Any], path: Path) -> Path | None:
        """Write `state` to `path` (main process); TrainingError instead of saving non-finite
        weights, CheckpointError naming the file when the write fails."""
        if not self.is_main:
            return None
        bad = non_finite_weight(state)
        if bad is not None:
            raise TrainingError(
                f"weights became non-finite ({bad}) at step {state.get('step')}; not saved to "
                f"{path}: {self.last_good()} (lower lr, set grad_clip, or amp = off)"
            )
        try:
            save(state, path)
        except (OSError, OutputError) as e:  # OutputError: fileio's disk-full verdict
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            why = why.removeprefix(f"{show_path(path)}: ")
            raise CheckpointError(
                f"cannot write checkpoint {path} ({why}); the previous one is intact"
            ) from e
        return path
