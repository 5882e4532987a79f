"""A stop always saves: `srgan train --workers 2` hit by SIGINT, SIGTERM or SIGHUP sent to its
whole process group (what a terminal, `timeout`, SLURM's scancel and systemd do) saves a
checkpoint at the step reached and exits 130, and `--resume auto` continues bit for bit; a
DataLoader worker killed on its own is one clear line, exit 9, the last checkpoint named; one that
dies while a stop is under way is part of the stop."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import assert_same_training_state, child_env, noise_pngs

from srgan_cli.errors import TrainingError
from srgan_cli.training.checkpoint import load as load_checkpoint
from srgan_cli.training.config import TrainConfig
from srgan_cli.training.loop import Trainer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

TIMEOUT = 120
# The run as flags of the child and as the config of the in-process runs: the same training.
RUN: dict[str, Any] = dict(
    scale=4, num_blocks=1, channels=8, patch_size=32, batch_size=2, device="cpu",
    deterministic=True, seed=3, lr=1e-3, warmup_steps=3, ema=0.9, log_every=1)


def _flags(tmp_path: Path, steps: int, save_every: int) -> list[str]:
    flags = [sys.executable, "-m", "srgan_cli", "train", "--data", str(tmp_path / "train"),
             "--cache-dir", str(tmp_path / "cache"), "--run-dir", str(tmp_path / "run"),
             "--steps", str(steps), "--save-every", str(save_every), "--workers", "2"]
    for key, value in RUN.items():
        flag = "--" + key.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    return flags


def _cfg(tmp_path: Path, run: str, steps: int) -> TrainConfig:
    cfg = TrainConfig(**{**RUN, "data": [str(tmp_path / "train")], "run_dir": str(tmp_path / run),
                         "cache_dir": str(tmp_path / "cache"), "steps": steps,
                         "save_every": 1000, "workers": 0})
    cfg.validate()
    return cfg


class _Training:
    """`srgan train` in a session of its own (its own process group), stderr read line by line."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env=child_env(), start_new_session=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, prefix: str) -> None:
        """Block until the child prints a line starting with `prefix`."""
        while True:
            try:
                line = self._queue.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no line {prefix!r} within {TIMEOUT} s: {self.lines[-5:]}")
            if line is None:
                pytest.fail(f"training ended before {prefix!r}: {self.lines[-5:]}")
            self.lines.append(line)
            if line.startswith(prefix):
                return

    def finish(self) -> tuple[int, str]:
        """Exit code and the whole stderr."""
        code = self.proc.wait(timeout=TIMEOUT)
        while (line := self._queue.get(timeout=TIMEOUT)) is not None:
            self.lines.append(line)
        return code, "\n".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc: the DataLoader workers of a trainer)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            kids.append(int(stat.parent.name))
    return sorted(kids)


@pytest.mark.parametrize(("sig", "after_step"),
                         [(signal.SIGINT, 2), (signal.SIGTERM, 3), (signal.SIGHUP, 4)],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_to_the_process_group_saves_and_resume_is_bit_exact(
        tmp_path: Path, sig: signal.Signals, after_step: int) -> None:
    noise_pngs(tmp_path / "train", 2, (48, 44))
    run = tmp_path / "run"
    child = _Training(_flags(tmp_path, 100_000, save_every=1000))
    try:
        child.wait_for_line(f"step {after_step}/")
        assert len(_children(child.proc.pid)) == 2  # the workers are up, in the same group
        os.killpg(child.proc.pid, sig)
        code, err = child.finish()
    finally:
        child.kill()
    assert code == 130, err
    assert "Traceback" not in err and "internal error" not in err and "error:" not in err
    assert err.count("stop requested") == 1, err  # the main process alone decides
    found = re.search(rf"interrupted at step (\d+); checkpoint saved to {re.escape(str(run))}",
                      err)
    assert found, err
    reached = int(found[1])
    assert reached >= after_step
    assert load_checkpoint(run / "last.pt")["step"] == reached

    final = reached + 2
    resumed = Trainer(_cfg(tmp_path, "run", final), resume="auto", log=lambda m: None)
    assert resumed.step == reached
    resumed.fit()
    reference = Trainer(_cfg(tmp_path, "ref", final), log=lambda m: None)
    reference.fit()
    assert_same_training_state(reference.state(), resumed.state())


def test_a_worker_killed_on_its_own_is_a_training_error_naming_the_checkpoint(
        tmp_path: Path) -> None:
    noise_pngs(tmp_path / "train", 2, (48, 44))
    run = tmp_path / "run"
    child = _Training(_flags(tmp_path, 100_000, save_every=2))
    try:
        child.wait_for_line("step 3/")
        workers = _children(child.proc.pid)
        assert len(workers) == 2
        os.kill(workers[1], signal.SIGKILL)
        code, err = child.finish()
    finally:
        child.kill()
    assert code == TrainingError.exit_code, err
    assert "Traceback" not in err and "internal error" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    line = errors[0]
    assert f"a data loader worker (pid {workers[1]}) died (killed by SIGKILL)" in line
    # the state reached is saved, unless the death cut an update in half: then the periodic one
    saved = load_checkpoint(run / "last.pt")["step"]
    found = re.search(r"training stopped at step (\d+): ", line)
    assert found and int(found[1]) >= 3, line
    stopped = int(found[1])
    assert saved == stopped or (saved % 2 == 0 and stopped - 2 <= saved < stopped), line
    assert f"the last good checkpoint step {saved} is kept at {run / 'last.pt'}" in line, line
    assert line.endswith("(continue with --resume auto)")


def test_a_worker_that_dies_in_a_stop_is_part_of_the_stop(tmp_path: Path) -> None:
    noise_pngs(tmp_path / "train", 2, (48, 44))
    run = tmp_path / "run"
    cfg = _cfg(tmp_path, "run", 100)
    cfg.workers = 2
    logs: list[str] = []
    t = Trainer(cfg, log=logs.append)
    real = t.train_step

    def step(hr: torch.Tensor, lr_img: torch.Tensor) -> dict[str, torch.Tensor]:
        if t.step == 2:  # in step 3, before its update: a stop is asked for, then a worker dies
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(_children(os.getpid())[0], signal.SIGKILL)
            time.sleep(2)  # torch's SIGCHLD handler raises its RuntimeError in here
        return real(hr, lr_img)

    t.train_step = step  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    assert load_checkpoint(run / "last.pt")["step"] == 2
    assert f"interrupted at step 2; checkpoint saved to {run / 'last.pt'}" in "\n".join(logs)
