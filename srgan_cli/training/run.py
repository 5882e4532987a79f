"""Run a training from CLI options: resolve the config, build the Trainer, fit, report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from srgan_cli import distributed as dist_utils
from srgan_cli.errors import ConfigError
from srgan_cli.messages import option
from srgan_cli.options import parse_device
from srgan_cli.training.config import load_toml, resolve

if TYPE_CHECKING:
    from srgan_cli.training.loop import ProgressDisplay


def _given(key: str, config_path: Path | None, overrides: dict[str, Any]) -> bool:
    """Whether `key` was set by a flag or by the TOML file (not left at its default)."""
    if overrides.get(key) is not None:
        return True
    return config_path is not None and key in load_toml(config_path)


def run_training(config_path: Path | None, overrides: dict[str, Any], *,
                 resume: str | None = None,
                 progress: ProgressDisplay | None = None) -> dict[str, Any]:
    """Resolve config (defaults <- TOML <- flags), train, and return the last log record;
    `progress` draws the bar on a terminal (see `Trainer`)."""
    from srgan_cli.training.loop import Trainer

    cfg = resolve(config_path, overrides)
    parse_device(cfg.device, "device")  # "foo": usage error (exit 2); absent "cuda": exit 10
    if cfg.val_every and not cfg.val_data and _given("val_every", config_path, overrides):
        raise ConfigError(f"{option('val_every')} {cfg.val_every} scores the generator on "
                          f"{option('val_data')}, which is not given: add {option('val_data')} "
                          "(a benchmark name such as set5, or a folder)")
    try:
        trainer = Trainer(cfg, resume=resume, progress=progress)
        record = trainer.fit()
    finally:
        dist_utils.shutdown()
    if dist_utils.from_env().is_main:
        trainer.log(f"done: step {trainer.step}, checkpoint {Path(cfg.run_dir) / 'last.pt'}")
    return record
