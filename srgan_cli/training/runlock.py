"""One run per run folder: an exclusive lock on ``run_dir/.lock`` (holding the owner's PID) while
a run uses the folder, so two trainings never interleave metrics.jsonl or overwrite each other's
last.pt.

The lock is `filelock`'s (flock on POSIX, LockFileEx on Windows): the system releases it when
its process dies, so a lock file left by a killed run never blocks the next one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from srgan_cli.errors import CheckpointError, OutputError

LOCK = ".lock"


@contextlib.contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock for the body; CheckpointError "run folder X is in use by
    process N" when another live process holds it."""
    from filelock import FileLock, Timeout

    path = run_dir / LOCK
    lock = FileLock(path, timeout=0)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise CheckpointError(
            f"run folder {run_dir} is in use by process {_owner(path)}: wait for it to end, "
            "or choose another --run-dir"
        ) from None
    except OSError as e:
        raise OutputError(f"run folder {run_dir}: cannot write ({e.strerror or e})") from e
    try:
        with contextlib.suppress(OSError):  # the PID is for the message of a second run only
            path.write_text(f"{os.getpid()}\n", encoding="ascii")
        yield
    finally:
        lock.release()


def _owner(path: Path) -> str:
    """The PID written in the lock file ("unknown" when it cannot be read)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
