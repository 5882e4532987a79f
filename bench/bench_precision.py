"""bf16 against fp32 for a model: standard-protocol scores and the output of one photo.

    python bench/bench_precision.py [--model srresnet_x4] [--datasets set5 set14]
                                    [--photo PATH] [--crop 512] [--data-root DIR]

Prints the Set5/Set14 PSNR/SSIM in fp32 and bf16 (the `--precision auto` choice on a CPU with
native bf16) and their difference, then the PSNR of the bf16 output of a `--crop` x `--crop`
photo against its fp32 output. The issue's bounds: scores within 0.02 dB, the photo >= 45 dB."""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from srgan_cli.evaluation import scoring
from srgan_cli.media.decode import read_image
from srgan_cli.models.loading import load
from srgan_cli.upscaling.upscaler import Upscaler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="srresnet_x4")
    ap.add_argument("--datasets", nargs="*", default=["set5", "set14"])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--photo", default=None, help="image to crop (default: none)")
    ap.add_argument("--crop", type=int, default=512)
    a = ap.parse_args()
    model = load(a.model)
    for ds in scoring.open_datasets(a.datasets, model.scale, data_root=a.data_root):
        res = {}
        for precision in ("fp32", "bf16"):
            t = time.perf_counter()
            r = scoring.score(model, ds, scoring.EvalProtocol(precision=precision), device="cpu")
            res[precision] = (float(r.mean_psnr), float(r.mean_ssim), time.perf_counter() - t)
        (p32, s32, t32), (p16, s16, t16) = res["fp32"], res["bf16"]
        print(f"{ds.name}: fp32 {p32:.4f} dB / {s32:.5f} ({t32:.0f} s), bf16 {p16:.4f} dB / "
              f"{s16:.5f} ({t16:.0f} s), difference {p16 - p32:+.4f} dB")
    if a.photo:
        arr = read_image(a.photo).color[: a.crop, : a.crop]
        outs = {}
        for precision in ("fp32", "bf16"):
            t = time.perf_counter()
            outs[precision] = Upscaler(model, device="cpu", precision=precision,
                                       tile=None).upscale_array(arr)
            print(f"{arr.shape[1]}x{arr.shape[0]} x{model.scale} {precision}: "
                  f"{time.perf_counter() - t:.1f} s")
        diff = outs["bf16"].astype(np.float64) - outs["fp32"]
        mse = float(np.mean(diff**2))
        psnr = math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
        print(f"bf16 vs fp32 output: PSNR {psnr:.2f} dB, max |diff| {np.abs(diff).max():.0f}")


if __name__ == "__main__":
    main()
