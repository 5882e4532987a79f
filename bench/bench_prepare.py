"""CPU time of loading and preparing the bundled model: on the thread pool vs on one thread.

    python bench/bench_prepare.py [--rounds 5] [--threads 2]

`loading.load` (state dict read, SRResNet built) and `prepare` (BatchNorm folding, coarse tail,
dtype and channels_last) are ~500 tiny tensor ops; both run under `torch_impl.one_thread`. This
times both ways in one process, interleaved, best of `--rounds` (process CPU seconds, and wall):
"pool" replaces `one_thread` by a no-op, as before. Target: < 0.2 CPU-s whatever the threads.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from srgan_cli.models import torch_impl
from srgan_cli.models.loading import load


def once(precision: str) -> tuple[float, float]:
    """(CPU s, wall s) of load + prepare."""
    w, c = time.perf_counter(), time.process_time()
    load("srresnet_x4").prepare("cpu", precision)
    return time.process_time() - c, time.perf_counter() - w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    ours = torch_impl.one_thread
    best: dict[tuple[str, str], tuple[float, float]] = {}
    once("fp32")  # imports, first-call costs
    for _ in range(a.rounds):
        for way in ("pool", "one thread"):
            torch_impl.one_thread = contextlib.nullcontext if way == "pool" else ours  # type: ignore[assignment]
            for precision in ("fp32", "bf16"):
                c, w = once(precision)
                old = best.get((way, precision), (c, w))
                best[(way, precision)] = (min(c, old[0]), min(w, old[1]))
    torch_impl.one_thread = ours
    print(f"load + prepare srresnet_x4, {torch.get_num_threads()} threads, best of {a.rounds} "
          f"interleaved rounds (CPU s / wall s)")
    for (way, precision), (c, w) in best.items():
        print(f"{way:10s} {precision}: {c:.3f} CPU s, {w:.3f} s")


if __name__ == "__main__":
    main()
