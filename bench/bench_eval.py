"""Time our PSNR/SSIM against scikit-image on Set14 x4, and `srgan eval --model bicubic` on
Set5 + Set14, side by side in one run.

    python bench/bench_eval.py [--data DIR] [--repeats N]

DIR is the shared datasets folder (default: $SRGAN_TEST_DATA). Prints seconds and ratios."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from srgan_cli.evaluation.datasets import open_dataset
from srgan_cli.evaluation.metrics import psnr_ssim, rgb_to_y
from srgan_cli.evaluation.scoring import predictor
from srgan_cli.models.descriptor import bicubic


def skimage_scores(sr: np.ndarray, hr: np.ndarray, crop: int) -> tuple[float, float]:
    """The same protocol with scikit-image's functions (Y conversion and crop done here)."""
    a = rgb_to_y(sr) if sr.ndim == 3 else sr.astype(np.float64)
    b = rgb_to_y(hr) if hr.ndim == 3 else hr.astype(np.float64)
    a, b = a[crop:-crop, crop:-crop], b[crop:-crop, crop:-crop]
    p = peak_signal_noise_ratio(b, a, data_range=255)
    s = structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=255)
    return p, s


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SRGAN_TEST_DATA"),
                        help="datasets folder with Set5/ and Set14/ (default: $SRGAN_TEST_DATA)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not args.data:
        sys.exit("give --data DIR or set SRGAN_TEST_DATA")
    data = Path(args.data)

    # -- metrics only, on the 14 bicubic x4 SR images of Set14 (gray `bridge` included)
    scale = 4
    pairs = []
    for sample in open_dataset("set14", scale, data_root=data):
        sr = predictor(bicubic(scale))(sample.lr if sample.lr.ndim == 3
                                      else np.repeat(sample.lr[..., None], 3, axis=2))
        pairs.append((sr if sample.hr.ndim == 3 else sr[..., 0], sample.hr))
    ours = [psnr_ssim(sr, hr, crop_border=scale) for sr, hr in pairs]
    theirs = [skimage_scores(sr, hr, scale) for sr, hr in pairs]
    max_dp = max(abs(a[0] - b[0]) for a, b in zip(ours, theirs, strict=True))
    max_ds = max(abs(a[1] - b[1]) for a, b in zip(ours, theirs, strict=True))
    t_ours = best_time(lambda: [psnr_ssim(sr, hr, crop_border=scale) for sr, hr in pairs],
                       args.repeats)
    t_sk = best_time(lambda: [skimage_scores(sr, hr, scale) for sr, hr in pairs], args.repeats)
    print(f"metrics on Set14 x4 ({len(pairs)} images, PSNR+SSIM on Y, best of {args.repeats}):")
    print(f"  srgan_cli.evaluation.metrics   {t_ours:7.3f} s")
    print(f"  scikit-image        {t_sk:7.3f} s   ratio skimage/ours = {t_sk / t_ours:.2f}x")
    print(f"  max |diff| PSNR {max_dp:.1e} dB, SSIM {max_ds:.1e}")

    # -- the whole command, as a user runs it (process start and imports included)
    cmd = [sys.executable, "-m", "srgan_cli", "eval", "--model", "bicubic", "--dataset", "set5",
           "--dataset", "set14", "--scale", str(scale), "--data-root", str(data)]
    env = {**os.environ, "NO_COLOR": "1"}
    out = ""

    def run_cli() -> None:
        nonlocal out
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        out = proc.stdout

    t_cli = best_time(run_cli, args.repeats)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import srgan_cli.cli.app, srgan_cli.upscaling.upscaler"],
                   check=True)
    t_import = time.perf_counter() - start
    n_images = 5 + len(pairs)
    print(f"srgan eval --model bicubic on Set5 + Set14 x4 ({n_images} images, best of "
          f"{args.repeats}):")
    print(f"  whole command       {t_cli:7.3f} s   ({t_cli / n_images * 1000:.0f} ms per image)")
    print(f"  of which start-up   {t_import:7.3f} s   (python + imports)")
    print(f"  metrics share       {t_ours / len(pairs) * n_images:7.3f} s   (estimated from the "
          "Set14 figure)")
    print(out.rstrip())


if __name__ == "__main__":
    main()
