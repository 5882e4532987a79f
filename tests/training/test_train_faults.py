"""Training faults: non-finite weights never saved and never called good, a full disk while
saving, two runs in one folder, temp files of a killed run, and the lines a run prints."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import noise_pngs
from PIL import Image
from rich.console import Console

from srgan_cli import fileio
from srgan_cli.errors import CheckpointError, OutputError, TrainingError
from srgan_cli.training import checkpoint as ckpt
from srgan_cli.training import runlock
from srgan_cli.training.config import TrainConfig
from srgan_cli.training.loop import Trainer
from srgan_cli.training.runlog import format_record

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(num_blocks=1, channels=8, scale=4, patch_size=32, batch_size=2, device="cpu")


def _cfg(tmp_path: Path, **kw: Any) -> TrainConfig:
    noise_pngs(tmp_path / "train", 2, (40, 44))
    values = {**TINY, "run_dir": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"),
              "data": [str(tmp_path / "train")], "steps": 3, "log_every": 1, "save_every": 1,
              **kw}
    cfg = TrainConfig(**values)
    cfg.validate()
    return cfg


def _quiet(msg: str) -> None:
    pass


def _temps(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------------------- non-finite weights


def test_non_finite_weights_are_never_saved(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    real = Trainer.train_step

    def poison_second_step(self: Trainer, hr: torch.Tensor, lr: torch.Tensor) -> Any:
        losses = real(self, hr, lr)
        if self.step == 1:  # the update of step 2 leaves inf weights behind a finite loss
            with torch.no_grad():
                next(self.generator.parameters()).fill_(float("inf"))
        return losses

    monkeypatch.setattr(Trainer, "train_step", poison_second_step)
    t = Trainer(_cfg(tmp_path), log=_quiet, show_progress=False)
    with pytest.raises(TrainingError) as info:
        t.fit()
    msg = str(info.value)
    last = tmp_path / "run" / "last.pt"
    assert "non-finite" in msg and "generator." in msg and "step 2" in msg
    assert f"the last good checkpoint step 1 is kept at {last}" in msg and "\n" not in msg
    state = ckpt.load(last)
    assert state["step"] == 1 and ckpt.non_finite_weight(state) is None


def test_nan_loss_before_any_checkpoint_names_none(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan_cli.training import stages

    monkeypatch.setattr(stages, "pixel_loss",
                        lambda kind, sr, hr: (sr - hr).abs().mean() * float("nan"))
    with pytest.raises(TrainingError) as info:
        Trainer(_cfg(tmp_path), log=_quiet, show_progress=False).fit()
    msg = str(info.value)
    assert "nan" in msg and "step 1" in msg and "no good checkpoint was saved" in msg
    assert "last.pt" not in msg and not (tmp_path / "run" / "last.pt").exists()


def test_a_checkpoint_full_of_nan_is_not_called_good(tmp_path: Path) -> None:
    run = tmp_path / "run"
    good = {"step": 5, "generator": {"w": torch.ones(2)}, ckpt.EMA_KEY: None}
    ckpt.save(good, run / ckpt.LAST)
    keeper = ckpt.Checkpointer(run, is_main=True, log=_quiet)
    assert keeper.last_good() == f"the last good checkpoint step 5 is kept at {run / 'last.pt'}"
    ckpt.save({**good, ckpt.EMA_KEY: {"w": torch.tensor([1.0, float("nan")])}}, run / ckpt.LAST)
    assert ckpt.non_finite_weight(ckpt.load(run / ckpt.LAST)) == f"{ckpt.EMA_KEY}.w"
    assert keeper.last_good() == f"no good checkpoint was saved in {run}"
    (run / ckpt.LAST).write_bytes(b"torn")
    assert keeper.last_good() == f"no good checkpoint was saved in {run}"
    with pytest.raises(TrainingError, match="non-finite"):
        keeper.save_last({**good, "generator": {"w": torch.tensor([float("inf")])}})


# ----------------------------------------------------------------------------- disk full


@pytest.mark.parametrize("fault", ["torch", "oserror"])
def test_disk_full_while_saving_a_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             fault: str) -> None:
    real_save = torch.save
    calls = {"n": 0}

    def full_disk(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] < 2:
            return real_save(obj, f, *args, **kwargs)
        Path(f).write_bytes(b"PK\x03\x04 half a checkpoint")
        if fault == "torch":  # what torch.save raises on ENOSPC
            raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter "
                               "failed writing file data/3: file write failed (unexpected pos "
                               "512 vs 448)")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt.torch, "save", full_disk)
    with pytest.raises(CheckpointError) as info:
        Trainer(_cfg(tmp_path), log=_quiet, show_progress=False).fit()
    run = tmp_path / "run"
    msg = str(info.value)
    assert f"cannot write checkpoint {run / 'last.pt'}" in msg and "intact" in msg
    assert "\n" not in msg and "unexpected pos" not in msg
    assert ckpt.load(run / "last.pt")["step"] == 1  # the previous checkpoint is whole
    assert not [n for n in _temps(run) if n.startswith(".last.pt")]


# ----------------------------------------------------------------------------- run folder lock

_HOLD_LOCK = textwrap.dedent("""
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, f"{os.getpid()}\\n".encode())
    print("locked", flush=True)
    time.sleep(120)
