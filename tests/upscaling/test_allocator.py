"""glibc keeps large freed blocks for reuse once an upscale starts on the CPU."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from helpers import child_env

from srgan_cli.upscaling import allocator

# Page faults of touching a fresh 64 MiB malloc block after freeing one: ~16,000 (4 KiB pages;
# fewer with transparent huge pages) when glibc maps and unmaps it, ~0 when the heap keeps it.
CHURN = """
import ctypes, resource, sys
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "keep":
    from srgan_cli.upscaling.allocator import keep_freed_memory
    assert keep_freed_memory(768 << 20)
def touch():
    p = libc.malloc(64 << 20); ctypes.memset(p, 1, 64 << 20); libc.free(p)
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    touch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_large_blocks_are_reused_not_faulted_in_again() -> None:
    faults = {}
    for way in ("default", "keep"):
        run = subprocess.run([sys.executable, "-c", CHURN, way], capture_output=True, text=True,
                             env=child_env(), check=True)
        faults[way] = int(run.stdout)
    assert faults["default"] >= 3 * 32  # each block mapped and faulted anew (even in 2 MiB pages)
    assert faults["keep"] < faults["default"] / 10


def test_upscaler_on_the_cpu_keeps_freed_memory_within_its_budget(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan_cli.models.loading import load
    from srgan_cli.upscaling import upscaler

    calls: list[int] = []
    monkeypatch.setattr(upscaler, "keep_freed_memory", calls.append)
    up = upscaler.Upscaler(load("bicubic"), device="cpu", precision="fp32", memory_budget=1 << 28)
    assert calls == [1 << 28] and up.memory_budget == 1 << 28
    assert up.upscale_array(np.zeros((4, 4, 3), np.uint8)).shape == (16, 16, 3)


def test_off_glibc_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    allocator._mallopt.cache_clear()
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    try:
        assert allocator.keep_freed_memory(1 << 20) is False
    finally:
        allocator._mallopt.cache_clear()
