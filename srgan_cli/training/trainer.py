"""The two-stage SRGAN trainer: `psnr` (SRResNet, pixel loss) and `gan` (perceptual + adversarial).

One process or many (torchrun / DDP). The data stream is a pure function of the step, and every
piece of state (models, optimisers, schedulers, EMA, grad scaler, RNG, step) is in the checkpoint,
so a resumed run continues exactly where the interrupted one stopped."""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from srgan_cli.devices import resolve_device
from srgan_cli.discovery import gather_sources
from srgan_cli.errors import CheckpointError, DeviceError, OutputError, TrainingError
from srgan_cli.fileio import atomic_write
from srgan_cli.models.discriminator import Discriminator
from srgan_cli.models.srresnet import SRResNet
from srgan_cli.models.vgg import VGGFeatures, load_vgg_features
from srgan_cli.training import checkpoint as ckpt
from srgan_cli.training import distributed as dist_utils
from srgan_cli.training.config import TrainConfig, as_dict, from_mapping, to_toml
from srgan_cli.training.data import (
    PatchDataset,
    StepBatchSampler,
    build_cache,
    default_cache_dir,
    worker_init,
)
from srgan_cli.training.losses import ContentLoss, adversarial_loss, pixel_loss
from srgan_cli.training.schedule import lr_factor

# Fields that may differ between a checkpoint and the run resuming it.
RESUMABLE_CHANGES = {
    "steps", "save_every", "val_every", "val_data", "log_every", "workers", "device",
    "cache_dir", "run_dir", "data_root", "skip_bad",
}


@dataclass
class StepResult:
    step: int
    losses: dict[str, float]
    lr: float


def resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: auto = bf16 (or fp16) on CUDA, off elsewhere; fp16 only on CUDA."""
    if mode == "off":
        return None
    if mode == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if mode == "fp16":
        if device.type != "cuda":
            raise DeviceError("--amp fp16 needs a CUDA device (use bf16 on CPU)")
        return torch.float16
    return torch.bfloat16


class EMA:
    """Exponential moving average of a module's weights and BatchNorm statistics.

    The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so the average does not
    carry the random initial weights for thousands of steps; float buffers (BN running mean and
    variance) are averaged like the weights they belong to, integer ones copied."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def decay_at(self, updates: int) -> float:
        """The decay used for update number `updates` (0-based)."""
        return min(self.decay, (1 + updates) / (10 + updates))

    @torch.no_grad()
    def update(self, module: nn.Module, updates: int) -> None:
        w = 1 - self.decay_at(updates)
        for e, p in zip(self.module.parameters(), module.parameters(), strict=True):
            e.lerp_(p.detach(), w)
        for e, b in zip(self.module.buffers(), module.buffers(), strict=True):
            if e.is_floating_point():
                e.lerp_(b, w)
            else:
                e.copy_(b)


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, DDP) else m


