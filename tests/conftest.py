"""Shared test set-up: the same precision choice on every machine."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--precision auto` picks bf16 on CPUs with native bf16; tests compare against fp32
    references, so they run as on a CPU without it (tests of `auto` set SRGAN_CPU_BF16)."""
    monkeypatch.setenv("SRGAN_CPU_BF16", "0")
