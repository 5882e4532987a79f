"""Peak RSS of one upscale with the default (memory-budget) tiles, and the activation factor.

    python bench/bench_memory.py [--model srresnet_x4] [--size 3000 4000] [--precision auto]
                                 [--tile N] [--budget 1G]

Runs in this process: loads the model, warms it up on a 16x16 image, then upscales a random
H x W image and prints the chosen tile, the estimate (`upscale.bytes_per_pixel`), the peak RSS
(getrusage) above the RSS before the upscale, and that peak less the output buffer per LR pixel
of one window, against the estimate (which must stay above it), and as a multiple of the
largest layer output (the measured activation factor: `upscale.ACTIVATION_FACTOR` must stay
above it for models estimated by probing; SRResNet's banded forward, `srresnet_infer`, stays far
below one). Use `--tile 0` on a small image to calibrate on whole images."""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from srgan_cli.models.loading import load
from srgan_cli.options import parse_bytes
from srgan_cli.upscaling.upscaler import Upscaler, activation_floats, bytes_per_pixel


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="srresnet_x4")
    ap.add_argument("--size", type=int, nargs=2, default=[3000, 4000], metavar=("H", "W"))
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--tile", type=int, default=None)
    ap.add_argument("--budget", default=None)
    a = ap.parse_args()
    model = load(a.model)
    budget = parse_bytes(a.budget) if a.budget else None
    up = Upscaler(model, device="cpu", precision=a.precision, tile=a.tile, memory_budget=budget)
    up.upscale_array(np.zeros((16, 16, 3), np.uint8))
    h, w = a.size
    arr = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    before = rss_bytes()
    t = time.perf_counter()
    out = up.upscale_array(arr)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tile = up.tile or max(h, w)
    win = min(h, tile + 2 * up.tile_pad) * min(w, tile + 2 * up.tile_pad)
    itemsize = torch.empty((), dtype=up.dtype).element_size()
    layer = activation_floats(model) * itemsize * win
    activations = peak - before - out.nbytes
    estimate = bytes_per_pixel(model, up.dtype)
    print(f"{model.name} x{model.scale} {up.precision}, {w}x{h} -> {out.shape[1]}x{out.shape[0]}"
          f" in {seconds:.1f} s; tile {up.tile} ({up.tiles} tiles, pad {up.tile_pad}), budget "
          f"{up.memory_budget / 2**20:.0f} MiB, estimate {estimate} B per LR pixel")
    print(f"peak RSS {peak / 2**20:.0f} MiB, before the upscale {before / 2**20:.0f} MiB, "
          f"output buffer {out.nbytes / 2**20:.0f} MiB; peak beyond the output "
          f"{(peak - out.nbytes) / 2**20:.0f} MiB")
    print(f"activations {activations / 2**20:.0f} MiB for a {win} px window: "
          f"{activations / win:.0f} B per LR pixel (estimate {estimate}), "
          f"{activations / layer:.2f} x the largest layer output ({layer / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
