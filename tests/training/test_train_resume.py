"""Checkpoints and resume: a SIGKILLed run resumed with --resume auto ends bit for bit like an
uninterrupted one; Ctrl-C saves and exits cleanly; bad or mismatched checkpoints are refused."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import assert_same_training_state, child_env, noise_pngs

from srgan_cli.errors import CheckpointError
from srgan_cli.models.vgg import random_vgg_features
from srgan_cli.training.checkpoint import load as load_checkpoint
from srgan_cli.training.config import TrainConfig
from srgan_cli.training.loop import Trainer

TIMEOUT = 180


pytestmark = pytest.mark.usefixtures("one_thread")


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo owned > /dev/null",))


def _cli_args(tmp_path: Path, run: str, steps: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "srgan_cli", "train",
        "--data", str(tmp_path / "train"), "--cache-dir", str(tmp_path / "cache"),
        "--run-dir", str(tmp_path / run), "--steps", str(steps),
        "--scale", "4", "--num-blocks", "1", "--channels", "8", "--patch-size", "32",
        "--batch-size", "2", "--device", "cpu", "--deterministic", "--seed", "3",
        "--lr", "1e-3", "--warmup-steps", "3", "--ema", "0.9", "--log-every", "1", *extra,
    ]


ENV = child_env()


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, env=ENV)


def _step_of(path: Path) -> int:
    """The step of a checkpoint being rewritten by another process (-1 when not there yet)."""
    try:
        return int(load_checkpoint(path)["step"])
    except CheckpointError:
        return -1


def _wait_for(proc: subprocess.Popen[str], ready: Any) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not ready():
        assert proc.poll() is None, f"training ended early: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "timed out waiting for the training run"
        time.sleep(0.05)


def _metrics(run: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _losses(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in _metrics(run)]


@pytest.mark.slow
def test_sigkill_then_resume_auto_is_bit_exact(tmp_path: Path) -> None:
    noise_pngs(tmp_path / "train", 2, (48, 44))
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli_args(tmp_path, "killed", 100_000, "--save-every", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        _wait_for(proc, lambda: _step_of(killed / "last.pt") >= 4)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    s0 = _step_of(killed / "last.pt")
    assert s0 >= 4 and s0 % 2 == 0
    final = s0 + 3
    with (killed / "metrics.jsonl").open("a") as fh:  # as if killed while writing a record
        fh.write('{"step": 999, "lo')

    resumed = _run(_cli_args(tmp_path, "killed", final, "--save-every", "2", "--resume", "auto"))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {killed / 'last.pt'} at step {s0}" in resumed.stderr
    ref = _run(_cli_args(tmp_path, "ref", final, "--save-every", "2"))
    assert ref.returncode == 0, ref.stderr

    a, b = load_checkpoint(tmp_path / "ref" / "last.pt"), load_checkpoint(killed / "last.pt")
    assert a["step"] == final
    assert_same_training_state(a, b)
    # the log has every step once (records past the checkpoint were redone), same losses
    assert _losses(killed) == _losses(tmp_path / "ref")
    assert [s for s, _ in _losses(killed)] == list(range(1, final + 1))


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_resume_continues(tmp_path: Path) -> None:
    noise_pngs(tmp_path / "train", 2, (48, 44))
    run = tmp_path / "run"
    proc = subprocess.Popen(_cli_args(tmp_path, "run", 100_000, "--save-every", "1000"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        _wait_for(proc, lambda: (run / "metrics.jsonl").is_file()
                  and len((run / "metrics.jsonl").read_text().splitlines()) >= 3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    step = _step_of(run / "last.pt")
    assert step >= 3
    assert f"interrupted at step {step}; checkpoint saved to {run / 'last.pt'}" in err
    assert "--resume auto" in err

    done = _run(_cli_args(tmp_path, "run", step + 2, "--resume", "auto"))
    assert done.returncode == 0, done.stderr
    assert f"at step {step}" in done.stderr
    assert _step_of(run / "last.pt") == step + 2
    assert [r["step"] for r in _metrics(run)] == list(range(1, step + 3))


# ----------------------------------------------------------------------------- in process

TINY = dict(num_blocks=1, channels=8, scale=4, patch_size=32, batch_size=2, device="cpu",
            log_every=1, lr=1e-3, seed=1)


def _cfg(tmp_path: Path, run: str, **kw: Any) -> TrainConfig:
    cfg = TrainConfig(**{**TINY, "data": [str(tmp_path / "train")], "run_dir": str(tmp_path / run),
                         "cache_dir": str(tmp_path / "cache"), **kw})
    cfg.validate()
    return cfg


def _fit(cfg: TrainConfig, resume: str | None = None, **kw: Any) -> Trainer:
    t = Trainer(cfg, resume=resume, log=lambda m: None, **kw)
    t.fit()
    return t


def _interrupted_fit(cfg: TrainConfig, at_step: int, **kw: Any) -> None:
    """fit() hit by a KeyboardInterrupt during step `at_step` (a second Ctrl-C)."""
    t = Trainer(cfg, log=lambda m: None, **kw)
    real = t.train_step

    def step(hr: torch.Tensor, lr_img: torch.Tensor) -> dict[str, torch.Tensor]:
        if t.step + 1 == at_step:
            raise KeyboardInterrupt
        return real(hr, lr_img)

    t.train_step = step  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    assert load_checkpoint(Path(cfg.run_dir) / "last.pt")["step"] == at_step - 1


def test_second_ctrl_c_inside_an_update_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    noise_pngs(tmp_path / "train", 2, (48, 44))
    cfg = _cfg(tmp_path, "r", steps=6, save_every=1, ema=0.5)
    logs: list[str] = []
    t = Trainer(cfg, log=logs.append)
    assert t.ema is not None
    real = t.ema.update

    def ema_update(module: Any, updates: int) -> None:  # after the optimiser changed the weights
        if t.step + 1 == 3:
            raise KeyboardInterrupt
        real(module, updates)

    t.ema.update = ema_update
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    saved = load_checkpoint(Path(cfg.run_dir) / "last.pt")
    assert saved["step"] == 2  # not the half-updated state of step 3
    assert any("kept the last checkpoint" in m and "(continue with resume auto)" in m for m in logs)
    # resuming from it gives the uninterrupted result
    full = _fit(_cfg(tmp_path, "full", steps=6, save_every=1, ema=0.5))
    part = _fit(_cfg(tmp_path, "r", steps=6, save_every=1, ema=0.5), resume="auto")
    assert_same_training_state(full.state(), part.state())


def test_unwritable_run_folder_is_a_one_line_output_error(tmp_path: Path) -> None:
    from srgan_cli.errors import OutputError

    noise_pngs(tmp_path / "train", 2, (48, 44))
    (tmp_path / "file").write_text("not a folder")
    cfg = _cfg(tmp_path, "file/run", steps=1)
    with pytest.raises(OutputError, match="cannot write"):
        Trainer(cfg, log=lambda m: None).fit()


@pytest.mark.slow
def test_resume_in_process_matches_for_both_stages(tmp_path: Path) -> None:
    noise_pngs(tmp_path / "train", 2, (48, 44))
    psnr = dict(steps=4, ema=0.5, schedule="cosine", warmup_steps=1, save_every=100)
    full = _fit(_cfg(tmp_path, "a", **psnr))
    _interrupted_fit(_cfg(tmp_path, "b", **psnr), at_step=3)
    part = _fit(_cfg(tmp_path, "b", **psnr), resume="auto")
    assert part.step == 4
    assert_same_training_state(full.state(), part.state())
    assert _losses(tmp_path / "a") == _losses(tmp_path / "b")

    vgg = random_vgg_features("vgg22")
    gan = dict(stage="gan", init=str(tmp_path / "a"), content_loss="vgg22", save_every=100,
               steps=2, schedule="cosine")
    full = _fit(_cfg(tmp_path, "ga", **gan), vgg=vgg)
    _interrupted_fit(_cfg(tmp_path, "gb", **gan), at_step=2, vgg=vgg)
    part = _fit(_cfg(tmp_path, "gb", **gan), resume="auto", vgg=vgg)
    assert_same_training_state(full.state(), part.state())


def test_bad_checkpoints_are_checkpoint_errors(tmp_path: Path) -> None:
    noise_pngs(tmp_path / "train", 2, (48, 44))
    cfg = _cfg(tmp_path, "run", steps=2)
    t = _fit(cfg)
    last = tmp_path / "run" / "last.pt"

    # a different architecture or stage cannot continue this run
    for change, key in (({"channels": 16}, "channels"), ({"scale": 2}, "scale"),
                        ({"pixel_loss": "l1"}, "pixel_loss")):
        with pytest.raises(CheckpointError, match=f"{key} = "):
            Trainer(_cfg(tmp_path, "run", steps=3, **change), resume="auto")
    # paths, step counts and logging may change
    Trainer(_cfg(tmp_path, "run", steps=9, log_every=5, cache_dir=str(tmp_path / "c2")),
            resume=str(last), log=lambda m: None)

    data = last.read_bytes()
    cases = {
        "truncated": data[: len(data) // 2],
        "garbage": b"\x00junk" * 100,
        "empty": b"",
        "code": pickle.dumps(_Evil()),
    }
    for name, content in cases.items():
        p = tmp_path / f"{name}.pt"
        p.write_bytes(content)
        with pytest.raises(CheckpointError, match=f"{name}.pt: not a readable checkpoint "):
            Trainer(cfg, resume=str(p))
    torch.save(t.generator.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="not an srgan-cli training checkpoint"):
        Trainer(cfg, resume=str(tmp_path / "weights.pt"))
    with pytest.raises(CheckpointError, match="not found"):
        Trainer(cfg, resume=str(tmp_path / "missing.pt"))

    logs: list[str] = []
    fresh = Trainer(_cfg(tmp_path, "new", steps=2), resume="auto", log=logs.append)
    assert fresh.step == 0 and any("starting a new run" in m for m in logs)


@pytest.mark.slow
def test_cli_refuses_a_corrupt_checkpoint(tmp_path: Path) -> None:
    noise_pngs(tmp_path / "train", 2, (48, 44))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"PK\x03\x04 torn")
    res = _run(_cli_args(tmp_path, "run", 2, "--resume", "auto"))
    assert res.returncode == 8
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {tmp_path / 'run' / 'last.pt'}: not a readable checkpoint")
    assert not os.path.exists(tmp_path / "run" / "metrics.jsonl")
