"""torchrun: detect the launch, meet the other processes, share work and gather results.

Training (DDP), `srgan upscale` and `srgan eval` all run under torchrun through this module.
torchrun's variables (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) are checked
before anything waits on them: malformed or inconsistent ones (leftovers in a shell, say) are a
UsageError naming them. The processes then wait for each other at most `options.dist_timeout`
seconds ($SRGAN_DIST_TIMEOUT), not forever; collectives keep torch's own timeout.
Imports no torch until a process group is needed (`srgan eval --model bicubic` starts fast).

Work is shared by index: of N planned items, process `rank` takes those i with
i % world_size == rank (`shard`); every process plans the same list, so none needs to be sent."""

from __future__ import annotations

import atexit
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from srgan_cli.errors import UsageError
from srgan_cli.messages import one_line
from srgan_cli.options import DIST_TIMEOUT_ENV, dist_timeout

if TYPE_CHECKING:
    import torch
    from torch import nn

T = TypeVar("T")
TORCHRUN_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
_ONE_PROCESS = "launch with torchrun, or unset them to run in one process"


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


@overload
def rank_device(spec: str, info: DistInfo) -> str: ...
@overload
def rank_device(spec: torch.device, info: DistInfo) -> str | torch.device: ...
@overload
def rank_device(spec: str | torch.device, info: DistInfo) -> str | torch.device: ...
def rank_device(spec: str | torch.device, info: DistInfo) -> str | torch.device:
    """The device this process runs on: under torchrun, a CUDA device spec (or "auto" on a
    machine with CUDA) means this process's own GPU, cuda:LOCAL_RANK; anything else as given."""
    if not info.enabled:
        return spec
    from srgan_cli.devices import resolve_device

    if resolve_device(str(spec)).type != "cuda":
        return spec
    local = f"cuda:{info.local_rank}"
    resolve_device(local)  # DeviceError when this machine has fewer GPUs than processes
    return local


def init(info: DistInfo, device: torch.device | None = None) -> None:
    """Start the process group: NCCL for tensors on CUDA, gloo otherwise (`device` None: only
    Python objects are exchanged, on the CPU). The processes meet through torchrun's variables
    (env://) and wait for each other at most `options.dist_timeout()` seconds: UsageError,
    naming the variables and $SRGAN_DIST_TIMEOUT, when some never come. Meeting is also a
    barrier: no process goes on before all have arrived. One process: nothing (and no torch)."""
    if not info.enabled:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        return
    backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
    seconds = dist_timeout()
    try:  # the timeout bounds the meeting (torch's env:// rendezvous) and each exchange
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size,
                                timeout=timedelta(seconds=seconds))
    except (dist.DistError, RuntimeError, ValueError) as e:
        where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
        raise UsageError(
            f"process {info.rank} of {info.world_size} (torchrun variables WORLD_SIZE, RANK): "
            f"the processes did not all meet at {where} within {seconds:g} s "
            f"({one_line(e, limit=200, first_line=True)}); start every process with torchrun, "
            f"unset WORLD_SIZE and RANK to train in one process, or raise "
            f"{DIST_TIMEOUT_ENV}") from e
    atexit.register(shutdown)  # a command that shares work leaves the group on its way out


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(items: Sequence[T], info: DistInfo) -> list[T]:
    """This process's share of `items`: those at i % world_size == rank (all of them in a
    single process). Every process must pass the same list."""
    return list(items[info.rank::info.world_size])


def unshard(parts: Sequence[Sequence[T]]) -> list[T]:
    """The items `shard` split, back in their order, from every process's share (rank order)."""
    total = sum(len(p) for p in parts)
    world = len(parts)
    return [parts[i % world][i // world] for i in range(total)]


def gather_to_main(obj: Any, info: DistInfo) -> list[Any] | None:
    """Every process's `obj`, in rank order, on rank 0 (None elsewhere); [obj] in a single
    process. Collective: every process must call it (the process group started by `init`)."""
    if not info.enabled:
        return [obj]
    import torch.distributed as dist

    out: list[Any] | None = [None] * info.world_size if info.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def gather_all(obj: Any, info: DistInfo) -> list[Any]:
    """Every process's `obj`, in rank order, on every process; [obj] in a single process."""
    if not info.enabled:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def mean_across(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over ranks (identity in a single process)."""
    if not info.enabled:
        return t
    import torch.distributed as dist

    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / info.world_size


def any_across(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True if `flag` is set on any rank (all ranks get the same answer)."""
    if not info.enabled:
        return flag
    import torch
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def average_buffers(module: nn.Module | None, info: DistInfo) -> None:
    """Average floating-point buffers (BatchNorm running statistics) over ranks, in place.

    DDP keeps parameters identical, but each rank updates its BatchNorm statistics from its own
    batch; averaging them (collective: every rank must call it) leaves all replicas equal."""
    if module is None or not info.enabled:
        return
    import torch.distributed as dist

    for b in module.buffers():
        if b.is_floating_point():
            dist.all_reduce(b, op=dist.ReduceOp.SUM)
            b.div_(info.world_size)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()
