"""Does a batch wait on I/O? Total time of a folder of N images against N x the model time.

The batch engine decodes the next image and encodes the last one in threads beside the model
(`srgan_cli.upscaling.batch`), so the total should be close to the time the model ran; the time
the model
spent waiting (for a decode, or for the encoder to take its result) is what is left over.
Images are synthetic photos-like noise written to a temp folder (or pass --folder).

Run: .venv/bin/python bench/bench_batch.py [--n 8] [--size 256] [--model srresnet_x4|bicubic]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from srgan_cli.upscaling.batch import UpscaleOptions, load_upscaler
from srgan_cli.upscaling.pipeline import run_batch


def _images(folder: Path, n: int, size: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        base = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        img = Image.fromarray(base).resize((size, size), Image.Resampling.BICUBIC)
        img.save(folder / f"img{i:03d}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="images (default 8)")
    ap.add_argument("--size", type=int, default=256, help="side of each image (default 256)")
    ap.add_argument("--model", default=None, help="model (default: the default model)")
    ap.add_argument("--folder", type=Path, default=None, help="use these images instead")
    ap.add_argument("--tile", type=int, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = args.folder
        if src is None:
            src = Path(tmp) / "in"
            src.mkdir()
            _images(src, args.n, args.size)
        options = UpscaleOptions(output_dir=Path(tmp) / "out", model=args.model, tile=args.tile)
        upscaler = load_upscaler(options)
        t0 = time.perf_counter()
        result = run_batch([str(src)], options, upscaler=upscaler)
        total = time.perf_counter() - t0
    n = len(result.records)
    per_image = result.model_seconds / max(n, 1)
    print(f"images               {n} ({sum(r.status == 'ok' for r in result.records)} ok)")
    print(f"total                {total:8.2f} s")
    print(f"model (sum)          {result.model_seconds:8.2f} s   N x model time per image")
    print(f"model per image      {per_image:8.3f} s")
    print(f"model waited         {result.wait_seconds:8.2f} s   for a decode or for the encoder")
    ratio = total / max(result.model_seconds, 1e-9)
    print(f"total / model time   {ratio:8.2f}x  (1.00 = never waits)")


if __name__ == "__main__":
    main()
