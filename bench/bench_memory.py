"""Peak RSS of one upscale with the default (memory-budget) tiles, and the activation factor.

    python bench/bench_memory.py [--model srresnet_x4] [--size 3000 4000] [--precision auto]
                                 [--tile N] [--budget 1G]

Runs in this process: loads the model, warms it up on a 16x16 image, then upscales a random
H x W image and prints the chosen tile, the estimate (`upscale.bytes_per_pixel`), the peak RSS
(getrusage) above the RSS before the upscale, and that peak less the output buffer per LR pixel
of one window, against the estimate (which must stay above it), and as a multiple of the
largest layer output (the measured activation factor: `upscale.ACTIVATION_FACTOR` must stay
above it for models estimated by probing; SRResNet's banded forward, `srresnet_infer`, stays far
below one). Use `--tile 0` on a small image to calibrate on whole images.

`--write out.png` also writes the output (`write_image`) and prints the peak with it. `--encoders`
compares, each in its own child process, the peak RSS and time of writing an H*4 x W*4 RGB PNG
(a smooth synthetic image, the output's size) with Pillow (the whole image copied) and with the
streaming encoder (`encode._write_png_rows`), both at zlib level 1, and checks that they decode
to the same pixels."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from srgan_cli.models.loading import load
from srgan_cli.options import parse_bytes
from srgan_cli.upscaling.upscaler import Upscaler, activation_floats, bytes_per_pixel


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _output_like(h: int, w: int) -> np.ndarray:
    """A smooth, photo-like uint8 RGB image (compresses as outputs do), built in row blocks."""
    out = np.empty((h, w, 3), np.uint8)
    x = np.arange(w, dtype=np.float32)
    for y0 in range(0, h, 1024):
        y = np.arange(y0, min(h, y0 + 1024), dtype=np.float32)[:, None]
        for c in range(3):
            out[y0:y0 + len(y), :, c] = 127.5 + 120 * np.sin(x / (97 + 13 * c) + y / 61) * \
                np.cos(y / (89 + c))
    return out


def encoder_child(way: str, h: int, w: int, dst: str) -> None:
    """Write the synthetic output one `way`; print JSON (seconds, peak MiB above the image)."""
    from PIL import Image

    from srgan_cli.media import encode

    pixels = _output_like(h, w)
    before = rss_bytes()
    t = time.perf_counter()
    if way == "pillow":
        Image.fromarray(pixels).save(dst, format="PNG", compress_level=1)
    else:
        encode._write_png_rows(Path(dst), pixels, None, level=1)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "extra_mib": (peak - before) / 2**20,
                      "peak_mib": peak / 2**20, "image_mib": pixels.nbytes / 2**20,
                      "bytes": Path(dst).stat().st_size}))


def compare_encoders(h: int, w: int) -> None:
    from PIL import Image

    work = Path(tempfile.mkdtemp(prefix="bench_encoders_"))
    res = {}
    for way in ("pillow", "streaming"):
        dst = str(work / f"{way}.png")
        run = subprocess.run([sys.executable, __file__, "--encoder-child", way, "--size", str(h),
                              str(w), "--write", dst], capture_output=True, text=True, check=True)
        res[way] = json.loads(run.stdout.strip().splitlines()[-1])
    Image.MAX_IMAGE_PIXELS = None
    same = np.array_equal(*(np.asarray(Image.open(work / f"{way}.png")) for way in res))
    print(f"{w}x{h} RGB PNG, zlib level 1 (image {res['pillow']['image_mib']:.0f} MiB); "
          f"decoded pixels identical: {same}")
    for way, r in res.items():
        print(f"{way:10s} {r['seconds']:6.1f} s, peak RSS {r['peak_mib']:.0f} MiB, "
              f"{r['extra_mib']:.0f} MiB above the image, file {r['bytes'] / 2**20:.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="srresnet_x4")
    ap.add_argument("--size", type=int, nargs=2, default=[3000, 4000], metavar=("H", "W"))
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--tile", type=int, default=None)
    ap.add_argument("--budget", default=None)
    ap.add_argument("--write", default=None, help="also write the output to this PNG")
    ap.add_argument("--encoders", action="store_true", help="compare the PNG encoders' peaks")
    ap.add_argument("--encoder-child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.encoder_child:
        encoder_child(a.encoder_child, *a.size, a.write)
        return
    if a.encoders:
        compare_encoders(*a.size)
        return
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
    if a.write:
        from srgan_cli.media.encode import write_image
        from srgan_cli.media.image_data import ImageData

        t = time.perf_counter()
        write_image(a.write, ImageData(color=out, alpha=None, gray=False, bit_depth=8,
                                       icc_profile=None, source_mode="RGB"), overwrite=True)
        total = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(f"written in {time.perf_counter() - t:.1f} s: peak RSS with the write "
              f"{total / 2**20:.0f} MiB ({total / 2**30:.2f} GiB, the output included)")
    print(f"activations {activations / 2**20:.0f} MiB for a {win} px window: "
          f"{activations / win:.0f} B per LR pixel (estimate {estimate}), "
          f"{activations / layer:.2f} x the largest layer output ({layer / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
