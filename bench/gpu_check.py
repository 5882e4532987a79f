"""GPU check: exercise and time, on a CUDA machine, what the CPU test suite can only simulate.

One run (under 5 minutes on one GPU) covers:
- training steps of both stages (psnr, gan with a random VGG19) with fp16 + GradScaler and with
  bf16 autocast, channels_last, finite losses, the scaler really enabled for fp16;
- upscale MP/s of the bundled model in fp32 / bf16 / fp16 through the Upscaler against the plain
  way (fp32 eager whole image), with the largest output difference to it;
- the real CUDA out-of-memory path: memory capped with `torch.cuda.set_per_process_memory_fraction`
  so a whole-image run cannot fit; the Upscaler must halve its tile, keep the halved tile, and give
  the same pixels as a small-tile reference;
- NCCL DDP: `torchrun --nproc_per_node=<GPUs>` running `srgan train` for a few steps, replicas'
  checkpoint written by rank 0.

Prints one table and exits non-zero if any check fails. `--cpu-smoke` runs the same code paths on
the CPU with tiny sizes (bf16 only, gloo instead of NCCL, no OOM check): the test suite uses it so
the script cannot rot between GPU sessions.

Run: .venv/bin/python bench/gpu_check.py            (on a CUDA machine)
     .venv/bin/python bench/gpu_check.py --cpu-smoke
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass
class Row:
    check: str
    ok: bool
    figure: str


@dataclass
class Setup:
    device: torch.device
    smoke: bool
    work: Path

    @property
    def amps(self) -> tuple[str, ...]:
        if self.smoke:
            return ("bf16",)
        return ("fp16", "bf16") if torch.cuda.is_bf16_supported() else ("fp16",)

    @property
    def upscale_precisions(self) -> tuple[str, ...]:
        return ("fp32", "bf16") if self.smoke else ("fp32", *self.amps)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- training steps


def check_training(s: Setup) -> list[Row]:
    from srgan_cli.models.bundled import save_model
    from srgan_cli.models.vgg import random_vgg_features
    from srgan_cli.training.config import TrainConfig
    from srgan_cli.training.loop import Trainer

    batch, patch = (2, 32) if s.smoke else (16, 96)
    size = {"num_blocks": 2, "channels": 16} if s.smoke else {}
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(batch, 3, patch, patch, generator=g)
    lr = torch.nn.functional.avg_pool2d(hr, 4)
    init = s.work / "init.safetensors"
    base = Trainer(TrainConfig(device="cpu", run_dir=str(s.work / "init"), **size),
                   log=lambda m: None, show_progress=False)
    save_model(base.generator, init, {})
    vgg = random_vgg_features()
    rows = []
    for stage in ("psnr", "gan"):
        for amp in s.amps:
            extra = {"init": str(init)} if stage == "gan" else {}
            cfg = TrainConfig(stage=stage, amp=amp, device=str(s.device), batch_size=batch,
                              patch_size=patch, channels_last=True,
                              run_dir=str(s.work / f"{stage}_{amp}"), **size, **extra)
            cfg.validate()
            t = Trainer(cfg, vgg=vgg if stage == "gan" else None, log=lambda m: None,
                        show_progress=False)
            losses = t.train_step(hr, lr)  # warm-up: kernels, cuDNN autotune
            _sync(s.device)
            steps = 2 if s.smoke else 10
            start = time.perf_counter()
            for _ in range(steps):
                losses = t.train_step(hr, lr)
            _sync(s.device)
            per_step = (time.perf_counter() - start) / steps
            finite = all(bool(torch.isfinite(v)) for v in losses.values())
            scaler_ok = t.scaler.is_enabled() == (amp == "fp16")
            ok = finite and scaler_ok
            rows.append(Row(f"train {stage} {amp} (batch {batch}, {patch} px)", ok,
                            f"{per_step:.3f} s/step, {batch / per_step:.1f} samples/s"
                            + ("" if finite else ", NON-FINITE loss")
                            + ("" if scaler_ok else ", GradScaler state wrong")))
    return rows


# ----------------------------------------------------------------------------- upscale speed


def _model(s: Setup):  # type: ignore[no-untyped-def]
    from srgan_cli.models.loading import load, srresnet_descriptor
    from srgan_cli.models.srresnet import SRResNet

    if not s.smoke:
        return load("srresnet_x4")
    torch.manual_seed(0)
    return srresnet_descriptor(SRResNet(4, 2, 16).eval(), name="smoke", source="memory", card={})


def check_upscale(s: Setup) -> list[Row]:
    from srgan_cli.upscaling.upscaler import Upscaler

    model = _model(s)
    side = 48 if s.smoke else 512
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    net = model.torch_module().to(s.device).eval()
    x = torch.from_numpy(lr).permute(2, 0, 1)[None].float().div(255).to(s.device)

    def plain() -> np.ndarray:
        with torch.no_grad():
            y = net(x)[0].clamp(0, 1).mul(255).round().byte()
        return y.permute(1, 2, 0).cpu().numpy()

    def timed(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
        out = fn()  # warm-up
        _sync(s.device)
        start = time.perf_counter()
        out = fn()
        _sync(s.device)
        return time.perf_counter() - start, out

    mp = (side * 4) ** 2 / 1e6
    base_s, ref = timed(plain)
    rows = [Row(f"upscale plain fp32 eager {side}px x4", True, f"{mp / base_s:.2f} MP/s")]
    for precision in s.upscale_precisions:
        up = Upscaler(model, device=s.device, precision=precision, tile=0)
        sec, out = timed(lambda up=up: up.upscale_array(lr))
        diff = int(np.abs(out.astype(int) - ref.astype(int)).max())
        limit = 1 if precision == "fp32" else 8
        rows.append(Row(f"upscale Upscaler {precision} whole image", diff <= limit,
                        f"{mp / sec:.2f} MP/s ({base_s / sec:.2f}x plain), max diff {diff}"))
    return rows


# ----------------------------------------------------------------------------- out of memory


def check_oom(s: Setup) -> list[Row]:
    from srgan_cli.upscaling.upscaler import Upscaler

    model = _model(s)
    total = torch.cuda.get_device_properties(s.device).total_memory
    # An input whose whole-image activations need several GiB; cap the process at ~2 GiB.
    cap_bytes = 2 * 2**30
    side = 1536
    rng = np.random.default_rng(1)
    lr = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    reference = Upscaler(model, device=s.device, precision="fp32", tile=128).upscale_array(lr)
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(cap_bytes / total, s.device)
    try:
        up = Upscaler(model, device=s.device, precision="fp32", tile=side)
        start = time.perf_counter()
        out = up.upscale_array(lr)
        second = up.upscale_array(lr[:256, :256])  # the halved tile is kept for the next image
        sec = time.perf_counter() - start
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, s.device)
        torch.cuda.empty_cache()
    same = bool(np.array_equal(out, reference))
    halved = up.tile < side
    ok = same and halved and second.shape[0] == 1024
    return [Row(f"OOM halving ({side}px, memory capped at 2 GiB)", ok,
                f"tile {side} -> {up.tile}, identical to tile-128 reference: {same}, {sec:.1f} s")]


# ----------------------------------------------------------------------------- DDP


def check_ddp(s: Setup) -> list[Row]:
    from PIL import Image

    n = 2 if s.smoke else torch.cuda.device_count()
    data = s.work / "ddp_data"
    data.mkdir(exist_ok=True)
    rng = np.random.default_rng(2)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, size=(128, 128, 3), dtype=np.uint8)).save(
            data / f"{i}.png")
    run = s.work / "ddp_run"
    size = ["--num-blocks", "2", "--channels", "16"] if s.smoke else []
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={n}", "-m", "srgan_cli", "train", "--data", str(data),
           "--steps", "4", "--batch-size", "2", "--patch-size", "64", "--save-every", "2",
           "--val-every", "0", "--device", "cpu" if s.smoke else "cuda", "--run-dir", str(run),
           "--cache-dir", str(s.work / "cache"), "--workers", "0", *size]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    sec = time.perf_counter() - start
    ok = proc.returncode == 0 and (run / "last.pt").is_file()
    backend = "gloo" if s.smoke else "NCCL"
    detail = f"{n} processes, {sec:.1f} s" if ok else (
        f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:120]}")
    return [Row(f"DDP {backend} torchrun train (4 steps)", ok, detail)]


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true",
                    help="run the same code paths on the CPU with tiny sizes (no OOM check)")
    args = ap.parse_args(argv)
    if not args.cpu_smoke and not torch.cuda.is_available():
        print("gpu_check: no CUDA device visible (use --cpu-smoke to check the script itself)",
              file=sys.stderr)
        return 2
    os.environ.setdefault("SRGAN_OFFLINE", "1")
    device = torch.device("cpu") if args.cpu_smoke else torch.device("cuda", 0)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        s = Setup(device, args.cpu_smoke, Path(tmp))
        checks: list[Callable[[Setup], list[Row]]] = [check_training, check_upscale, check_ddp]
        if not args.cpu_smoke:
            checks.insert(2, check_oom)
        for check in checks:
            try:
                rows += check(s)
            except Exception as e:  # report every check, then fail at the end
                traceback.print_exc(file=sys.stderr)
                rows.append(Row(check.__name__, False, f"{type(e).__name__}: {e}"[:160]))
    where = "CPU smoke" if args.cpu_smoke else torch.cuda.get_device_name(0)
    print(f"gpu_check on {where}, torch {torch.__version__}")
    print(f"| {'check':52s} | ok | figures |")
    print(f"|{'-' * 54}|----|---------|")
    for r in rows:
        print(f"| {r.check:52s} | {'ok' if r.ok else 'NO'} | {r.figure} |")
    failed = [r for r in rows if not r.ok]
    print(f"{len(rows) - len(failed)} of {len(rows)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
