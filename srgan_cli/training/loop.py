"""The training loop: set up, then for each step: batch -> stage.step -> log / validate / save ->
signals. One process or many (torchrun / DDP).

The data stream is a pure function of the step, and every piece of state (models, optimisers,
schedules, EMA, grad scaler, RNG, step) is in the checkpoint, so a resumed run continues exactly
where the interrupted one stopped. SIGINT, SIGTERM and SIGHUP (`srgan_cli.signals.stop_requests`)
stop the run after the step under way, with a checkpoint; a second signal stops it at once. The
DataLoader workers ignore those signals (the main process decides); a worker that dies anyway is
part of the stop when one was requested, else a TrainingError after a checkpoint. The engine
draws no progress bar itself: whoever runs it (the CLI) may pass one in."""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from srgan_cli import distributed as dist_utils
from srgan_cli.devices import resolve_device
from srgan_cli.errors import DatasetError, TrainingError
from srgan_cli.messages import option, render
from srgan_cli.models.vgg import VGGFeatures
from srgan_cli.signals import StopRequest, stop_requests
from srgan_cli.training import checkpoint as ckpt
from srgan_cli.training.config import TrainConfig, as_dict
from srgan_cli.training.footprint import check_fits
from srgan_cli.training.loader import WorkerDied, batches, build_loader, to_device
from srgan_cli.training.runlock import check_run_folder, run_folder_lock
from srgan_cli.training.runlog import RunLog
from srgan_cli.training.stages import Losses, Stage, make_stage, resolve_amp

ProgressDisplay = Callable[[bool], AbstractContextManager[Any]]
"""Opens a progress display, shown when its argument is True: what it yields has rich
Progress's `add_task` and `update`, and a `console` to print above it while it is live
(`srgan_cli.cli.console.progress` is one)."""


