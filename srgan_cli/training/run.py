"""Run a training from CLI options: resolve the config, build the Trainer, fit, report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from srgan_cli.evaluation.scoring import check_device_name
from srgan_cli.training import distributed as dist_utils
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
    check_device_name(cfg.device)  # "foo" is a usage error (exit 2), "cuda" absent a DeviceError
    try:
        trainer = Trainer(cfg, resume=resume, progress=progress)
        record = trainer.fit()
    finally:
        dist_utils.shutdown()
    if dist_utils.from_env().is_main:
        trainer.log(f"done: step {trainer.step}, checkpoint {Path(cfg.run_dir) / 'last.pt'}")
    return record
