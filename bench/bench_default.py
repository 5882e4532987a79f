"""Whole process, default settings: `srgan upscale IN OUT` against the plain PyTorch way.

The issue's yardstick (issue "Fast by default"): a 512x512 photo (scikit-image's astronaut) x4 with
the bundled model. "Plain" is what a user writes by hand: fp32, eager, NCHW, BatchNorm unfused,
whole image, PIL in and out. Both run as fresh processes (start-up included), interleaved, and the
best wall time of each is kept. Prints seconds, peak RSS, the speed ratio and the PSNR between
the two outputs. Run: .venv/bin/python bench/bench_default.py [--repeats 2] [--size 512]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

PLAIN = r"""
import sys, numpy as np, torch
from PIL import Image
from safetensors.torch import load_file
from srgan_cli.models.srresnet import SRResNet
net = SRResNet(scale=4, num_blocks=16, channels=64)
net.load_state_dict(load_file(sys.argv[1]))
net.eval()
x = torch.from_numpy(np.asarray(Image.open(sys.argv[2]).convert("RGB"))).permute(2, 0, 1)
with torch.no_grad():
    y = net(x[None].float() / 255)[0]
y = (y.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
Image.fromarray(y).save(sys.argv[3])
"""


def run(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process; raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}\n{proc.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2, help="runs of each (best kept)")
    ap.add_argument("--size", type=int, default=512, help="crop side of the astronaut photo")
    ap.add_argument("--extra", nargs="*", default=[], help="extra `srgan upscale` options")
    args = ap.parse_args()
    from skimage import data

    from srgan_cli.models.bundled import bundled_path

    weights = str(bundled_path("srresnet_x4"))
    work = Path(tempfile.mkdtemp(prefix="bench_default_"))
    src = work / "in.png"
    Image.fromarray(data.astronaut()[: args.size, : args.size]).save(src)
    srgan = [sys.executable, "-m", "srgan_cli", "upscale"]
    cases = {
        "plain PyTorch (fp32, eager, whole image)":
            [sys.executable, "-c", PLAIN, weights, str(src), str(work / "plain.png")],
        "srgan upscale (defaults" + (" " + " ".join(args.extra) if args.extra else "") + ")":
            [*srgan, str(src), "--output", str(work / "ours.png"), "--overwrite", *args.extra],
    }
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeats):
        for name, cmd in cases.items():
            seconds, rss = run(cmd)
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, rss)
    plain = np.asarray(Image.open(work / "plain.png"))
    ours = np.asarray(Image.open(work / "ours.png"))
    (plain_s, _), (ours_s, _) = best.values()
    print(f"{args.size}x{args.size} -> x4, bundled srresnet_x4, best of {args.repeats}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'case':58s} {'s':>7s} {'peak RSS MB':>12s}")
    for name, (seconds, rss) in best.items():
        print(f"{name:58s} {seconds:7.2f} {rss:12.0f}")
    print(f"speed-up of srgan upscale over plain: {plain_s / ours_s:.2f}x; "
          f"PSNR(ours, plain) = {psnr(ours, plain):.1f} dB; "
          f"max |diff| = {int(np.abs(ours.astype(int) - plain.astype(int)).max())}")


if __name__ == "__main__":
    main()
