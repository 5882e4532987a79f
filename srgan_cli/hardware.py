"""What this machine's CPU can do natively, read from the OS (never guessed from the model name).

Used to pick a precision: bf16 is only the CPU default where the instruction set computes it
natively (AVX512-BF16 or AMX-BF16 on x86, FEAT_BF16 on Arm); elsewhere bf16 runs emulated and is
both slower and less exact than fp32. Imports no torch, so `srgan doctor` and start-up stay fast.
"""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache

from srgan_cli.options import cpu_bf16_forced

# x86 /proc/cpuinfo "flags" and Arm "Features" names that mean native bf16 arithmetic.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """(model name, feature flags) from the text of Linux's /proc/cpuinfo (first CPU listed)."""
    model = ""
    flags: frozenset[str] = frozenset()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = frozenset(value.split())
    return model, flags


@lru_cache(maxsize=1)
def cpu_info() -> tuple[str, frozenset[str]]:
    """(model name, flags) of this CPU; empty flags where the OS does not say."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            model, flags = parse_cpuinfo(f.read())
    except OSError:
        model, flags = "", frozenset()
    if platform.system() == "Darwin":
        model = model or _sysctl("machdep.cpu.brand_string")
        if _sysctl("hw.optional.arm.FEAT_BF16") == "1":
            flags = flags | {"bf16"}
    return model or platform.processor() or platform.machine(), flags


def _sysctl(name: str) -> str:
    try:
        return subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=2, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def native_bf16(flags: frozenset[str] | None = None) -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16, AMX-BF16 or Arm FEAT_BF16).

    `SRGAN_CPU_BF16=0|1` overrides the detection (for tests and for machines that hide flags)."""
    forced = cpu_bf16_forced()
    if forced is not None:
        return forced
    return bool(BF16_FLAGS & (cpu_info()[1] if flags is None else flags))


def cpu_threads() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
