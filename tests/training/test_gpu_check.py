"""bench/gpu_check.py must run wherever a GPU turns up: its CPU smoke mode runs the same code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cpu_smoke_runs_every_check() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--cpu-smoke"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = proc.stdout
    for check in ("train psnr bf16", "train gan bf16", "upscale Upscaler fp32",
                  "upscale Upscaler bf16", "DDP gloo torchrun"):
        assert check in table
    assert "6 of 6 checks passed" in table


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
