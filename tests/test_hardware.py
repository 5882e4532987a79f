"""CPU feature detection: parsed from the OS text, never guessed."""

from __future__ import annotations

import pytest

from srgan_cli import hardware

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480C
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 amx_tile amx_bf16

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480C
flags\t\t: fpu sse2 avx2 avx512f
"""
X86_NO_BF16 = "model name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx2 fma\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 bf16 i8mm\n"


def test_parse_first_cpu_model_and_flags() -> None:
    model, flags = hardware.parse_cpuinfo(X86)
    assert model == "Intel(R) Xeon(R) Platinum 8480C"
    assert {"avx512_bf16", "amx_bf16"} <= flags


@pytest.mark.parametrize(
    ("text", "expected"), [(X86, True), (X86_NO_BF16, False), (ARM, True), ("", False)]
)
def test_native_bf16_from_flags(text: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SRGAN_CPU_BF16", raising=False)
    assert hardware.native_bf16(hardware.parse_cpuinfo(text)[1]) is expected


def test_avx512_without_bf16_is_not_native() -> None:
    # AVX-512 alone emulates bf16 (slower and less exact than fp32): not native.
    assert not hardware.native_bf16(frozenset({"avx512f", "avx512bw", "avx512vl"}))


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("1", True)])
def test_environment_override(value: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRGAN_CPU_BF16", value)
    assert hardware.native_bf16(frozenset({"avx512_bf16"} if not expected else set())) is expected


def test_this_machine_answers() -> None:
    model, flags = hardware.cpu_info()
    assert isinstance(model, str) and model
    assert isinstance(flags, frozenset)
    assert hardware.cpu_threads() >= 1
