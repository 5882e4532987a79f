"""The two training stages, each read top to bottom in its `step`:

- `PsnrStage`: SRResNet on a pixel loss (MSE or L1);
- `GanStage`: SRGAN, from a trained generator; the generator learns content + adv_weight x
  adversarial loss against a frozen discriminator, then the discriminator learns real -> 1,
  fake -> 0.

A stage owns its networks, optimisers, lr schedules, losses, EMA and grad scaler; it takes one
step on a batch and puts all of that into (and takes it from) a checkpoint."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from srgan_cli import distributed as dist_utils
from srgan_cli.devices import DTYPES, choose_precision
from srgan_cli.errors import CheckpointError, TrainingError
from srgan_cli.models.discriminator import Discriminator
from srgan_cli.models.srresnet import SRResNet
from srgan_cli.models.vgg import VGGFeatures, load_vgg_features
from srgan_cli.training import checkpoint as ckpt
from srgan_cli.training.config import TrainConfig
from srgan_cli.training.ema import EMA
from srgan_cli.training.losses import ContentLoss, adversarial_loss, pixel_loss
from srgan_cli.training.schedule import lr_lambda

Losses = dict[str, torch.Tensor]


def resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of `mode` (config `amp`): None for off, else what the one precision
    policy (`devices.choose_precision`) gives for training; its fp32 means off."""
    if mode == "off":
        return None
    name = choose_precision(mode, device, training=True)
    return None if name == "fp32" else DTYPES[name]


def _adam(params: Any, cfg: TrainConfig, weight_decay: float = 0.0) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                            weight_decay=weight_decay)


def _to_device(net: nn.Module, cfg: TrainConfig, device: torch.device) -> None:
    net.to(device)
    net.to(memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format)


