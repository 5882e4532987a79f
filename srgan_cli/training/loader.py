"""The training batches: decode cache -> patch dataset -> a DataLoader whose sample order is a
pure function of the step (so a resumed run sees the batches the interrupted one would have)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from srgan_cli import distributed as dist_utils
from srgan_cli.media.discovery import gather_sources
from srgan_cli.training.config import TrainConfig
from srgan_cli.training.data import (
    PatchDataset,
    StepBatchSampler,
    build_cache,
    default_cache_dir,
    worker_init,
)


def build_loader(cfg: TrainConfig, start_step: int, dist: dist_utils.DistInfo,
                 device: torch.device, log: Callable[[str], None]) -> DataLoader:
    """Batches of uint8 (HR, LR) patches from `start_step` to `cfg.steps`, this rank's share.

    The main process fills the decode cache first; the others then read it."""
    sources = gather_sources(cfg.data, cfg.lowres_data, cfg.scale, cfg.data_root)
    cache = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    if dist.is_main:
        t0 = time.perf_counter()
        entries = build_cache(sources, cfg.scale, cfg.patch_size, cache, skip_bad=cfg.skip_bad,
                              warn=log)
        log(f"{len(entries)} training images decoded into {cache} "
            f"({time.perf_counter() - t0:.1f} s)")
    dist_utils.barrier(dist)
    if not dist.is_main:
        entries = build_cache(sources, cfg.scale, cfg.patch_size, cache, skip_bad=cfg.skip_bad,
                              warn=lambda m: None)
    dataset = PatchDataset(entries, cfg.scale, cfg.patch_size, cfg.seed)
    sampler = StepBatchSampler(start_step, cfg.steps, cfg.batch_size, dist.rank, dist.world_size)
    workers = cfg.workers
    if workers < 0:
        workers = 0 if device.type != "cuda" else min(8, os.cpu_count() or 1)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        worker_init_fn=worker_init if workers > 0 else None,
    )


class WorkerDied(Exception):
    """A DataLoader worker process died (killed, or exited with an error) under the loop."""


@contextlib.contextmanager
def batches(loader: DataLoader) -> Iterator[Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """Iterate `loader`. An error raised in the block while one of its worker processes lies
    dead becomes WorkerDied (torch reports a dead worker in several ways: its own RuntimeError,
    raised from its SIGCHLD handler anywhere in the main thread, or a ConnectionResetError
    while fetching a batch the worker was sending). At the block's end the workers are stopped
    at once, not whenever the iterator is collected, so the checkpoint saved after a stop is not
    cut short by a late report of a worker's exit."""
    it = iter(loader)
    try:
        yield it
    except Exception as e:
        death = _dead_worker(it)
        if death is None:
            raise
        raise WorkerDied(death) from e
    finally:
        _stop_workers(it)


def _stop_workers(it: object) -> None:
    """Stop the worker processes of the iterator `it` (torch's shutdown, when it has any)."""
    shutdown = getattr(it, "_shutdown_workers", None)
    if shutdown is None:
        return
    try:
        shutdown()
    except RuntimeError:  # the others' exit woke torch's SIGCHLD check, which found the dead one
        if _dead_worker(it, wait_s=0) is None:
            raise


def _dead_worker(it: object, wait_s: float = 0.5) -> str | None:
    """"a data loader worker (pid N) died (killed by SIGKILL)" for the first worker process of
    the iterator `it` found dead; None when all live. A worker whose pipe broke may not be
    reaped yet: its state is polled for up to `wait_s`."""
    workers = getattr(it, "_workers", [])
    deadline = time.monotonic() + wait_s
    while workers:
        try:
            for w in workers:
                code = w.exitcode
                if code:
                    how = (f"killed by {signal.Signals(-code).name}" if code < 0
                           else f"exit code {code}")
                    return f"a data loader worker (pid {w.pid}) died ({how})"
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        except RuntimeError:  # torch's SIGCHLD handler, reporting the death waited for here
            continue
    return None


def to_device(t: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """A uint8 NCHW batch as float in [0, 1] on the device."""
    x = t.to(device, non_blocking=True).float().div_(255)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x
