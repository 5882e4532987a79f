"""Plain helpers shared by tests: small images (noise, smooth content, saving, folders of
PNGs), random BatchNorm statistics, the environment of a child `srgan`, one torch thread, the
umask, a FIFO that cannot hang a test (`fifo_watchdog`), types, and the comparison of two
training states.

Fixtures live in `conftest.py`; builders of videos and animations in `media_builders.py`."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from torch import nn

CliResult = tuple[int, str, str]
RunCli = Callable[[list[str]], CliResult]  # the `run_cli` fixture of conftest.py
TinyModelFile = Callable[..., Path]  # the `tiny_model_file` fixture of conftest.py


def run_srgan(argv: list[str], capsys: Any) -> CliResult:
    """`srgan ARGV` in this process: (exit code, stdout, stderr) read from pytest's `capsys`."""
    from srgan_cli.cli.app import main

    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child `python -m srgan_cli`: this one with one OpenMP thread (the
    CPUs are shared) and without SRGAN_DEBUG (tracebacks would change what it prints), plus
    `extra`."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **extra}
    if "SRGAN_DEBUG" not in extra:
        env.pop("SRGAN_DEBUG", None)
    return env


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Torch on one intra-op thread inside the block: tiny tensors gain nothing from threads,
    and on a shared 2-core machine their barriers make each step several times slower. The
    `one_thread` fixture of conftest.py is this around a test; module-scoped fixtures use it
    directly."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def fifo_watchdog(path: Path, after: float = 5.0) -> Iterator[None]:
    """Make the FIFO `path`; from `after` seconds on, keep opening its write end so that code
    which wrongly opens it for reading gets EOF instead of blocking: a test of code that must
    never open a FIFO then fails on its assertions instead of hanging."""
    os.mkfifo(path)
    stop = threading.Event()

    def release() -> None:
        if stop.wait(after):
            return
        while not stop.is_set():
            with contextlib.suppress(OSError):  # ENXIO: nobody is reading
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            stop.wait(0.05)

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def random_bn_stats(net: nn.Module, spread: float = 0.3) -> None:
    """Random running statistics in every BatchNorm2d of `net` (mean in +-`spread`, variance in
    [0.5, 2]), drawn from torch's global generator: folding BatchNorm then really changes the
    weights."""
    from torch import nn

    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.uniform_(-spread, spread)
            m.running_var.uniform_(0.5, 2.0)


def random_pixels(shape: tuple[int, ...], dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    """Uniform random pixels over the whole range of the integer `dtype` (uint8, uint16)."""
    top = int(np.iinfo(dtype).max)
    return np.random.default_rng(seed).integers(0, top + 1, shape, dtype=dtype)


def noise(h: int, w: int, seed: int, gray: bool = False) -> np.ndarray:
    """Uniform random uint8 pixels, HxWx3 (HxW when `gray`)."""
    return random_pixels((h, w) if gray else (h, w, 3), seed=seed)


def smooth(h: int, w: int, seed: int) -> np.ndarray:
    """Random content upscaled with MATLAB bicubic: smooth enough for meaningful PSNR/SSIM."""
    from srgan_cli.media.resize import imresize

    return imresize(noise(h // 4 + 1, w // 4 + 1, seed), size=(h, w))


def save(path: Path, arr: np.ndarray, **kw: Any) -> Path:
    """Write `arr` with Pillow (format from the suffix), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


def noise_pngs(folder: Path, n: int, size: tuple[int, int], seed: int = 0) -> Path:
    """`n` noise PNGs 0.png, 1.png, ... of `size` (h, w) in `folder` (pixels of image i from
    seed + i). Returns `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        save(folder / f"{i}.png", noise(*size, seed + i))
    return folder


def tiny_set5(root: Path, sizes: list[tuple[int, int]]) -> Path:
    """`root`/Set5 in the benchmark layout: HR `im{i}.png` of smooth content, one per (h, w) in
    `sizes`, and their MATLAB-bicubic x2 LR under LR_bicubic/X2. Returns `root`."""
    from srgan_cli.media.resize import imresize, modcrop

    for i, (h, w) in enumerate(sizes):
        hr = smooth(h, w, i)
        save(root / "Set5" / "HR" / f"im{i}.png", hr)
        save(root / "Set5" / "LR_bicubic" / "X2" / f"im{i}x2.png", imresize(modcrop(hr, 2), 0.5))
    return root


def assert_same_training_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Two training states (`Trainer.state()` or a loaded checkpoint) are bit for bit the same:
    step, generator, EMA and discriminator weights, optimiser moments and learning rate (what
    a resumed run must reproduce)."""
    import torch

    assert a["step"] == b["step"]
    for part in ("generator", "ema", "discriminator"):
        if a.get(part) is None:
            assert b.get(part) is None
            continue
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs"
    for opt in ("opt_g", "opt_d"):
        if a.get(opt) is None:
            continue
        for i, sa in a[opt]["state"].items():
            for k, v in sa.items():
                assert torch.equal(torch.as_tensor(v), torch.as_tensor(b[opt]["state"][i][k]))
        assert a[opt]["param_groups"][0]["lr"] == b[opt]["param_groups"][0]["lr"]
