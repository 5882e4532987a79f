"""What a run's generator needs in memory, from its config alone: checked against the device's
free memory before any network is allocated, so that `channels = 200000` is a one-line config
error instead of a 1.4 TB allocation (the bounds of each key are in `config`; this is their
product)."""

from __future__ import annotations

import torch

from srgan_cli.errors import ConfigError
from srgan_cli.models.scales import upsample_factors
from srgan_cli.training.config import TrainConfig

GIB = 2**30
FLOAT_BYTES = 4  # training keeps fp32 master weights, also under amp
# fp32 copies of each generator parameter: weights, gradients, Adam's two moments
COPIES = 4


def generator_parameters(scale: int, num_blocks: int, channels: int) -> int:
    """Trainable parameters of `SRResNet(scale, num_blocks, channels)`, counted from its
    layers (convs with bias, BatchNorm weight and bias, one PReLU weight each)."""
    c = channels

    def conv(c_in: int, c_out: int, k: int) -> int:
        return c_in * c_out * k * k + c_out

    block = 2 * conv(c, c, 3) + 2 * 2 * c + 1  # conv-BN-PReLU-conv-BN
    upsampling = sum(conv(c, c * f * f, 3) + 1 for f in upsample_factors(scale))
    return (conv(3, c, 9) + 1 + num_blocks * block + conv(c, c, 3) + 2 * c + upsampling
            + conv(c, 3, 9))


def training_bytes(cfg: TrainConfig) -> int:
    """Bytes the generator's training state takes: its weights, gradients and Adam moments in
    fp32, plus the EMA copy when `ema` is on (activations and data come on top)."""
    copies = COPIES + (1 if cfg.ema > 0 else 0)
    return generator_parameters(cfg.scale, cfg.num_blocks, cfg.channels) * FLOAT_BYTES * copies


def available_bytes(device: torch.device) -> int | None:
    """Free memory of `device`: a CUDA device's free memory, the system's available memory for
    the CPU; None where it is not known (MPS, other systems)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        from srgan_cli.upscaling.planning import available_memory

        return available_memory()
    return None


def check_fits(cfg: TrainConfig, device: torch.device) -> None:
    """ConfigError (naming the keys and the estimate) when the generator's training state
    would not fit in `device`'s free memory."""
    need = training_bytes(cfg)
    free = available_bytes(device)
    if free is not None and need > free:
        raise ConfigError(
            f"config: the generator (num_blocks = {cfg.num_blocks}, channels = {cfg.channels}) "
            f"needs about {need / GIB:.1f} GiB for its weights, gradients and optimiser state, "
            f"more than the {free / GIB:.1f} GiB free on {device}: lower channels or num_blocks")
