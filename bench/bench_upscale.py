"""CPU inference speed of the default x4 SRResNet: fp32 vs BN folding vs channels_last vs bf16.

Random weights (speed does not depend on them), one small image, every variant timed in the same
run so the ratios are comparable. Prints output megapixels per second and the ratio to the
plain fp32 network. Run: .venv/bin/python bench/bench_upscale.py [--size 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from srgan_cli.models.loading import srresnet_descriptor
from srgan_cli.models.srresnet import SRResNet, fold_batchnorm
from srgan_cli.upscaler import Upscaler


def _random_generator(seed: int = 0) -> SRResNet:
    torch.manual_seed(seed)
    net = SRResNet(scale=4, num_blocks=16, channels=64)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval().requires_grad_(False)


def _variant(net: SRResNet, fold: bool, channels_last: bool, dtype: torch.dtype
             ) -> Callable[[torch.Tensor], torch.Tensor]:
    m = fold_batchnorm(net) if fold else copy.deepcopy(net)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    m = m.to(dtype=dtype, memory_format=fmt)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return m(x.to(dtype=dtype, memory_format=fmt)).float()

    return run


def _time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (oneDNN primitive creation)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64, help="LR image side in pixels")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per variant (best kept)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    net = _random_generator()
    x = torch.rand(1, 3, args.size, args.size)
    out_mp = (args.size * 4) ** 2 / 1e6
    reference = _variant(net, False, False, torch.float32)(x)
    rows: list[tuple[str, float, float]] = []
    variants = [
        ("fp32 (plain)", False, False, torch.float32),
        ("fp32 + BN folded", True, False, torch.float32),
        ("fp32 + channels_last", False, True, torch.float32),
        ("fp32 + BN folded + channels_last", True, True, torch.float32),
        ("bf16 + channels_last", False, True, torch.bfloat16),
        ("bf16 + BN folded + channels_last", True, True, torch.bfloat16),
    ]
    for name, fold, cl, dtype in variants:
        fn = _variant(net, fold, cl, dtype)
        seconds = _time(lambda fn=fn: fn(x), args.repeats)
        err = (fn(x) - reference).abs().max().item()
        rows.append((name, seconds, err))
    lr8 = (x[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    lr_float = x[0].permute(1, 2, 0).numpy()
    model = srresnet_descriptor(net, name="bench", source="memory", card={})
    for precision in ("fp32", "bf16"):
        up = Upscaler(model, device="cpu", precision=precision, tile=0)
        seconds = _time(lambda up=up: up.upscale_array(lr8), args.repeats)
        diff = np.abs(up.upscale_float(lr_float) - reference[0].permute(1, 2, 0).numpy()).max()
        rows.append((f"Upscaler.upscale_array {precision} (folded, channels_last)", seconds,
                     float(diff)))
    base = rows[0][1]
    print(f"SRResNet x4, 16 blocks, 64 channels; {args.size}x{args.size} -> "
          f"{args.size * 4}x{args.size * 4}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'variant':58s} {'s':>8s} {'MP/s':>8s} {'speed-up':>9s} {'max |err|':>10s}")
    for name, seconds, err in rows:
        print(f"{name:58s} {seconds:8.3f} {out_mp / seconds:8.3f} {base / seconds:8.2f}x "
              f"{err:10.2e}")


if __name__ == "__main__":
    main()
