"""Run a training from CLI options: resolve the config, build the Trainer, fit, report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from srgan_cli.options import parse_device
from srgan_cli.training import distributed as dist_utils
from srgan_cli.training.config import resolve


def _log(message: str) -> None:
    """The trainer's log lines: on stderr, at once."""
    print(message, file=sys.stderr, flush=True)


def run_training(config_path: Path | None, overrides: dict[str, Any], *,
                 resume: str | None = None) -> dict[str, Any]:
    """Resolve config (defaults <- TOML <- flags), train, and return the last log record."""
    from srgan_cli.training.loop import Trainer

    cfg = resolve(config_path, overrides)
    parse_device(cfg.device, "--device")  # "foo": usage error (exit 2); absent "cuda": exit 10
    try:
        trainer = Trainer(cfg, resume=resume, log=_log)
        record = trainer.fit()
    finally:
        dist_utils.shutdown()
    if dist_utils.from_env().is_main:
        _log(f"done: step {trainer.step}, checkpoint {Path(cfg.run_dir) / 'last.pt'}")
    return record
