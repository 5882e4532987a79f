"""GPU check: exercise and time, on a CUDA machine, what the CPU test suite can only simulate.

One run (a few minutes on one GPU) covers:
- training steps of both stages (psnr, gan with a random-init VGG19 for its vgg54 content loss)
  in fp16 + GradScaler and in bf16 autocast, channels_last, finite losses, the scaler really
  enabled for fp16. Each step is `Trainer.train_batch` on a uint8 batch, the very call the
  training loop makes on what its loader gives, so the check cannot drift from `srgan train`;
- a real-data `srgan train` run (the CLI in a subprocess on generated PNGs): samples/s, and on
  CUDA the GPU utilisation read through NVML while it trains;
- upscale MP/s of the bundled model in fp32 / bf16 / fp16 through the Upscaler against the plain
  way (fp32 eager whole image), with the largest output difference to it;
- a whole-process folder upscale: `srgan upscale DIR -o OUT` in a subprocess, MP/s of output
  counting start-up, decode and encode;
- the real CUDA out-of-memory path: memory capped with `torch.cuda.set_per_process_memory_fraction`
  so a whole-image run cannot fit; the Upscaler must halve its tile, keep the halved tile, and give
  the same pixels as a small-tile reference;
- NCCL DDP: `torchrun --nproc_per_node=<GPUs>` running `srgan train` for a few steps, replicas'
  checkpoint written by rank 0.

Prints one table and exits non-zero if any check fails. `--cpu-smoke` runs the same code paths on
the CPU with tiny sizes: every training stage and precision the GPU check runs (CPU autocast
takes fp16 and a CPU GradScaler), gloo instead of NCCL, no OOM check, no fp16 inference (refused
on the CPU); the test suite runs it so the script cannot rot between GPU sessions.

Run: .venv/bin/python bench/gpu_check.py            (on a CUDA machine)
     .venv/bin/python bench/gpu_check.py --cpu-smoke
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from srgan_cli.models.descriptor import ModelDescriptor
    from srgan_cli.models.srresnet import SRResNet


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
        """Training precisions: fp16 everywhere (the CPU smoke too), bf16 where supported."""
        if self.smoke or torch.cuda.is_bf16_supported():
            return ("fp16", "bf16")
        return ("fp16",)

    @property
    def upscale_precisions(self) -> tuple[str, ...]:
        return ("fp32", "bf16") if self.smoke else ("fp32", *self.amps)

    @property
    def model_flags(self) -> list[str]:
        """The generator size of the smoke's CLI runs (the default one on a GPU)."""
        return ["--num-blocks", "2", "--channels", "16"] if self.smoke else []


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _write_pngs(folder: Path, n: int, side: int, seed: int) -> Path:
    """`n` PNGs of smooth random content (bicubic-enlarged noise), `side` px square."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        small = rng.integers(0, 256, size=(side // 4, side // 4, 3), dtype=np.uint8)
        big = Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC)
        big.save(folder / f"{i}.png")
    return folder


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[-1][:120]


# ----------------------------------------------------------------------------- training steps


def check_training(s: Setup) -> list[Row]:
    from srgan_cli.models.bundled import save_model
    from srgan_cli.models.vgg import random_vgg_features
    from srgan_cli.training.config import TrainConfig
    from srgan_cli.training.loop import Trainer

    batch, patch = (2, 32) if s.smoke else (16, 96)
    size: dict[str, Any] = {"num_blocks": 2, "channels": 16} if s.smoke else {}
    # a batch as the training loader gives it: uint8 NCHW on the CPU, LR the HR averaged x4
    g = torch.Generator().manual_seed(0)
    hr = torch.randint(0, 256, (batch, 3, patch, patch), dtype=torch.uint8, generator=g)
    lr = torch.nn.functional.avg_pool2d(hr.float(), 4).round().to(torch.uint8)
    init = s.work / "init.safetensors"
    base = Trainer(TrainConfig(device="cpu", run_dir=str(s.work / "init"), **size),
                   log=lambda m: None, show_progress=False)
    save_model(base.generator, init, {})
    vgg = random_vgg_features()  # the real VGG19 (vgg54), random weights: same cost
    steps = 1 if s.smoke else 10
    rows = []
    for stage in ("psnr", "gan"):
        for amp in s.amps:
            name = f"train {stage} {amp} (batch {batch}, {patch} px)"
            try:
                extra: dict[str, Any] = {"init": str(init)} if stage == "gan" else {}
                cfg = TrainConfig(stage=stage, amp=amp, device=str(s.device), batch_size=batch,
                                  patch_size=patch, channels_last=True,
                                  run_dir=str(s.work / f"{stage}_{amp}"), **size, **extra)
                cfg.validate()
                t = Trainer(cfg, vgg=vgg if stage == "gan" else None, log=lambda m: None,
                            show_progress=False)
                t.train_batch(hr, lr)  # warm-up: kernels, cuDNN autotune
                _sync(s.device)
                start = time.perf_counter()
                for _ in range(steps):
                    t.train_batch(hr, lr)  # reads the losses: a host sync, as in the loop
                per_step = (time.perf_counter() - start) / steps
                scaler_ok = t.scaler.is_enabled() == (amp == "fp16")
                counted = t.step == steps + 1
                rows.append(Row(name, scaler_ok and counted,
                                f"{per_step:.3f} s/step, {batch / per_step:.1f} samples/s"
                                + ("" if scaler_ok else ", GradScaler state wrong")
                                + ("" if counted else f", {t.step} steps counted")))
            except Exception as e:  # a non-finite loss is a TrainingError: this row fails
                traceback.print_exc(file=sys.stderr)
                rows.append(Row(name, False, f"{type(e).__name__}: {e}"[:160]))
    return rows


# ----------------------------------------------------------------------------- srgan train


class _Utilisation:
    """GPU utilisation (%) sampled through NVML every 0.2 s while `sampling` is set: torch's
    `torch.cuda.utilization` (needs pynvml), else nvidia-smi (NVML too); None where neither
    answers."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.samples: list[float] = []
        self.sampling = threading.Event()
        self.done = threading.Event()
        self.why = ""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def read(self) -> float | None:
        try:
            return float(torch.cuda.utilization(self.device))
        except Exception as e:
            self.why = f"{type(e).__name__}"
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                                  "--format=csv,noheader,nounits",
                                  f"--id={self.device.index or 0}"],
                                 capture_output=True, text=True, timeout=10)
            return float(out.stdout.strip())
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            self.why += f", nvidia-smi: {type(e).__name__}"
            return None

    def _run(self) -> None:
        while not self.done.is_set():
            if self.sampling.is_set():
                value = self.read()
                if value is None:
                    return
                self.samples.append(value)
            time.sleep(0.2)

    def stop(self) -> str:
        self.done.set()
        self._thread.join()
        if not self.samples:
            return f"GPU utilisation n/a ({self.why or 'no sample'})"
        return (f"GPU utilisation mean {sum(self.samples) / len(self.samples):.0f}% "
                f"(NVML, {len(self.samples)} samples)")


