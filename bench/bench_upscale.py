"""Upscale speed, memory and output side by side: plain PyTorch, RealESRGANer-style tiles, ours.

    python bench/bench_upscale.py [--size 256] [--rounds 2] [--threads 0] [--only NAME ...]

The bundled SRResNet x4 on a `--size` crop of scikit-image's astronaut photo. Every variant runs
in its own child process (so its peak RSS is its own: getrusage of the child, torch and the
model included), warmed up on the crop (oneDNN builds its kernels per shape), then timed once
(wall and process CPU time); the variants are interleaved over `--rounds` rounds and the best
of each is kept. Variants:
- plain: what a user writes by hand: fp32, eager, NCHW, BatchNorm unfused, whole image;
- realesrganer: Real-ESRGAN's `RealESRGANer.tile_process` style (tile 256, pad 10, fp32,
  unfused NCHW module; re-implemented here, the package is not needed), approximate tiles;
- ours: `Upscaler` in fp32/bf16, untiled (tile 0), 256-px exact tiles, and the default memory
  budget (auto), plus "bf16 unbanded": the same without the banded lean forward
  (`models/srresnet_infer.py`), the previous prepared model, and "unfused": untiled without
  oneDNN's fused conv + PReLU / residual add (`models/fused_conv.py`), the plain in-place ops.
Also measures, in this run, the CPU's peak on a 3x3 64->64 conv (channels_last, fp32 and bf16,
the best of 128^2, 256^2 and the crop's size: `bench_conv_peak.peak`) and counts the model's
FLOPs (2 x multiply-adds of every conv for the crop), and prints the share of that peak each
variant reaches on the useful work, in CPU time (a fair measure on a CPU shared with other jobs:
wall time would count their share too).
Output differences (max grey levels, PSNR) are against the plain fp32 output, both uint8.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from bench_conv_peak import peak as conv_peak

VARIANTS = ("plain", "realesrganer", "ours fp32 untiled", "ours fp32 tile 256", "ours fp32 auto",
            "ours bf16 untiled", "ours bf16 tile 256", "ours bf16 auto", "ours bf16 unbanded",
            "ours fp32 unfused", "ours bf16 unfused")


def _plain_net() -> nn.Module:
    from safetensors.torch import load_file

    from srgan_cli.models.bundled import bundled_path
    from srgan_cli.models.srresnet import SRResNet

    net = SRResNet(scale=4, num_blocks=16, channels=64)
    net.load_state_dict(load_file(str(bundled_path("srresnet_x4"))))
    return net.eval()


def _to_uint8(y: torch.Tensor) -> np.ndarray:
    return (y.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def _realesrganer(net: nn.Module, img: torch.Tensor, scale: int, tile: int = 256,
                  pad: int = 10) -> torch.Tensor:
    """RealESRGANer.tile_process: tiles of `tile` px read with `pad` px of context, each output
    cropped to its tile (context smaller than the receptive field: approximate)."""
    _, c, h, w = img.shape
    out = img.new_zeros((1, c, h * scale, w * scale))
    for y in range(-(-h // tile)):
        for x in range(-(-w // tile)):
            x0, x1 = x * tile, min((x + 1) * tile, w)
            y0, y1 = y * tile, min((y + 1) * tile, h)
            px0, px1, py0, py1 = max(x0 - pad, 0), min(x1 + pad, w), max(y0 - pad, 0), min(
                y1 + pad, h)
            with torch.no_grad():
                part = net(img[:, :, py0:py1, px0:px1])
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            out[:, :, y0 * scale: y1 * scale, x0 * scale: x1 * scale] = part[
                :, :, oy: oy + (y1 - y0) * scale, ox: ox + (x1 - x0) * scale]
    return out


def _runner(variant: str):  # a closure over the prepared variant
    """A function uint8 HxWx3 -> uint8 output for `variant` (its model loaded)."""
    if variant in ("plain", "realesrganer"):
        net = _plain_net()

        def run_plain(arr: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255
            if variant == "plain":
                with torch.no_grad():
                    return _to_uint8(net(x)[0])
            return _to_uint8(_realesrganer(net, x, 4)[0])

        return run_plain
    import dataclasses

    from srgan_cli.models.loading import load
    from srgan_cli.models.srresnet import fold_batchnorm
    from srgan_cli.models.torch_impl import TorchImplementation
    from srgan_cli.upscaling.upscaler import Upscaler

    if variant.endswith("unfused"):
        from srgan_cli.models import fused_conv

        fused_conv.pointwise_ops = lambda: None  # type: ignore[assignment]
    model = load("srresnet_x4")
    precision = "bf16" if "bf16" in variant else "fp32"
    if variant.endswith("unbanded"):
        impl = TorchImplementation(model.implementation.net,  # type: ignore[attr-defined]
                                   for_inference=fold_batchnorm)
        model = dataclasses.replace(model, implementation=impl)
    tile = None if variant.endswith("auto") else 256 if variant.endswith("256") else 0
    up = Upscaler(model, device="cpu", precision=precision, tile=tile)
    return up.upscale_array


def child(variant: str, src: Path, dst: Path) -> None:
    """Run one variant: warm-up, one timed run; print JSON (wall and CPU seconds, peak RSS MB)."""
    run = _runner(variant)
    arr = np.load(src)
    run(arr)
    start, cpu = time.perf_counter(), time.process_time()
    out = run(arr)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    np.save(dst, out)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_mb": rss}))


def model_flops(net: nn.Module, h: int, w: int) -> int:
    """2 x the multiply-adds of every convolution of `net` on an h x w input."""
    total = [0]

    def hook(m: nn.Module, _i: object, out: torch.Tensor) -> None:
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
            total[0] += 2 * k * out.numel()

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    with torch.inference_mode():
        net(torch.zeros(1, 3, h, w))
    for handle in handles:
        handle.remove()
    return total[0]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="LR crop side")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (best kept)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--only", nargs="*", default=None, choices=VARIANTS, metavar="NAME")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--src", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--dst", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child(args.child, Path(args.src), Path(args.dst))
        return
    from skimage import data

    work = Path(tempfile.mkdtemp(prefix="bench_upscale_"))
    src = work / "in.npy"
    np.save(src, np.ascontiguousarray(data.astronaut()[: args.size, : args.size]))
    variants = list(args.only or VARIANTS)
    if "plain" not in variants:
        variants.insert(0, "plain")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)} if args.threads else None
    best: dict[str, dict[str, float]] = {}
    peaks: dict[str, float] = {}
    for _ in range(args.rounds):
        sides = tuple(sorted({128, 256, args.size}))
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            peaks[name] = max(peaks.get(name, 0.0), conv_peak(dtype, sides, rounds=1))
        for v in variants:
            cmd = [sys.executable, __file__, "--child", v, "--src", str(src),
                   "--dst", str(work / f"{VARIANTS.index(v)}.npy")]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            if res.returncode != 0:
                raise SystemExit(f"{v} failed:\n{res.stderr}")
            r = json.loads(res.stdout.strip().splitlines()[-1])
            old = best.get(v, r)
            best[v] = {"seconds": min(r["seconds"], old["seconds"]),
                       "cpu": min(r["cpu"], old["cpu"]), "rss_mb": max(r["rss_mb"], old["rss_mb"])}
    flops = model_flops(_plain_net(), args.size, args.size)
    plain_out = np.load(work / "0.npy")
    out_mp = (4 * args.size) ** 2 / 1e6
    plain_s = best["plain"]["seconds"]
    print(f"bundled srresnet_x4, {args.size}x{args.size} -> {4 * args.size}x{4 * args.size}, "
          f"best of {args.rounds} interleaved rounds, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; model {flops / 1e9:.1f} GFLOP; 3x3 64->64 conv: "
          f"fp32 {peaks['fp32']:.0f}, bf16 {peaks['bf16']:.0f} GFLOP per CPU s; peak RSS: "
          f"getrusage of each variant's own process")
    print(f"{'variant':22s} {'wall s':>7s} {'MP/s':>6s} {'vs plain':>8s} {'CPU s':>7s} "
          f"{'vs plain':>8s} {'RSS MB':>7s} {'max|diff|':>9s} {'PSNR dB':>8s} {'% conv':>6s}")
    plain_cpu = best["plain"]["cpu"]
    for v in variants:
        r = best[v]
        out = np.load(work / f"{VARIANTS.index(v)}.npy")
        diff = int(np.abs(out.astype(int) - plain_out.astype(int)).max())
        peak = peaks["bf16" if "bf16" in v else "fp32"]
        share = 100 * flops / r["cpu"] / 1e9 / peak
        print(f"{v:22s} {r['seconds']:7.2f} {out_mp / r['seconds']:6.3f} "
              f"{plain_s / r['seconds']:7.2f}x {r['cpu']:7.2f} {plain_cpu / r['cpu']:7.2f}x "
              f"{r['rss_mb']:7.0f} {diff:9d} {psnr(out, plain_out):8.1f} {share:5.0f}%")
    for v in variants:  # the fused conv + PReLU / residual add against the plain ops
        if v.endswith("unfused") and v.replace("unfused", "untiled") in best:
            fused = np.load(work / f"{VARIANTS.index(v.replace('unfused', 'untiled'))}.npy")
            plain_ops = np.load(work / f"{VARIANTS.index(v)}.npy")
            print(f"{v.replace('unfused', 'untiled')} vs {v}: max |diff| "
                  f"{np.abs(fused.astype(int) - plain_ops.astype(int)).max()}, CPU "
                  f"{best[v]['cpu'] / best[v.replace('unfused', 'untiled')]['cpu']:.2f}x")
    if "ours bf16 unbanded" in best:  # the banded lean forward against the previous one
        prev = np.load(work / f"{VARIANTS.index('ours bf16 unbanded')}.npy").astype(int)
        for v in variants:
            if v.startswith("ours bf16") and v != "ours bf16 unbanded":
                out = np.load(work / f"{VARIANTS.index(v)}.npy").astype(int)
                print(f"{v} vs ours bf16 unbanded: max |diff| {np.abs(out - prev).max()}")


if __name__ == "__main__":
    main()
