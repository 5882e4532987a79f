"""bench/gpu_check.py must run wherever a GPU turns up: its CPU smoke mode runs the same code,
every training stage and precision included (fp16 with a CPU GradScaler)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import child_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cpu_smoke_runs_every_check() -> None:
    env = child_env(PYTHONPATH=str(ROOT))  # one thread: fp16 kernels are slow on a CPU
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--cpu-smoke"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")][1:]
    checks = [row.split("|")[1].strip() for row in rows]
    # every training stage and precision the GPU check runs, through the same calls
    for stage in ("psnr", "gan"):
        for amp in ("fp16", "bf16"):
            assert any(c.startswith(f"train {stage} {amp} ") for c in checks), checks
    for check in ("srgan train on PNGs", "upscale plain fp32", "upscale Upscaler fp32",
                  "upscale Upscaler bf16", "srgan upscale folder", "DDP gloo torchrun"):
        assert any(c.startswith(check) for c in checks), checks
    assert all(row.split("|")[2].strip() == "ok" for row in rows), proc.stdout
    train_cli = next(r for r in rows if "srgan train on PNGs" in r)
    assert "samples/s" in train_cli and "GPU utilisation n/a (CPU)" in train_cli
    assert "MP/s" in next(r for r in rows if "srgan upscale folder" in r)
    assert f"{len(rows)} of {len(rows)} checks passed" in proc.stdout and len(rows) == 10


@pytest.mark.slow
def test_without_cuda_it_says_so() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr
    assert "Traceback" not in proc.stderr
