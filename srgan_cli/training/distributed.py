"""torchrun / DDP helpers: detect the launch, initialise the process group, reduce scalars.

torchrun's variables (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) are checked
before anything waits on them: malformed or inconsistent ones (leftovers in a shell, say) are a
UsageError naming them. The processes then wait for each other at most `options.dist_timeout`
seconds ($SRGAN_DIST_TIMEOUT), not forever; collectives keep torch's own timeout."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from srgan_cli.errors import UsageError
from srgan_cli.messages import one_line
from srgan_cli.options import DIST_TIMEOUT_ENV, dist_timeout

TORCHRUN_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
_ONE_PROCESS = "launch with torchrun, or unset them to train in one process"


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> DistInfo:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK (single process when WORLD_SIZE is absent
    or 1). UsageError naming the variables when they are malformed or do not fit together."""
    env = {k: os.environ.get(k) for k in TORCHRUN_VARS}
    world = _whole(env, "WORLD_SIZE", 1)
    rank = _whole(env, "RANK", 0)
    local_rank = _whole(env, "LOCAL_RANK", 0)
    if world < 1:
        raise _bad(env, "WORLD_SIZE must be at least 1")
    if world > 1 and env["RANK"] is None:
        raise _bad(env, "RANK is needed when WORLD_SIZE is above 1")
    if not 0 <= rank < world:
        raise _bad(env, f"RANK must be from 0 to {world - 1}")
    if local_rank < 0:
        raise _bad(env, "LOCAL_RANK must be at least 0")
    if world == 1:
        return DistInfo()
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if not (env[name] or "").strip():
            raise _bad(env, f"{name} is needed when WORLD_SIZE is above 1")
    if not 1 <= _whole(env, "MASTER_PORT", 0) <= 65535:
        raise _bad(env, "MASTER_PORT must be a port number from 1 to 65535")
    return DistInfo(rank, world, local_rank)


def _whole(env: dict[str, str | None], name: str, default: int) -> int:
    """The whole number in variable `name` (`default` when unset); UsageError otherwise."""
    text = env[name]
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        raise _bad(env, f"{name} must be a whole number") from None


def _bad(env: dict[str, str | None], why: str) -> UsageError:
    """The one-line error for torchrun variables that cannot describe a launch."""
    shown = ", ".join(f"{k}={v!r}" for k, v in env.items() if v is not None)
    return UsageError(f"torchrun variables {shown}: {why}; {_ONE_PROCESS}")


def init(info: DistInfo, device: torch.device) -> None:
    """Start the process group: NCCL on CUDA, gloo otherwise. The processes meet through
    torchrun's variables (env://) and wait for each other at most `options.dist_timeout()`
    seconds: UsageError, naming the variables and $SRGAN_DIST_TIMEOUT, when some never come."""
    if not info.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    seconds = dist_timeout()
    try:
        store, _, _ = next(dist.rendezvous("env://", info.rank, info.world_size,
                                           timeout=timedelta(seconds=seconds)))
    except (dist.DistError, RuntimeError, ValueError) as e:
        where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
        raise UsageError(
            f"process {info.rank} of {info.world_size} (torchrun variables WORLD_SIZE, RANK): "
            f"the processes did not all meet at {where} within {seconds:g} s "
            f"({one_line(e, limit=200, first_line=True)}); start every process with torchrun, "
            f"unset WORLD_SIZE and RANK to train in one process, or raise "
            f"{DIST_TIMEOUT_ENV}") from e
    store.set_timeout(dist.constants.default_pg_timeout)  # collectives: torch's own timeout
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size,
                            store=store)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def mean_across(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over ranks (identity in a single process)."""
    if not info.enabled:
        return t
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / info.world_size


def any_across(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True if `flag` is set on any rank (all ranks get the same answer)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def average_buffers(module: nn.Module | None, info: DistInfo) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over ranks, in place.

    DDP keeps parameters identical, but each rank updates its BatchNorm statistics from its own
    batch; averaging them (collective: every rank must call it) leaves all replicas equal."""
    if module is None or not info.enabled:
        return
    for b in module.buffers():
        if b.is_floating_point():
            dist.all_reduce(b, op=dist.ReduceOp.SUM)
            b.div_(info.world_size)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
