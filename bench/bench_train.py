"""CPU training speed of the default x4 networks, fp32 vs bf16, and the loader: cache vs decoding.

0. ``Trainer.train_step`` with `--amp auto` (bf16 on a native-bf16 CPU) against a plain bf16
   PyTorch loop on the same batch, interleaved, per step.
1. Seconds per optimisation step and samples/s of ``Trainer.train_step`` for the default SRResNet
   (16 blocks, 64 channels) at batch 16 of 96 px HR crops: stage psnr in fp32 and bf16, and stage
   gan (random-weight VGG19 features, speed does not depend on weights) in fp32 and bf16. One
   warm-up step, then the mean of a few timed steps.
2. Crops per second of the training data: ``PatchDataset`` reading the decoded cache (memory-mapped
   ``.npy``) vs decoding the PNG for every crop (decode, random crop, MATLAB bicubic of the crop),
   on DIV2K-sized images: ``$SRGAN_TEST_DATA/DIV2K/DIV2K_train_HR`` if set, else synthetic PNGs.

Every variant is timed in the same run, so the ratios are comparable even when absolute numbers
move with the machine's load. Run: .venv/bin/python bench/bench_train.py [--steps 3] [--crops 200]
[--rounds 3] [--threads N] [--compare-only] (on a machine shared with other jobs, --threads 1
avoids thread-barrier stalls; --compare-only runs part 0 alone).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from srgan_cli.media.decode import read_uint8
from srgan_cli.media.discovery import ImagePair
from srgan_cli.media.resize import imresize, modcrop
from srgan_cli.models.bundled import save_model
from srgan_cli.models.vgg import random_vgg_features
from srgan_cli.training.config import TrainConfig
from srgan_cli.training.data import PatchDataset, build_cache
from srgan_cli.training.loop import Trainer

SCALE = 4


def _batch(batch: int, patch: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(batch, 3, patch, patch, generator=g)
    lr = torch.nn.functional.avg_pool2d(hr, SCALE)
    return (hr.contiguous(memory_format=torch.channels_last),
            lr.contiguous(memory_format=torch.channels_last))


def time_steps(stage: str, amp: str, batch: int, patch: int, steps: int, work: Path,
               vgg: torch.nn.Module | None) -> float:
    """Mean seconds of `steps` train steps after one warm-up step."""
    extra: dict[str, object] = {}
    if stage == "gan":
        init = work / "init.safetensors"
        if not init.exists():
            save_model(Trainer(TrainConfig(device="cpu", run_dir=str(work / "r")),
                               log=lambda m: None).generator, init, {})
        extra = {"init": str(init)}
    cfg = TrainConfig(stage=stage, amp=amp, device="cpu", batch_size=batch, patch_size=patch,
                      scale=SCALE, run_dir=str(work / f"{stage}_{amp}"), **extra)
    cfg.validate()
    t = Trainer(cfg, vgg=vgg, log=lambda m: None)
    hr, lr = _batch(batch, patch)
    t.train_step(hr, lr)  # warm-up: oneDNN primitives, allocator
    start = time.perf_counter()
    for _ in range(steps):
        losses = t.train_step(hr, lr)
    elapsed = (time.perf_counter() - start) / steps
    assert all(torch.isfinite(v) for v in losses.values())
    return elapsed


def plain_vs_ours(batch: int, patch: int, steps: int, rounds: int, work: Path
                  ) -> tuple[float, float, str]:
    """Best-of-`rounds` mean s/step of ``Trainer.train_step`` (stage psnr, `--amp auto`) and of
    the plain bf16 loop a user writes by hand (same SRResNet, Adam, MSE, channels_last, bf16
    autocast), interleaved on the same batch; and the precision auto chose."""
    from srgan_cli.models.srresnet import SRResNet

    cfg = TrainConfig(stage="psnr", amp="auto", device="cpu", batch_size=batch, patch_size=patch,
                      scale=SCALE, run_dir=str(work / "ours_auto"))
    cfg.validate()
    ours = Trainer(cfg, log=lambda m: None)
    chosen = "fp32" if ours.amp_dtype is None else str(ours.amp_dtype).removeprefix("torch.")
    net = SRResNet(scale=SCALE).to(memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    hr, lr = _batch(batch, patch)

    def plain_step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.mse_loss(net(lr).float(), hr)
        loss.backward()
        opt.step()

    runs = {"ours": lambda: ours.train_step(hr, lr), "plain": plain_step}
    best = dict.fromkeys(runs, float("inf"))
    for f in runs.values():
        f()  # warm-up
    for _ in range(rounds):
        for name, f in runs.items():
            start = time.perf_counter()
            for _ in range(steps):
                f()
            best[name] = min(best[name], (time.perf_counter() - start) / steps)
    return best["ours"], best["plain"], chosen


def _images(n: int, work: Path) -> list[Path]:
    root = os.environ.get("SRGAN_TEST_DATA")
    if root and (Path(root) / "DIV2K" / "DIV2K_train_HR").is_dir():
        found = sorted((Path(root) / "DIV2K" / "DIV2K_train_HR").glob("*.png"))[:n]
        if found:
            return found
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:1356, 0:2040].astype(np.float32)
    paths = []
    for i in range(n):  # smooth content + noise: compresses like a photo, not like pure noise
        base = 128 + 60 * np.sin(xx / (40 + 9 * i)) * np.cos(yy / (31 + 7 * i))
        img = base[..., None] + rng.normal(0, 12, size=(1356, 2040, 3))
        p = work / f"{i:04d}.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(p)
        paths.append(p)
    return paths


def bench_loader(crops: int, n_images: int, patch: int, work: Path) -> dict[str, float]:
    paths = _images(n_images, work)
    t0 = time.perf_counter()
    entries = build_cache([ImagePair(p) for p in paths], SCALE, patch, work / "cache")
    build_s = time.perf_counter() - t0

    ds = PatchDataset(entries, SCALE, patch, seed=0)
    t0 = time.perf_counter()
    for k in range(crops):
        ds[k]
    cached = crops / (time.perf_counter() - t0)

    rng = np.random.default_rng(0)
    n_decode = max(1, crops // 10)  # decoding is slow: time fewer crops
    t0 = time.perf_counter()
    for _ in range(n_decode):
        hr = modcrop(read_uint8(paths[int(rng.integers(len(paths)))]), SCALE)
        top = int(rng.integers(0, hr.shape[0] - patch + 1)) // SCALE * SCALE
        left = int(rng.integers(0, hr.shape[1] - patch + 1)) // SCALE * SCALE
        crop = np.ascontiguousarray(hr[top : top + patch, left : left + patch])
        torch.from_numpy(imresize(crop, 1 / SCALE)).permute(2, 0, 1).contiguous()
    decoded = n_decode / (time.perf_counter() - t0)
    size = read_uint8(paths[0]).shape
    return {"cached": cached, "decoded": decoded, "build_s": build_s, "images": len(paths),
            "h": size[0], "w": size[1], "decode_crops": n_decode}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3, help="timed psnr steps per precision")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds, ours vs plain")
    ap.add_argument("--compare-only", action="store_true", help="ours vs the plain loop only")
    ap.add_argument("--gan-steps", type=int, default=1, help="timed gan steps per precision")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=96)
    ap.add_argument("--crops", type=int, default=200, help="crops read from the cache")
    ap.add_argument("--images", type=int, default=3, help="DIV2K-sized images for the loader")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch intra-op threads (0: torch's default, one per core)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs; batch {args.batch}, patch {args.patch}, x{SCALE}, "
          "SRResNet 16x64")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        vgg = random_vgg_features("vgg54")
        ours, plain, chosen = plain_vs_ours(args.batch, args.patch, args.steps, args.rounds, work)
        print(f"\nTrainer.train_step (psnr, --amp auto = {chosen}) {ours:.3f} s/step vs a plain "
              f"bf16 loop {plain:.3f} s/step: {plain / ours:.2f}x (best of {args.rounds} "
              f"interleaved rounds of {args.steps} steps; data loading not included)")
        if args.compare_only:
            return
        rows = []
        for stage, steps in (("psnr", args.steps), ("gan", args.gan_steps)):
            base = None
            for amp in ("off", "bf16"):
                sec = time_steps(stage, amp, args.batch, args.patch, steps, work,
                                 vgg if stage == "gan" else None)
                base = base or sec
                rows.append((stage, "fp32" if amp == "off" else amp, sec, args.batch / sec,
                             base / sec))
        print(f"\n{'stage':<6} {'precision':<9} {'s/step':>8} {'samples/s':>10} {'speed-up':>9}")
        for stage, prec, sec, sps, ratio in rows:
            print(f"{stage:<6} {prec:<9} {sec:>8.3f} {sps:>10.2f} {ratio:>8.2f}x")

        r = bench_loader(args.crops, args.images, args.patch, work)
        print(f"\nloader, {r['images']} images of {r['w']}x{r['h']}, {args.patch} px crops "
              f"(cache built once in {r['build_s']:.1f} s):")
        print(f"{'source':<28} {'crops/s':>10} {'ratio':>9}")
        print(f"{'decode PNG + bicubic / crop':<28} {r['decoded']:>10.1f} {1:>8.1f}x"
              f"   ({r['decode_crops']} crops)")
        print(f"{'decoded cache (mmap .npy)':<28} {r['cached']:>10.1f} "
              f"{r['cached'] / r['decoded']:>8.1f}x   ({args.crops} crops)")


if __name__ == "__main__":
    main()
