"""Run a training from CLI options: resolve the config, build the Trainer, fit, report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from srgan_cli import distributed as dist_utils
from srgan_cli.options import parse_device
from srgan_cli.training.config import resolve

if TYPE_CHECKING:
    from srgan_cli.training.loop import ProgressDisplay


def run_training(config_path: Path | None, overrides: dict[str, Any], *,
                 resume: str | None = None,
                 progress: ProgressDisplay | None = None) -> dict[str, Any]:
    """Resolve config (defaults <- TOML <- flags), train, and return the last log record;
    `progress` draws the bar on a terminal (see `Trainer`)."""
    from srgan_cli.training.loop import Trainer

    cfg = resolve(config_path, overrides)
    parse_device(cfg.device, "device")  # "foo": usage error (exit 2); absent "cuda": exit 10
    try:
        trainer = Trainer(cfg, resume=resume, progress=progress)
        record = trainer.fit()
    finally:
        dist_utils.shutdown()
    if dist_utils.from_env().is_main:
        trainer.log(f"done: step {trainer.step}, checkpoint {Path(cfg.run_dir) / 'last.pt'}")
    return record