def check_train_cli(s: Setup) -> list[Row]:
    """`srgan train` as a user runs it, on PNGs in a folder: samples/s of the training windows
    after the first (which holds the warm-up), GPU utilisation sampled while it trains."""
    import json

    n, side = (4, 64) if s.smoke else (32, 256)
    batch, patch, steps, log_every = (2, 32, 6, 2) if s.smoke else (16, 96, 300, 50)
    data = _write_pngs(s.work / "train_data", n, side, seed=3)
    run = s.work / "train_run"
    cmd = [sys.executable, "-m", "srgan_cli", "train", "--data", str(data),
           "--steps", str(steps), "--batch-size", str(batch), "--patch-size", str(patch),
           "--log-every", str(log_every), "--val-every", "0", "--save-every", str(steps),
           "--device", str(s.device), "--run-dir", str(run),
           "--cache-dir", str(s.work / "cache"), *s.model_flags,
           *(["--workers", "2"] if s.smoke else [])]
    util = _Utilisation(s.device) if s.device.type == "cuda" else None
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # sample the GPU from the first record to the last
        lines.append(line)
        if util is not None and line.startswith("step "):
            util.sampling.set()
        if util is not None and line.startswith("done:"):
            util.sampling.clear()
    code = proc.wait(timeout=600)
    gpu = util.stop() if util is not None else "GPU utilisation n/a (CPU)"
    name = f"srgan train on PNGs ({steps} steps, batch {batch}, {patch} px)"
    if code != 0:
        return [Row(name, False, f"exit {code}: {_last_line(''.join(lines))}")]
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()][1:]
    samples = len(records) * batch * log_every
    seconds = sum(r["sec_per_step"] * log_every for r in records)
    ok = bool(records) and (run / "last.pt").is_file()
    return [Row(name, ok, f"{samples / seconds:.1f} samples/s, {gpu}" if records
                else "no training record")]


# ----------------------------------------------------------------------------- upscale speed