class Trainer:
    """Builds a stage from a TrainConfig (new, or from a checkpoint); trains it to `cfg.steps`.

    `log` takes every line the run prints (default: stderr); `progress` draws the bar, shown
    when `show_progress` (default: stderr is a terminal); without one, no bar."""

    def __init__(self, cfg: TrainConfig, *, resume: str | None = None,
                 vgg: VGGFeatures | None = None, log: Callable[[str], None] | None = None,
                 show_progress: bool | None = None,
                 progress: ProgressDisplay | None = None) -> None:
        cfg.validate()  # every key in its bounds before any work (callers of the API too)
        self.cfg = cfg
        self.dist = dist_utils.from_env()
        self.run_dir = Path(cfg.run_dir)
        if self.dist.is_main:
            check_run_folder(self.run_dir)  # never a folder of the user's own files
        self.device = _setup_device(cfg, self.dist)
        self.amp_dtype = resolve_amp(cfg.amp, self.device)
        self.log: Callable[[str], None] = log or (
            lambda msg: print(msg, file=sys.stderr, flush=True))
        self.show_progress = sys.stderr.isatty() if show_progress is None else show_progress
        self.progress = progress
        self.checkpoints = ckpt.Checkpointer(self.run_dir, is_main=self.dist.is_main, log=self.log)
        state = self.checkpoints.resume_state(resume)
        if state is not None:
            ckpt.check_compatible(as_dict(cfg), state)
        self.stage: Stage = make_stage(cfg, self.device, self.amp_dtype, fresh=state is None,
                                       vgg=vgg)
        self.step = 0
        self.best_psnr = -math.inf
        if state is not None:
            self.stage.load_state(state)
            self.step = int(state["step"])
            self.best_psnr = float(state.get("best_psnr", -math.inf))
            ckpt.set_rng_state(state["rng"])
        self.stage.distribute(self.dist)
        self._val_set: Any = None
        self.saved_step = -1

    # ----- what tests and tools look at: the stage's parts
    @property
    def generator(self) -> nn.Module:
        return self.stage.generator

    @property
    def discriminator(self) -> nn.Module | None:
        return getattr(self.stage, "discriminator", None)

    @property
    def content(self) -> nn.Module | None:
        return getattr(self.stage, "content", None)

    @property
    def ema(self) -> Any:
        return self.stage.ema

    @property
    def scaler(self) -> torch.amp.GradScaler:
        return self.stage.scaler

    @property
    def eval_generator(self) -> nn.Module:
        return self.stage.eval_generator

    # ----- the loop
    def fit(self) -> dict[str, Any]:
        """Train to `cfg.steps`; save checkpoints; return the last log record.

        The main process holds the run folder's lock throughout (a second run in the same folder
        stops with CheckpointError) and first removes temp files left by a killed run."""
        lock = run_folder_lock(self.run_dir) if self.dist.is_main else contextlib.nullcontext()
        with lock:
            self._remove_stale_temps()
            return self._fit()

    def _fit(self) -> dict[str, Any]:
        cfg = self.cfg
        runlog = RunLog(self.run_dir, is_main=self.dist.is_main, echo=self.log,
                        total_steps=cfg.steps, stage=cfg.stage,
                        samples_per_step=cfg.batch_size * self.dist.world_size)
        if cfg.val_every and cfg.val_data and self.dist.is_main:
            self._val_dataset()  # a missing or unreadable validation set fails now
        runlog.open(cfg, self.step)
        loader = self.make_loader()
        self.stage.updating = False
        try:
            with stop_requests(self._stop_requested) as stop_request:
                try:
                    with batches(loader) as stream:
                        self._loop(stream, runlog, stop_request)
                except KeyboardInterrupt:
                    self._save_on_interrupt()
                    raise
                except WorkerDied as e:
                    if stop_request.requested:  # a worker that died in the stop is part of it
                        self._save_on_interrupt()
                        raise KeyboardInterrupt(stop_request.signal) from None
                    raise self._worker_died(str(e)) from e
        finally:
            runlog.close()
        return runlog.last

    def _stop_requested(self, signal_name: str) -> None:
        self.log("stop requested: finishing this step and saving a checkpoint")

    def _remove_stale_temps(self) -> None:
        """Temp files of last.pt / best.pt whose writer was killed (fileio.clean_stale_temps)."""
        from srgan_cli.fileio import clean_stale_temps

        if not self.dist.is_main or not self.run_dir.is_dir():
            return
        removed = clean_stale_temps(self.run_dir)
        if removed:
            names = ", ".join(p.name for p in removed)
            self.log(f"removed {len(removed)} temp file(s) left in {self.run_dir} by a killed "
                     f"run: {names}")

    def _loop(self, stream: Iterable[tuple[torch.Tensor, torch.Tensor]], runlog: RunLog,
              stop_request: StopRequest) -> None:
        """for each step: batch -> stage.step -> log / validate / save -> signals."""
        cfg = self.cfg
        display: AbstractContextManager[Any] = (
            contextlib.nullcontext() if self.progress is None
            else self.progress(self.show_progress and self.dist.is_main))
        with display as bar:  # None: no display
            label = f"{cfg.stage} stage"
            task = None if bar is None else bar.add_task(label, total=cfg.steps,
                                                         completed=self.step)
            if hasattr(bar, "console"):  # a live bar: record lines are printed above it
                runlog.echo = partial(bar.console.print, markup=False, highlight=False)
            runlog.start(self.step)
            for hr_u8, lr_u8 in stream:
                values = self.train_batch(hr_u8, lr_u8)
                runlog.add(values)
                shown = f"{label}  loss {values['loss']:.4g}"
                validating = bar is not None and self._validation_due()
                if bar is not None:
                    bar.update(task, completed=self.step, description=shown)
                    if validating:  # the bar stands still meanwhile: say why
                        bar.update(task, description=f"{label}  validating on "
                                   f"{Path(self.cfg.val_data).name} (step {self.step})")
                        getattr(bar, "refresh", lambda: None)()
                record = self._record(runlog)
                if validating:
                    bar.update(task, description=shown)
                if record is not None:
                    runlog.write(record)
                stop = dist_utils.any_across(stop_request.requested, self.dist, self.device)
                if self.step % cfg.save_every == 0 or self.step == cfg.steps or stop:
                    self.stage.sync_buffers(self.dist)  # collective: every rank
                    self.save_checkpoint()
                if stop:
                    raise KeyboardInterrupt

    def train_batch(self, hr_u8: torch.Tensor, lr_u8: torch.Tensor) -> dict[str, float]:
        """One counted training step on a batch as the loader gives it (uint8 NCHW, HR and LR,
        anywhere): moved to the device as float, the stage's step, the losses averaged over
        ranks. The loop and `bench/gpu_check.py` both call this, so what the check runs is what
        training runs.

        A non-finite loss stops the run before the step is counted or saved."""
        hr = to_device(hr_u8, self.device, self.cfg.channels_last)
        lr_img = to_device(lr_u8, self.device, self.cfg.channels_last)
        losses = self.train_step(hr, lr_img)
        stacked = dist_utils.mean_across(torch.stack([v.float() for v in losses.values()]),
                                         self.dist)
        values = dict(zip(losses.keys(), stacked.tolist(), strict=True))
        if not all(math.isfinite(v) for v in values.values()):
            raise TrainingError(
                f"loss became {values['loss']} at step {self.step + 1}; stopped: "
                f"{self.checkpoints.last_good()} (lower lr, set grad_clip, or amp = off)"
            )
        self.step += 1
        self.stage.updating = False
        return values

    def train_step(self, hr: torch.Tensor, lr_img: torch.Tensor) -> Losses:
        """The stage's optimisation step on a float NCHW batch already on the device (the part
        of `train_batch` after the upload; the step is not counted)."""
        return self.stage.step(hr, lr_img, self.step)

    def _record(self, runlog: RunLog) -> dict[str, Any] | None:
        """The log record due at this step (losses every log_every, scores every val_every)."""
        cfg = self.cfg
        record = None
        if self.step % cfg.log_every == 0 or self.step == cfg.steps:
            record = runlog.summary(self.step, self.stage.lr)
        if self._validation_due():
            scores = self.validate()
            if scores:
                record = record or {"step": self.step}
                record.update(scores)
        return record

    def _validation_due(self) -> bool:
        """Whether this step validates (every val_every steps and at the last, with val_data,
        in the main process)."""
        cfg = self.cfg
        return bool(cfg.val_every and cfg.val_data and self.dist.is_main
                    and (self.step % cfg.val_every == 0 or self.step == cfg.steps))

    def _save_on_interrupt(self) -> None:
        """Ctrl-C / SIGTERM: save the state unless an update was cut in half (then keep the last
        checkpoint, which is whole)."""
        if not self.dist.is_main:
            return
        if self.stage.updating:
            self.log(render(f"interrupted inside step {self.step + 1}; kept the last checkpoint "
                            f"{self.checkpoints.last} (continue with {option('resume')} auto)"))
            return
        if self.saved_step != self.step:
            self.save_checkpoint()
        self.log(render(f"interrupted at step {self.step}; checkpoint saved to "
                        f"{self.checkpoints.last} (continue with {option('resume')} auto)"))

    def _worker_died(self, death: str) -> TrainingError:
        """A DataLoader worker died with no stop requested (killed by hand or by the OOM
        killer): save the state reached unless an update was cut in half, and say where it is."""
        if self.dist.is_main and not self.stage.updating and self.saved_step != self.step:
            self.save_checkpoint()
        hint = (f" (continue with {option('resume')} auto)" if self.checkpoints.last.is_file()
                else "")
        return TrainingError(f"{death}; training stopped at step {self.step}: "
                             f"{self.checkpoints.last_good()}{hint}")

    # ----- state, data, validation
    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs, as a checkpoint stores it."""
        return {"step": self.step, "stage": self.cfg.stage, "config": as_dict(self.cfg),
                **self.stage.state(), "best_psnr": self.best_psnr, "rng": ckpt.rng_state()}

    def save_checkpoint(self) -> Path | None:
        """last.pt of the run folder (main process; under DDP, sync the stage's buffers first).
        `saved_step` counts it once written: a save cut short is redone by a stop."""
        path = self.checkpoints.save_last(self.state()) if self.dist.is_main else None
        self.saved_step = self.step
        return path

    def make_loader(self) -> DataLoader:
        return build_loader(self.cfg, self.step, self.dist, self.device, self.log)

    def validate(self) -> dict[str, float] | None:
        """Score the (EMA) generator on `val_data` as `srgan eval` would; keep the best weights."""
        if not self.cfg.val_data or not self.dist.is_main:
            return None
        from srgan_cli.evaluation import scoring
        from srgan_cli.models.loading import srresnet_descriptor

        model = self.stage.eval_generator
        loaded = srresnet_descriptor(model, name="train", source="memory",  # type: ignore[arg-type]
                                     card={})
        result = scoring.score(loaded, self._val_dataset(), device=str(self.device))
        for bad in result.failed:
            self.log(f"warning: validation image {bad.name} failed: {bad.error}")
        scores = {"val_psnr": float(result.mean_psnr), "val_ssim": float(result.mean_ssim)}
        if scores["val_psnr"] > self.best_psnr:
            self.best_psnr = scores["val_psnr"]
            self.checkpoints.save_best({
                "step": self.step, "stage": self.cfg.stage, "config": as_dict(self.cfg),
                "generator": ckpt.cpu_state(model), ckpt.EMA_KEY: None,
                "best_psnr": self.best_psnr, "val_ssim": scores["val_ssim"]})
        scores["best_psnr"] = self.best_psnr
        self._save_strip(loaded)
        return scores

    def _save_strip(self, loaded: Any) -> None:
        """run_dir/val/step_N.png: bicubic | SR | HR crops of the first validation images."""
        from srgan_cli.training import valstrip
        from srgan_cli.upscaling.upscaler import Upscaler

        up = Upscaler(loaded, device=str(self.device), precision="fp32")
        image = valstrip.make_strip(self._val_dataset().load_all(), self.cfg.scale,
                                    up.upscale_array)
        if image is not None:
            valstrip.write_png(valstrip.strip_path(self.run_dir, self.step), image)

    def _val_dataset(self) -> Any:
        """The validation set, opened once; names are looked up under data_root like DIV2K."""
        if self._val_set is None:
            from srgan_cli.evaluation.scoring import open_datasets

            (val_set,) = open_datasets([self.cfg.val_data], self.cfg.scale,
                                       data_root=self.cfg.data_root or None)
            _check_readable(val_set)
            self._val_set = val_set
        return self._val_set


def _check_readable(dataset: Any) -> None:
    """DatasetError (exit 6) when no image of the validation set can be loaded: validating on
    it would score nothing at every val_every (loads until the first image that works)."""
    from srgan_cli.evaluation.datasets import LoadFailure

    failures = []
    for item in dataset.load_all():
        if not isinstance(item, LoadFailure):
            return
        failures.append(item)
    first = f": {failures[0].error}" if failures else ""
    raise DatasetError(f"validation set {dataset.name}: none of its {len(failures)} image(s) "
                       f"can be read{first}")


def _setup_device(cfg: TrainConfig, dist: dist_utils.DistInfo) -> torch.device:
    """The training device (this rank's GPU under torchrun), the process group, determinism."""
    device = resolve_device(dist_utils.rank_device(cfg.device, dist))
    if dist.enabled and device.type == "cuda":
        torch.cuda.set_device(device)
    check_fits(cfg, device)  # before any network is allocated or any rank waits for another
    dist_utils.init(dist, device)
    if cfg.deterministic:
        # CPU: every kernel used here is deterministic (bit-exact resume). CUDA: cuBLAS needs a
        # fixed workspace, and the discriminator's adaptive-pool backward has no deterministic
        # kernel, so there such ops warn instead of stopping the run.
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return device
