"""A run's log: config.toml, metrics.jsonl and TensorBoard scalars in the run folder, and one
terminal line per record. Losses are averaged over the steps since the previous record. Only the
main process writes; the other ranks keep the same records in memory.

metrics.jsonl is strict JSON, one object a line: a value that is not a finite number (a PSNR of
a validation that scored nothing) is written as null and its key listed under "non_finite"."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from srgan_cli.errors import OutputError
from srgan_cli.fileio import atomic_write
from srgan_cli.training.config import TrainConfig, to_toml

METRICS = "metrics.jsonl"
CONFIG = "config.toml"
CONFIG_HEADER = ("# The resolved config of this run, written by srgan train at each start of the "
                 "run: copy it to change it.\n")
NON_FINITE = "non_finite"  # the keys of a record whose values were nan or +-inf (written null)


class RunLog:
    """Collects step losses into records and writes them where they belong."""

    def __init__(self, run_dir: Path, *, is_main: bool, echo: Callable[[str], None] | None,
                 total_steps: int, samples_per_step: int, stage: str = "") -> None:
        self.run_dir = run_dir
        self.is_main = is_main
        # terminal lines (a live progress bar swaps in its console's print: lines above the bar)
        self.echo = echo
        self.total_steps = total_steps
        self.stage = stage
        self.samples_per_step = samples_per_step
        self._tb: Any = None
        self._window_start = time.perf_counter()
        self._window_steps = 0
        self._sums: dict[str, float] = {}
        self.last: dict[str, Any] = {}  # the latest record

    def open(self, cfg: TrainConfig, step: int) -> None:
        """Create the run folder, save the config, and drop records past `step` (a resumed run
        redoes them). OutputError when the folder cannot be written."""
        if not self.is_main:
            return
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            _write_text(self.run_dir / CONFIG, CONFIG_HEADER + to_toml(cfg))
            metrics = self.run_dir / METRICS
            if metrics.is_file():
                keep = [line for line in metrics.read_text().splitlines()
                        if _record_step(line) <= step]
                _write_text(metrics, "".join(line + "\n" for line in keep))
        except OSError as e:
            raise OutputError(f"run folder {self.run_dir}: cannot write ({e.strerror or e})") from e
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tb"))
        except Exception:  # tensorboard not installed: jsonl only
            self._tb = None

    def start(self, step: int) -> None:
        """Start the first window's clock (after the set-up, which is not a training step)."""
        self._window_start = time.perf_counter()
        self.last = {"step": step}

    def add(self, losses: dict[str, float]) -> None:
        """Count one step's losses into the current window."""
        self._window_steps += 1
        for k, v in losses.items():
            self._sums[k] = self._sums.get(k, 0.0) + v

    def summary(self, step: int, lr: float) -> dict[str, Any]:
        """The record of the window that ends at `step` (mean losses, speed); starts a new one."""
        dt = time.perf_counter() - self._window_start
        n = self._window_steps
        record: dict[str, Any] = {"step": step, "lr": lr}
        record.update({k: v / n for k, v in self._sums.items()})
        record["sec_per_step"] = dt / n
        record["samples_per_sec"] = n * self.samples_per_step / dt
        self._window_start, self._window_steps, self._sums = time.perf_counter(), 0, {}
        return record

    def write(self, record: dict[str, Any]) -> None:
        self.last = record
        if not self.is_main:
            return
        with (self.run_dir / METRICS).open("a") as fh:
            fh.write(json_line(record) + "\n")
        if self._tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(k, v, record["step"])
        if self.echo is not None:
            self.echo(format_record(record, self.total_steps, self.stage))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def format_record(record: dict[str, Any], total: int, stage: str = "") -> str:
    """The terminal line of a record: "step 4/10  stage psnr  lr 0.001  loss 0.0123 ...",
    validation scores (val_psnr, val_ssim, best_psnr) included when the record has them."""
    parts = [f"step {record['step']}/{total}"] + ([f"stage {stage}"] if stage else [])
    for k, v in record.items():
        if k == "step":
            continue
        parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    return "  ".join(parts)


def json_line(record: dict[str, Any]) -> str:
    """`record` as one line of strict JSON: non-finite floats become null, their keys listed
    under NON_FINITE."""
    bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        record = {**{k: None if k in bad else v for k, v in record.items()}, NON_FINITE: bad}
    return json.dumps(record, allow_nan=False)


def _write_text(path: Path, text: str) -> None:
    """Replace a small text file through a temp file, so a kill never leaves it torn."""
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def _record_step(line: str) -> float:
    """The step of a metrics.jsonl line; inf for a blank or torn one (a killed writer)."""
    try:
        return float(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return math.inf
