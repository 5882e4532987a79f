"""Shared test set-up: the same precision choice on every machine; fixtures for one-thread
torch, a run without installed models, an in-process CLI runner, tiny model files.

Plain helpers (small images, types) live in `helpers.py`, imported by the tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import RunCli, TinyModelFile, one_torch_thread, run_srgan


@pytest.fixture(autouse=True)
def _no_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--precision auto` picks bf16 on CPUs with native bf16; tests compare against fp32
    references, so they run as on a CPU without it (tests of `auto` set SRGAN_CPU_BF16)."""
    monkeypatch.setenv("SRGAN_CPU_BF16", "0")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """The test runs with torch on one thread (`helpers.one_torch_thread`): tiny tensors gain
    nothing from intra-op threads, whose barriers slow each step on shared CPUs."""
    with one_torch_thread():
        yield


@pytest.fixture
def no_bundled_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No installed model and no default data root: SRGAN_WEIGHTS_DIR names a folder that does
    not exist (nothing is created in tmp_path) and SRGAN_DATA is unset."""
    monkeypatch.setenv("SRGAN_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.delenv("SRGAN_DATA", raising=False)


@pytest.fixture
def in_tmp_without_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           one_thread: None) -> None:
    """Run in tmp_path with an empty weights folder and one torch thread (shared CPUs)."""
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setenv("SRGAN_WEIGHTS_DIR", str(weights))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run `srgan ARGV` in this process: (exit code, stdout, stderr)."""
    return lambda argv: run_srgan(argv, capsys)


@pytest.fixture
def tiny_model_file(tmp_path: Path) -> TinyModelFile:
    """Factory: a 1-block, 4-channel SRResNet saved as our .safetensors (seeded weights)."""

    def make(scale: int = 4, name: str = "tiny.safetensors", **card: str) -> Path:
        import torch

        from srgan_cli.models.bundled import save_model
        from srgan_cli.models.srresnet import SRResNet

        torch.manual_seed(0)
        path = tmp_path / name
        save_model(SRResNet(scale=scale, num_blocks=1, channels=4), path, card or {"note": "test"})
        return path

    return make
