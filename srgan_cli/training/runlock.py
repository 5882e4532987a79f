"""One run per run folder: an exclusive lock on ``run_dir/.lock`` (holding the owner's PID) while
a run uses the folder, so two trainings never interleave metrics.jsonl or overwrite each other's
last.pt.

The lock is ``flock``: the kernel releases it when its process dies, so a lock file left by a
killed run never blocks the next one. Where ``fcntl`` does not exist (Windows) nothing is locked."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from srgan_cli.errors import CheckpointError, OutputError
from srgan_cli.messages import option

LOCK = ".lock"


@contextlib.contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock for the body; CheckpointError "run folder X is in use by
    process N" when another live process holds it."""
    try:
        import fcntl
    except ImportError:  # no flock on this platform
        yield
        return
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise OutputError(f"run folder {run_dir}: cannot write ({e.strerror or e})") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckpointError(
                f"run folder {run_dir} is in use by process {_owner(fd)}: wait for it to end, "
                f"or choose another {option('run_dir')}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _owner(fd: int) -> str:
    """The PID written in the lock file ("unknown" when it cannot be read)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