""")


def _lock_holder(lock: Path) -> subprocess.Popen[str]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(lock)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_run_folder_in_use_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("fcntl")
    run = tmp_path / "run"
    holder = _lock_holder(run / ".lock")
    try:
        with pytest.raises(CheckpointError) as info:
            Trainer(_cfg(tmp_path), log=_quiet, show_progress=False).fit()
        msg = str(info.value)
        assert f"run folder {run} is in use by process {holder.pid}" in msg and "\n" not in msg
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the killed holder's lock file (its PID still inside) does not block the next run
    assert (run / ".lock").read_text().strip() == str(holder.pid)
    Trainer(_cfg(tmp_path, steps=1), log=_quiet, show_progress=False).fit()
    assert ckpt.load(run / "last.pt")["step"] == 1
    assert (run / ".lock").read_text().strip() == str(os.getpid())


def test_a_stale_lock_file_of_a_dead_process_does_not_block(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text("999999999\n")
    Trainer(_cfg(tmp_path, steps=1), log=_quiet, show_progress=False).fit()
    assert ckpt.load(run / "last.pt")["step"] == 1


def test_the_lock_is_released_when_the_run_fails(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("fcntl")
    from srgan_cli.training import stages

    monkeypatch.setattr(stages, "pixel_loss",
                        lambda kind, sr, hr: (sr - hr).abs().mean() * float("nan"))
    with pytest.raises(TrainingError):
        Trainer(_cfg(tmp_path), log=_quiet, show_progress=False).fit()
    holder = _lock_holder(tmp_path / "run" / ".lock")  # would block if the lock were still held
    holder.send_signal(signal.SIGKILL)
    holder.wait()


def test_a_folder_of_the_users_own_files_is_refused(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    files = {"config.toml": "# my settings, with comments\nlr = 2e-4\n",
             "metrics.jsonl": '{"step": 1, "mine": true}\n', ".lock": "held by my editor\n"}
    for name, text in files.items():
        (mine / name).write_text(text)
    for resume in (None, "auto"):
        with pytest.raises(OutputError) as info:
            Trainer(_cfg(tmp_path, run_dir=str(mine)), resume=resume, log=_quiet)
        assert str(info.value) == (
            f"run folder {mine} holds files that no training run wrote (.lock, config.toml, "
            "metrics.jsonl); a run writes config.toml and metrics.jsonl there: choose a new or "
            "empty folder with run_dir")
    assert {p.name: p.read_text() for p in mine.iterdir()} == files  # nothing touched


def test_a_run_folder_is_marked_by_its_lock_and_takes_its_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    Trainer(_cfg(tmp_path, steps=1), log=_quiet, show_progress=False).fit()
    assert runlock.is_run_folder(run)
    assert (run / "config.toml").read_text().startswith(
        "# The resolved config of this run, written by srgan train")
    (run / "notes.txt").write_text("a note beside a run does not make the folder foreign")
    with pytest.raises(CheckpointError, match="resume auto"):  # a new run: as before
        Trainer(_cfg(tmp_path, steps=2), log=_quiet)
    Trainer(_cfg(tmp_path, steps=2), resume="auto", log=_quiet, show_progress=False).fit()
    assert ckpt.load(run / "last.pt")["step"] == 2
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [
        1, 2]


def test_the_lock_file_is_written_where_there_is_no_flock(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runlock, "fcntl", None)  # Windows: the mark without the lock
    run = tmp_path / "run"
    with runlock.run_folder_lock(run):
        assert (run / ".lock").read_text() == f"{os.getpid()}\n"
    assert runlock.is_run_folder(run)


# ----------------------------------------------------------------------------- killed writers


def test_the_trainer_reports_the_stale_temps_it_removes(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    def fake_clean(folder: Path) -> list[Path]:
        seen.append(folder)
        return [folder / ".last.pt.123.abcd.part"]

    monkeypatch.setattr(fileio, "clean_stale_temps", fake_clean, raising=False)
    (tmp_path / "run").mkdir()
    logs: list[str] = []
    Trainer(_cfg(tmp_path, steps=1), log=logs.append, show_progress=False).fit()
    assert seen == [tmp_path / "run"]
    assert any("removed 1 temp file" in line and ".last.pt.123.abcd.part" in line
               for line in logs)


_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from srgan_cli.fileio import atomic_write
    with atomic_write(Path(sys.argv[1])) as tmp:
        tmp.write_bytes(b"half a checkpoint")
        os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_later_run_removes_the_temp_file_of_a_killed_save(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    res = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(run / "last.pt")], env=env)
    assert res.returncode == -signal.SIGKILL
    left = [n for n in _temps(run) if n.startswith(".last.pt")]
    assert left  # the killed writer left its temp file
    logs: list[str] = []
    Trainer(_cfg(tmp_path, steps=1), log=logs.append, show_progress=False).fit()
    assert not [n for n in _temps(run) if n.startswith(".last.pt")]
    assert any("removed" in line and left[0] in line for line in logs)


# ----------------------------------------------------------------------------- terminal lines


def _val_cfg(tmp_path: Path, **kw: Any) -> TrainConfig:
    val = tmp_path / "Val"
    noise_pngs(val / "HR", n=4, size=(24, 28))
    return _cfg(tmp_path, steps=4, log_every=2, val_every=2, val_data=str(val), save_every=100,
                **kw)


def test_record_line_names_stage_losses_speed_and_scores() -> None:
    line = format_record({"step": 4, "lr": 1e-4, "loss": 0.0123, "samples_per_sec": 12.5,
                          "val_psnr": 25.25, "val_ssim": 0.75, "best_psnr": 25.5}, 10, "psnr")
    assert line == ("step 4/10  stage psnr  lr 0.0001  loss 0.0123  samples_per_sec 12.5  "
                    "val_psnr 25.25  val_ssim 0.75  best_psnr 25.5")


def test_terminal_prints_lines_above_the_bar_and_saves_strips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from srgan_cli.cli import console
    out = io.StringIO()
    monkeypatch.setattr(console, "stderr_console",
                        lambda: Console(file=out, force_terminal=True, width=160))
    logs: list[str] = []
    Trainer(_val_cfg(tmp_path), log=logs.append, show_progress=True,
            progress=console.progress).fit()
    text = out.getvalue()
    for step in (2, 4):
        line = next(x for x in text.splitlines() if f"step {step}/4  stage psnr" in x)
        for word in ("lr ", "loss ", "samples_per_sec ", "val_psnr ", "val_ssim ", "best_psnr "):
            assert word in line
    assert "psnr stage" in text  # the bar's label
    assert not [x for x in logs if x.startswith("step ")]  # record lines went above the bar
    strips = sorted((tmp_path / "run" / "val").iterdir())
    assert [p.name for p in strips] == ["step_000002.png", "step_000004.png"]
    with Image.open(strips[0]) as im:
        # three rows (of the four images) of bicubic | SR | HR crops of 24x24 px, 2 px apart
        assert im.size == (3 * 24 + 2 * 2, 3 * 24 + 2 * 2) and im.mode == "RGB"


def test_piped_training_prints_plain_lines(tmp_path: Path) -> None:
    logs: list[str] = []
    Trainer(_val_cfg(tmp_path), log=logs.append, show_progress=False).fit()
    lines = [x for x in logs if x.startswith("step ")]
    assert [x.split()[1] for x in lines] == ["2/4", "4/4"]
    assert all("stage psnr" in x and "val_psnr" in x for x in lines)
    assert not any("\x1b" in x for x in logs)