def _smoke_net() -> SRResNet:
    """The smoke's tiny generator (seeded): the bundled model's place on the CPU."""
    from srgan_cli.models.srresnet import SRResNet

    torch.manual_seed(0)
    return SRResNet(4, 2, 16).eval()


def _model(s: Setup) -> ModelDescriptor:
    from srgan_cli.models.loading import load, srresnet_descriptor

    if not s.smoke:
        return load("srresnet_x4")
    return srresnet_descriptor(_smoke_net(), name="smoke", source="memory", card={})


def check_upscale(s: Setup) -> list[Row]:
    from srgan_cli.upscaling.upscaler import Upscaler

    model = _model(s)
    side = 48 if s.smoke else 512
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    module = model.torch_module()
    assert module is not None  # our SRResNet
    net = module.to(s.device).eval()
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
        sec, out = timed(partial(up.upscale_array, lr))
        diff = int(np.abs(out.astype(int) - ref.astype(int)).max())
        limit = 1 if precision == "fp32" else 8
        rows.append(Row(f"upscale Upscaler {precision} whole image", diff <= limit,
                        f"{mp / sec:.2f} MP/s ({base_s / sec:.2f}x plain), max diff {diff}"))
    return rows


# ----------------------------------------------------------------------------- folder upscale


def check_upscale_folder(s: Setup) -> list[Row]:
    """`srgan upscale DIR -o OUT` as a whole process (start-up, decode, model, encode): MP/s of
    output over the wall time."""
    from srgan_cli.models.bundled import save_model

    n, side = (3, 48) if s.smoke else (16, 512)
    src = _write_pngs(s.work / "upscale_in", n, side, seed=4)
    out = s.work / "upscale_out"
    model: list[str] = []
    if s.smoke:  # the smoke's tiny generator (the bundled one on a GPU)
        path = s.work / "smoke_model.safetensors"
        save_model(_smoke_net(), path, {})
        model = ["--model", str(path)]
    cmd = [sys.executable, "-m", "srgan_cli", "upscale", str(src), "-o", str(out),
           "--device", str(s.device), *model]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    sec = time.perf_counter() - start
    written = sorted(out.glob("*.png")) if out.is_dir() else []
    ok = proc.returncode == 0 and len(written) == n
    mp = n * (side * 4) ** 2 / 1e6
    name = f"srgan upscale folder ({n} x {side}px PNG, x4), whole process"
    if not ok:
        return [Row(name, False, f"exit {proc.returncode}, {len(written)} of {n} written: "
                                 f"{_last_line(proc.stderr)}")]
    return [Row(name, True, f"{mp / sec:.2f} MP/s ({mp:.1f} MP in {sec:.1f} s)")]


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
    n = 2 if s.smoke else torch.cuda.device_count()
    data = _write_pngs(s.work / "ddp_data", 4, 128, seed=2)
    run = s.work / "ddp_run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={n}", "-m", "srgan_cli", "train", "--data", str(data),
           "--steps", "4", "--batch-size", "2", "--patch-size", "64", "--save-every", "2",
           "--val-every", "0", "--device", "cpu" if s.smoke else "cuda", "--run-dir", str(run),
           "--cache-dir", str(s.work / "cache"), "--workers", "0", *s.model_flags]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    sec = time.perf_counter() - start
    ok = proc.returncode == 0 and (run / "last.pt").is_file()
    backend = "gloo" if s.smoke else "NCCL"
    detail = f"{n} processes, {sec:.1f} s" if ok else (
        f"exit {proc.returncode}: {_last_line(proc.stderr)}")
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
        checks: list[Callable[[Setup], list[Row]]] = [
            check_training, check_train_cli, check_upscale, check_upscale_folder, check_ddp]
        if not args.cpu_smoke:
            checks.insert(4, check_oom)
        for check in checks:
            try:
                rows += check(s)
            except Exception as e:  # report every check, then fail at the end
                traceback.print_exc(file=sys.stderr)
                rows.append(Row(check.__name__, False, f"{type(e).__name__}: {e}"[:160]))
    where = "CPU smoke" if args.cpu_smoke else torch.cuda.get_device_name(0)
    print(f"gpu_check on {where}, torch {torch.__version__}")
    print(f"| {'check':60s} | ok | figures |")
    print(f"|{'-' * 62}|----|---------|")
    for r in rows:
        print(f"| {r.check:60s} | {'ok' if r.ok else 'NO'} | {r.figure} |")
    failed = [r for r in rows if not r.ok]
    print(f"{len(rows) - len(failed)} of {len(rows)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
