"""The CPU's 3x3 64->64 conv peak on the map sizes our SRResNet runs, 1 and 2 threads, fp32/bf16.

    python bench/bench_conv_peak.py [--sides 64 128 256 320] [--rounds 5] [--threads 1 2]

The trunk of the bundled model is sixteen residual blocks of 3x3 64->64 convolutions on the whole
LR input, so this conv (channels_last, as `TorchImplementation.prepare` runs it, in inference
mode) on maps of the LR sizes people upscale is the ceiling the model's forward is compared with
(bench/bench_upscale.py prints its share of `peak`). Every (dtype, side, threads) case runs
interleaved with the others over `--rounds` rounds, best of each kept, in GFLOP per wall second
and per CPU second (on a CPU shared with other jobs the CPU-time figure is the fairer one; the
wall figure counts their share too). Maps whose tensors exceed glibc's 32 MiB mmap threshold run
in a slower regime (every output freshly mapped and unmapped): they are marked `>32M`.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

SIDES = (64, 128, 256, 320)
CHANNELS = 64


def conv_flops(side: int) -> int:
    """2 x multiply-adds of one 3x3 64->64 conv on a side x side map."""
    return 2 * CHANNELS * CHANNELS * 9 * side * side


def time_conv(dtype: torch.dtype, side: int, threads: int, repeats: int = 3
              ) -> tuple[float, float]:
    """Best (wall, CPU) seconds of one 3x3 64->64 channels_last conv on `threads` threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        conv = nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1).to(
            dtype, memory_format=torch.channels_last)
        x = torch.rand(1, CHANNELS, side, side).to(dtype).contiguous(
            memory_format=torch.channels_last)
        wall = cpu = float("inf")
        with torch.inference_mode():
            conv(x)  # oneDNN builds its kernel per shape
            for _ in range(repeats):
                w, c = time.perf_counter(), time.process_time()
                conv(x)
                wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
        return wall, cpu
    finally:
        torch.set_num_threads(previous)


def peak(dtype: torch.dtype, sides: tuple[int, ...] = (128, 256), threads: int | None = None,
         rounds: int = 2) -> float:
    """Best GFLOP per CPU second over `sides` (the shared figure bench_upscale compares with)."""
    n = threads or torch.get_num_threads()
    best = 0.0
    for _ in range(rounds):
        for side in sides:
            best = max(best, conv_flops(side) / time_conv(dtype, side, n)[1] / 1e9)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sides", type=int, nargs="+", default=list(SIDES))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (best kept)")
    a = ap.parse_args()
    cases = [(d, s, t) for d in (torch.float32, torch.bfloat16) for s in a.sides
             for t in a.threads]
    best: dict[tuple[torch.dtype, int, int], tuple[float, float]] = {}
    for _ in range(a.rounds):
        for case in cases:
            w, c = time_conv(*case)
            old = best.get(case, (w, c))
            best[case] = (min(w, old[0]), min(c, old[1]))
    print(f"3x3 {CHANNELS}->{CHANNELS} conv, channels_last, inference mode, torch "
          f"{torch.__version__}, best of {a.rounds} interleaved rounds; GFLOP per wall s / per "
          f"CPU s")
    print(f"{'dtype':9s} {'side':>5s} {'MiB':>5s} " + " ".join(
        f"{f'{t} thr wall':>11s} {f'{t} thr CPU':>10s}" for t in a.threads))
    for dtype in (torch.float32, torch.bfloat16):
        for side in a.sides:
            mib = CHANNELS * side * side * torch.empty((), dtype=dtype).element_size() / 2**20
            row = f"{str(dtype).removeprefix('torch.'):9s} {side:5d} {mib:5.0f} "
            for t in a.threads:
                w, c = best[(dtype, side, t)]
                row += f"{conv_flops(side) / w / 1e9:11.0f} {conv_flops(side) / c / 1e9:10.0f} "
            print(row + (" >32M" if mib > 32 else ""))


if __name__ == "__main__":
    main()