class Stage:
    """What both stages share: the generator, its optimiser, lr schedule, EMA and grad scaler.

    `updating` is True from the first optimiser update of a step until the loop counts the step:
    an interrupt in between finds a half-changed state that must not be saved."""

    name = ""

    def __init__(self, cfg: TrainConfig, device: torch.device, amp_dtype: torch.dtype | None,
                 *, fresh: bool) -> None:
        self.cfg, self.device, self.amp_dtype = cfg, device, amp_dtype
        self.updating = False
        torch.manual_seed(cfg.seed)
        self.generator = SRResNet(cfg.scale, cfg.num_blocks, cfg.channels)
        if fresh:
            self.init_generator()
        _to_device(self.generator, cfg, device)
        self.g_train: nn.Module = self.generator  # the DDP wrapper under torchrun
        self.ema = EMA(self.generator, cfg.ema) if cfg.ema > 0 else None
        self.opt_g = _adam(self.generator.parameters(), cfg, cfg.weight_decay)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, lr_lambda(cfg))
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    def init_generator(self) -> None:
        """Initial weights of a new run (stage psnr: the random ones)."""

    @property
    def eval_generator(self) -> nn.Module:
        """The weights validated and exported: the EMA when there is one."""
        return self.ema.module if self.ema is not None else self.generator

    @property
    def lr(self) -> float:
        return float(self.opt_g.param_groups[0]["lr"])

    def step(self, hr: torch.Tensor, lr_img: torch.Tensor, updates: int) -> Losses:
        """One optimisation step on a batch (float NCHW on the device); detached losses."""
        raise NotImplementedError

    # ----- helpers of a step
    def _autocast(self) -> AbstractContextManager[Any]:
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def _backward(self, loss: torch.Tensor, opt: torch.optim.Optimizer, params: Any) -> None:
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        self.updating = True
        self.scaler.step(opt)

    def _end_step(self, updates: int) -> None:
        self.scaler.update()
        self.sched_g.step()
        if self.ema is not None:
            self.ema.update(self.generator, updates)

    # ----- distribution and checkpoints
    def networks(self) -> list[nn.Module]:
        return [self.generator]

    def distribute(self, dist: dist_utils.DistInfo) -> None:
        """Wrap the trained networks in DDP (after any restore: DDP broadcasts rank 0's)."""
        if dist.enabled:
            self.g_train = DDP(self.generator, device_ids=self._device_ids())

    def _device_ids(self) -> list[int] | None:
        return [self.device.index] if self.device.type == "cuda" else None

    def sync_buffers(self, dist: dist_utils.DistInfo) -> None:
        """DDP: make BatchNorm statistics equal on every rank (collective) before a save."""
        for m in [*self.networks(), self.ema.module if self.ema else None]:
            dist_utils.average_buffers(m, dist)

    def state(self) -> dict[str, Any]:
        return {
            "generator": ckpt.cpu_state(self.generator),
            ckpt.EMA_KEY: ckpt.cpu_state(self.ema.module) if self.ema else None,
            "discriminator": None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": None,
            "sched_g": self.sched_g.state_dict(),
            "sched_d": None,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.sched_g.load_state_dict(state["sched_g"])
        if self.ema is not None:
            weights = ckpt.ema_weights(state)
            if weights is None:
                raise CheckpointError("checkpoint has no EMA weights but ema > 0")
            self.ema.module.load_state_dict(weights)
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


class PsnrStage(Stage):
    """SRResNet: the generator alone, on the pixel loss."""

    name = "psnr"

    def step(self, hr: torch.Tensor, lr_img: torch.Tensor, updates: int) -> Losses:
        self.g_train.train()
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            sr = self.g_train(lr_img)
        loss = pixel_loss(self.cfg.pixel_loss, sr.float(), hr)
        self._backward(loss, self.opt_g, self.generator.parameters())
        self._end_step(updates)
        return {"loss": loss.detach()}


class GanStage(Stage):
    """SRGAN: generator and discriminator in turn, from a trained generator (`init`)."""

    name = "gan"

    def __init__(self, cfg: TrainConfig, device: torch.device, amp_dtype: torch.dtype | None,
                 *, fresh: bool, vgg: VGGFeatures | None = None) -> None:
        super().__init__(cfg, device, amp_dtype, fresh=fresh)
        self.discriminator = Discriminator()
        _to_device(self.discriminator, cfg, device)
        self.d_train: nn.Module = self.discriminator
        self.opt_d = _adam(self.discriminator.parameters(), cfg)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, lr_lambda(cfg))
        if cfg.content_loss.startswith("vgg") and vgg is None:
            vgg = load_vgg_features(cfg.content_loss, cfg.vgg_weights or None,
                                    offline=cfg.offline)
        self.content = ContentLoss(cfg.content_loss, vgg).to(device)

    def init_generator(self) -> None:
        """The generator of `init`: a psnr run folder (best.pt, else last.pt), a checkpoint or a
        model file of the same shape."""
        from srgan_cli.models.loading import load_srresnet

        cfg = self.cfg
        if not cfg.init:
            raise TrainingError(
                "stage gan starts from a trained generator: set init (a psnr run folder, "
                "checkpoint or .safetensors)"
            )
        spec = cfg.init
        p = Path(spec)
        if p.is_dir():
            best, last = p / ckpt.BEST, p / ckpt.LAST
            spec = str(best if best.is_file() else last)
        src = load_srresnet(spec, scale=cfg.scale)
        if (src.num_blocks, src.channels) != (cfg.num_blocks, cfg.channels):
            raise TrainingError(
                f"init {cfg.init}: generator has a different shape than "
                f"num_blocks={cfg.num_blocks}, channels={cfg.channels}"
            )
        self.generator.load_state_dict(src.state_dict())

    def step(self, hr: torch.Tensor, lr_img: torch.Tensor, updates: int) -> Losses:
        self.g_train.train()
        self.d_train.train()
        # generator: content + adv_weight * adversarial, the discriminator frozen
        self.discriminator.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            sr = self.g_train(lr_img)
            content = self.content(sr.float(), hr)
            adv = adversarial_loss(self.d_train(sr), real=True)
        loss_g = content + self.cfg.adv_weight * adv
        self._backward(loss_g, self.opt_g, self.generator.parameters())
        # discriminator: real -> 1, fake -> 0
        self.discriminator.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        with self._autocast():
            d_real = self.d_train(hr)
            d_fake = self.d_train(sr.detach())
            loss_d = adversarial_loss(d_real, True) + adversarial_loss(d_fake, False)
        self._backward(loss_d, self.opt_d, self.discriminator.parameters())
        self.sched_d.step()
        self._end_step(updates)
        return {
            "loss": loss_g.detach(), "content": content.detach(), "adv": adv.detach(),
            "d_loss": loss_d.detach(),
            "d_real": torch.sigmoid(d_real.detach().float()).mean(),
            "d_fake": torch.sigmoid(d_fake.detach().float()).mean(),
        }

    def networks(self) -> list[nn.Module]:
        return [self.generator, self.discriminator]

    def distribute(self, dist: dist_utils.DistInfo) -> None:
        super().distribute(dist)
        if dist.enabled:
            self.d_train = DDP(self.discriminator, device_ids=self._device_ids())

    def state(self) -> dict[str, Any]:
        return {
            **super().state(),
            "discriminator": ckpt.cpu_state(self.discriminator),
            "opt_d": self.opt_d.state_dict(),
            "sched_d": self.sched_d.state_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        if state.get("discriminator") is None:
            raise CheckpointError("checkpoint has no discriminator but the stage is gan")
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sched_d.load_state_dict(state["sched_d"])


def make_stage(cfg: TrainConfig, device: torch.device, amp_dtype: torch.dtype | None, *,
               fresh: bool, vgg: VGGFeatures | None = None) -> Stage:
    """The stage `cfg.stage` names; `fresh` (a new run) loads the gan stage's `init`."""
    if cfg.stage == "gan":
        return GanStage(cfg, device, amp_dtype, fresh=fresh, vgg=vgg)
    return PsnrStage(cfg, device, amp_dtype, fresh=fresh)
