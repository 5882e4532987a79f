"""Time a spandrel RRDB (ESRGAN) through the Upscaler and the descriptor's prepared call against
calling the spandrel module directly on the same input; prints the times and their ratios.

    python bench/bench_models.py [--size N] [--blocks B] [--features F] [--repeats R]

The descriptor call adds only a range wrapper (and padding when the model asks for it); the
Upscaler (fp32, whole image, as `--tile 0 --precision fp32`) adds the uint8 -> float -> uint8
conversions and the NaN check. Both ratios should be ~1: the Upscaler should not be slower."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from spandrel.architectures.ESRGAN import ESRGAN

from srgan_cli.models.loading import load
from srgan_cli.upscaling.upscaler import Upscaler


def best_of(fns, x: torch.Tensor, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Best time of each function, runs interleaved so that load changes hit both alike."""
    for fn in fns:
        fn(x)  # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn(x)
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--features", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    torch.manual_seed(0)
    net = ESRGAN(num_filters=a.features, num_blocks=a.blocks, scale=4).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rrdb.pth"
        torch.save({"params_ema": net.state_dict()}, path)
        descriptor = load(str(path))
    runner = descriptor.prepare("cpu", "fp32")
    up = Upscaler(descriptor, device="cpu", precision="fp32", tile=0)
    lr8 = (torch.rand(a.size, a.size, 3) * 255).round().to(torch.uint8).numpy()
    x = torch.from_numpy(lr8).permute(2, 0, 1)[None].float() / 255

    def direct(t: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net(t)

    def upscaler(_t: torch.Tensor) -> object:
        return up.upscale_array(lr8)

    assert torch.allclose(runner(x), direct(x), atol=1e-5)
    t_direct, t_desc, t_up = best_of([direct, runner, upscaler], x, a.repeats)
    print(f"RRDB {a.blocks}x{a.features} x4 on {a.size}x{a.size}, {torch.get_num_threads()} "
          f"threads: direct {t_direct:.3f} s, descriptor {t_desc:.3f} s "
          f"(ratio {t_desc / t_direct:.2f}), Upscaler uint8 -> uint8 {t_up:.3f} s "
          f"(ratio {t_up / t_direct:.2f})")


if __name__ == "__main__":
    main()