def _state_on_cpu(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


class Trainer:
    """Builds everything from a TrainConfig and runs the stage to `cfg.steps`."""

    def __init__(
        self,
        cfg: TrainConfig,
        *,
        resume: str | None = None,
        vgg: VGGFeatures | None = None,
        log: Callable[[str], None] | None = None,
        show_progress: bool | None = None,
    ) -> None:
        self.cfg = cfg
        self.dist = dist_utils.from_env()
        self.device = resolve_device(cfg.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        dist_utils.init(self.dist, self.device)
        self.amp_dtype = resolve_amp(cfg.amp, self.device)
        self.run_dir = Path(cfg.run_dir)
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.show_progress = sys.stderr.isatty() if show_progress is None else show_progress
        self._stop_requested = False
        self._dirty = False  # True while an optimiser update of the current step is under way
        self._val_set: Any = None
        if cfg.deterministic:
            # CPU: every kernel used here is deterministic (bit-exact resume). CUDA: cuBLAS needs
            # a fixed workspace, and the discriminator's adaptive-pool backward has no
            # deterministic kernel, so there such ops warn instead of stopping the run.
            if self.device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=self.device.type != "cpu")
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

        resume_state = self._find_resume(resume)
        if resume_state is not None:
            self._check_compatible(resume_state)
        torch.manual_seed(cfg.seed)
        self.generator = SRResNet(cfg.scale, cfg.num_blocks, cfg.channels)
        if cfg.stage == "gan" and resume_state is None:
            self._load_init()
        self.discriminator = Discriminator() if cfg.stage == "gan" else None
        mem = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.generator.to(self.device, memory_format=mem)
        if self.discriminator is not None:
            self.discriminator.to(self.device, memory_format=mem)
        self.ema = EMA(self.generator, cfg.ema) if cfg.ema > 0 else None

        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(
            self.generator.parameters(), lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay
        )
        self.opt_d = (
            torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr, betas=betas)
            if self.discriminator is not None
            else None
        )

        def factor(step: int) -> float:
            return lr_factor(
                step, cfg.steps, effective_schedule(cfg), warmup=cfg.warmup_steps,
                milestones=cfg.milestones, gamma=cfg.gamma, min_ratio=cfg.min_lr / cfg.lr,
            )

        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, factor)
        self.sched_d = (
            torch.optim.lr_scheduler.LambdaLR(self.opt_d, factor) if self.opt_d else None
        )
        use_scaler = self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=use_scaler)

        self.content: ContentLoss | None = None
        if cfg.stage == "gan":
            if cfg.content_loss.startswith("vgg"):
                vgg = vgg if vgg is not None else load_vgg_features(
                    cfg.content_loss, cfg.vgg_weights or None
                )
            self.content = ContentLoss(cfg.content_loss, vgg).to(self.device)

        self.step = 0
        self.best_psnr = -math.inf
        if resume_state is not None:
            self._restore(resume_state)
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train: nn.Module = DDP(self.generator, device_ids=ids)
            self.d_train = (
                DDP(self.discriminator, device_ids=ids) if self.discriminator is not None else None
            )
        else:
            self.g_train = self.generator
            self.d_train = self.discriminator

    # ----- set-up helpers -------------------------------------------------------------------
    def _find_resume(self, resume: str | None) -> dict[str, Any] | None:
        if not resume:
            existing = ckpt.find_resume(self.run_dir)
            if existing is not None:  # never overwrite a run's checkpoint by starting afresh
                raise CheckpointError(
                    f"{self.run_dir} already holds a training checkpoint ({existing.name}): "
                    "continue it with --resume auto, or choose another --run-dir"
                )
            return None
        if resume == "auto":
            path = ckpt.find_resume(self.run_dir)
            if path is None:
                self._log(f"no checkpoint in {self.run_dir}; starting a new run")
                return None
        else:
            path = Path(resume)
        state = ckpt.load(path)
        self._log(f"resuming from {path} at step {state['step']}")
        return state

    def _check_compatible(self, state: dict[str, Any]) -> None:
        old = state.get("config", {})
        for key, value in as_dict(self.cfg).items():
            if key in RESUMABLE_CHANGES or key not in old:
                continue
            if old[key] != value:
                raise CheckpointError(
                    f"cannot resume: the checkpoint was trained with {key} = {old[key]!r}, "
                    f"this run asks for {value!r}"
                )

    def _load_init(self) -> None:
        if not self.cfg.init:
            raise TrainingError(
                "stage gan starts from a trained generator: set init (a psnr run folder, "
                "checkpoint or .safetensors)"
            )
        from srgan_cli.models.zoo import load_model

        spec = self.cfg.init
        p = Path(spec)
        if p.is_dir():
            best, last = p / ckpt.BEST, p / ckpt.LAST
            spec = str(best if best.is_file() else last)
        loaded = load_model(spec, scale=self.cfg.scale)
        src = loaded.module
        if src is None or (src.num_blocks, src.channels) != (
            self.cfg.num_blocks, self.cfg.channels
        ):
            raise TrainingError(
                f"init {self.cfg.init}: generator has a different shape than "
                f"num_blocks={self.cfg.num_blocks}, channels={self.cfg.channels}"
            )
        self.generator.load_state_dict(src.state_dict())

    def _restore(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        if self.discriminator is not None:
            if state.get("discriminator") is None:
                raise CheckpointError("checkpoint has no discriminator but the stage is gan")
            self.discriminator.load_state_dict(state["discriminator"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.sched_d.load_state_dict(state["sched_d"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.sched_g.load_state_dict(state["sched_g"])
        if self.ema is not None:
            if ckpt.ema_weights(state) is None:
                raise CheckpointError("checkpoint has no EMA weights but ema > 0")
            self.ema.module.load_state_dict(ckpt.ema_weights(state))
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.best_psnr = float(state.get("best_psnr", -math.inf))
        ckpt.set_rng_state(state["rng"])

    # ----- state --------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "stage": self.cfg.stage,
            "config": as_dict(self.cfg),
            "generator": _state_on_cpu(self.generator),
            ckpt.EMA_KEY: _state_on_cpu(self.ema.module) if self.ema else None,
            "discriminator": _state_on_cpu(self.discriminator) if self.discriminator else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict() if self.opt_d else None,
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict() if self.sched_d else None,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "best_psnr": self.best_psnr,
            "rng": ckpt.rng_state(),
        }

    def _sync_buffers(self) -> None:
        """DDP: make BatchNorm statistics equal on every rank (collective) before a save."""
        for m in (self.generator, self.discriminator, self.ema.module if self.ema else None):
            dist_utils.average_buffers(m, self.dist)

    def save_checkpoint(self) -> Path | None:
        if not self.dist.is_main:
            return None
        path = self.run_dir / ckpt.LAST
        try:
            ckpt.save(self.state(), path)
        except OSError as e:
            raise CheckpointError(
                f"cannot write checkpoint {path} ({e.strerror or e}); the previous one is intact"
            ) from e
        return path

    @property
    def eval_generator(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.generator

    # ----- data ---------------------------------------------------------------------------------
    def make_loader(self) -> DataLoader:
        cfg = self.cfg
        sources = gather_sources(cfg.data, cfg.lr_data, cfg.scale, cfg.data_root)
        cache = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
        if self.dist.is_main:
            t0 = time.perf_counter()
            entries = build_cache(
                sources, cfg.scale, cfg.patch_size, cache, skip_bad=cfg.skip_bad, warn=self._log
            )
            self._log(
                f"{len(entries)} training images decoded into {cache} "
                f"({time.perf_counter() - t0:.1f} s)"
            )
        dist_utils.barrier(self.dist)
        if not self.dist.is_main:
            entries = build_cache(sources, cfg.scale, cfg.patch_size, cache,
                                  skip_bad=cfg.skip_bad, warn=lambda m: None)
        dataset = PatchDataset(entries, cfg.scale, cfg.patch_size, cfg.seed)
        sampler = StepBatchSampler(
            self.step, cfg.steps, cfg.batch_size, self.dist.rank, self.dist.world_size
        )
        workers = cfg.workers
        if workers < 0:
            workers = 0 if self.device.type != "cuda" else min(8, os.cpu_count() or 1)
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            worker_init_fn=worker_init if workers > 0 else None,
        )

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        x = t.to(self.device, non_blocking=True).float().div_(255)
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    # ----- one step -----------------------------------------------------------------------------
    def _autocast(self):
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32,
            enabled=self.amp_dtype is not None,
        )

    def _backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer,
                       params: Any) -> None:
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        self._dirty = True  # from here until `step` is counted, the state is mid-update
        self.scaler.step(opt)

    def train_step(self, hr: torch.Tensor, lr_img: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimisation step on a batch (float NCHW on the device); returns detached losses."""
        cfg = self.cfg
        self.g_train.train()
        if cfg.stage == "psnr":
            self.opt_g.zero_grad(set_to_none=True)
            with self._autocast():
                sr = self.g_train(lr_img)
            loss = pixel_loss(cfg.pixel_loss, sr.float(), hr)
            self._backward_step(loss, self.opt_g, self.generator.parameters())
            self.scaler.update()
            losses = {"loss": loss.detach()}
        else:
            assert self.d_train is not None and self.opt_d is not None and self.content is not None
            self.d_train.train()
            # generator: content + adv_weight * adversarial, discriminator frozen
            for p in self.discriminator.parameters():
                p.requires_grad_(False)
            self.opt_g.zero_grad(set_to_none=True)
            with self._autocast():
                sr = self.g_train(lr_img)
                content = self.content(sr.float(), hr)
                adv = adversarial_loss(self.d_train(sr), real=True)
            loss_g = content + cfg.adv_weight * adv
            self._backward_step(loss_g, self.opt_g, self.generator.parameters())
            # discriminator: real -> 1, fake -> 0
            for p in self.discriminator.parameters():
                p.requires_grad_(True)
            self.opt_d.zero_grad(set_to_none=True)
            with self._autocast():
                d_real = self.d_train(hr)
                d_fake = self.d_train(sr.detach())
                loss_d = adversarial_loss(d_real, True) + adversarial_loss(d_fake, False)
            self._backward_step(loss_d, self.opt_d, self.discriminator.parameters())
            self.scaler.update()
            losses = {
                "loss": loss_g.detach(), "content": content.detach(), "adv": adv.detach(),
                "d_loss": loss_d.detach(),
                "d_real": torch.sigmoid(d_real.detach().float()).mean(),
                "d_fake": torch.sigmoid(d_fake.detach().float()).mean(),
            }
        self.sched_g.step()
        if self.sched_d is not None:
            self.sched_d.step()
        if self.ema is not None:
            self.ema.update(self.generator, self.step)
        return losses

    # ----- validation ---------------------------------------------------------------------------
    def validate(self) -> dict[str, float] | None:
        """Score the (EMA) generator on `val_data` with the evaluator; keep the best weights."""
        if not self.cfg.val_data or not self.dist.is_main:
            return None
        from srgan_cli.evaluate import evaluate
        from srgan_cli.models.zoo import LoadedModel
        from srgan_cli.upscale import Upscaler

        model = self.eval_generator
        # exactly what `srgan eval` runs on an exported model (an eval-mode copy, fp32)
        up = Upscaler(LoadedModel("train", "srresnet", self.cfg.scale, model),
                      device=str(self.device), precision="fp32")
        result = evaluate(
            up.upscale_array, self._val_dataset(),
            scale=self.cfg.scale, model_name="train", dataset_name=str(self.cfg.val_data),
        )
        for bad in result.failed:
            self._log(f"warning: validation image {bad.name} failed: {bad.error}")
        scores = {"val_psnr": float(result.mean_psnr), "val_ssim": float(result.mean_ssim)}
        if scores["val_psnr"] > self.best_psnr:
            self.best_psnr = scores["val_psnr"]
            ckpt.save(
                {"step": self.step, "stage": self.cfg.stage, "config": as_dict(self.cfg),
                 "generator": _state_on_cpu(model), ckpt.EMA_KEY: None, "best_psnr": self.best_psnr,
                 "val_ssim": scores["val_ssim"]},
                self.run_dir / ckpt.BEST,
            )
        scores["best_psnr"] = self.best_psnr
        return scores

    def _val_dataset(self) -> Any:
        """The validation set, opened once; names are looked up under data_root like DIV2K."""
        if self._val_set is None:
            from srgan_cli.datasets import open_dataset

            self._val_set = open_dataset(
                self.cfg.val_data, self.cfg.scale, data_root=self.cfg.data_root or None
            )
        return self._val_set

    # ----- the loop -----------------------------------------------------------------------------
    def _install_signal_handlers(self) -> dict[int, Any]:
        def handler(signum: int, frame: Any) -> None:
            if self._stop_requested:  # second Ctrl-C: stop now
                raise KeyboardInterrupt
            self._stop_requested = True
            self._log("stop requested: finishing this step and saving a checkpoint")

        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread
                pass
        return old

    def _write_metrics(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        with (self.run_dir / "metrics.jsonl").open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(k, v, record["step"])

    def _prepare_run_dir(self) -> None:
        if not self.dist.is_main:
            return
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            _write_atomic(self.run_dir / "config.toml", to_toml(self.cfg))
            metrics = self.run_dir / "metrics.jsonl"
            if metrics.is_file():  # drop records past the resumed step (they will be redone)
                keep = [
                    line for line in metrics.read_text().splitlines()
                    if _record_step(line) <= self.step
                ]
                _write_atomic(metrics, "".join(line + "\n" for line in keep))
        except OSError as e:
            raise OutputError(
                f"run folder {self.run_dir}: cannot write ({e.strerror or e})"
            ) from e
        self._tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tb"))
        except Exception:  # tensorboard not installed: jsonl only
            self._tb = None

    def fit(self) -> dict[str, Any]:
        """Train to `cfg.steps`; save checkpoints; return the last log record."""
        cfg = self.cfg
        self._tb = None
        self._prepare_run_dir()
        loader = self.make_loader()
        if cfg.val_every and cfg.val_data and self.dist.is_main:
            self._val_dataset()  # a missing validation set fails now, not after val_every steps
        old_handlers = self._install_signal_handlers()
        last: dict[str, Any] = {"step": self.step}
        window_t = time.perf_counter()
        window_steps = 0
        sums: dict[str, float] = {}
        self._dirty = False
        saved_step = -1
        from srgan_cli.console import progress

        try:
            with progress(self.show_progress and self.dist.is_main) as bar:
                task = bar.add_task(f"{cfg.stage} training", total=cfg.steps, completed=self.step)
                for hr_u8, lr_u8 in loader:
                    hr, lr_img = self._to_device(hr_u8), self._to_device(lr_u8)
                    losses = self.train_step(hr, lr_img)
                    stacked = dist_utils.mean_across(
                        torch.stack([v.float() for v in losses.values()]), self.dist
                    )
                    values = dict(zip(losses.keys(), stacked.tolist(), strict=True))
                    if not all(math.isfinite(v) for v in values.values()):
                        raise TrainingError(
                            f"loss became {values['loss']} at step {self.step + 1}; stopped. The "
                            f"last good checkpoint is {self.run_dir / ckpt.LAST} (lower lr, set "
                            f"grad_clip, or amp = off)"
                        )
                    self.step += 1
                    self._dirty = False
                    window_steps += 1
                    for k, v in values.items():
                        sums[k] = sums.get(k, 0.0) + v
                    bar.update(task, completed=self.step,
                               description=f"{cfg.stage} loss {values['loss']:.4g}")
                    record = None
                    if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                        dt = time.perf_counter() - window_t
                        record = {"step": self.step, "lr": self.opt_g.param_groups[0]["lr"]}
                        record.update({k: v / window_steps for k, v in sums.items()})
                        record["sec_per_step"] = dt / window_steps
                        record["samples_per_sec"] = (
                            window_steps * cfg.batch_size * self.dist.world_size / dt
                        )
                        window_t, window_steps, sums = time.perf_counter(), 0, {}
                    if cfg.val_every and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                        scores = self.validate()
                        if scores:
                            record = record or {"step": self.step}
                            record.update(scores)
                    if record is not None:
                        self._write_metrics(record)
                        last = record
                        if not self.show_progress and self.dist.is_main:
                            self._log(_format_record(record, cfg.steps))
                    stop = dist_utils.any_across(self._stop_requested, self.dist, self.device)
                    if self.step % cfg.save_every == 0 or self.step == cfg.steps or stop:
                        self._sync_buffers()
                        self.save_checkpoint()
                        saved_step = self.step
                    if stop:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            if self.dist.is_main:
                last_path = self.run_dir / ckpt.LAST
                if self._dirty:  # a second Ctrl-C inside an update: the state is half-changed
                    self._log(
                        f"interrupted inside step {self.step + 1}; kept the last checkpoint "
                        f"{last_path} (continue with --resume auto)"
                    )
                else:
                    if saved_step != self.step:
                        self.save_checkpoint()
                    self._log(
                        f"interrupted at step {self.step}; checkpoint saved to {last_path} "
                        f"(continue with --resume auto)"
                    )
            raise
        finally:
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            if self._tb is not None:
                self._tb.close()
        return last


def effective_schedule(cfg: TrainConfig) -> str:
    """schedule 'auto': constant for stage psnr, SRGAN's 1e-4 then 1e-5 ('halve') for gan."""
    if cfg.schedule != "auto":
        return cfg.schedule
    return "halve" if cfg.stage == "gan" else "constant"


def _write_atomic(path: Path, text: str) -> None:
    """Replace a small text file through a temp file, so a kill never leaves it torn."""
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def _record_step(line: str) -> float:
    """The step of a metrics.jsonl line; inf for a blank or torn one (a killed writer)."""
    try:
        return float(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return math.inf


def _format_record(record: dict[str, Any], total: int) -> str:
    parts = [f"step {record['step']}/{total}"]
    for k, v in record.items():
        if k == "step":
            continue
        parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    return "  ".join(parts)


def config_from_checkpoint(state: dict[str, Any]) -> TrainConfig:
    """The TrainConfig stored in a checkpoint."""
    return from_mapping(state.get("config", {}))
