"""One run per run folder, and only runs in it.

An exclusive lock on ``run_dir/.lock`` (holding the owner's PID) while a run uses the folder, so
two trainings never interleave metrics.jsonl or overwrite each other's last.pt. The lock is
``flock``: the kernel releases it when its process dies, so a lock file left by a killed run
never blocks the next one. Where ``fcntl`` does not exist (Windows) the file is written but
nothing is locked.

The lock file is also what marks a run folder as a run's own (`check_run_folder`): a run writes
config.toml and metrics.jsonl there, so it starts only in a folder that is new, empty, or marked,
never in one whose files a user wrote (their config.toml would be replaced, their log appended
to). Not `filelock`: it opens the lock file with O_TRUNC, which would erase the owner's PID (the
run folder's mark and the "in use by process N" of a second run) whenever another run tries it."""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from srgan_cli.errors import CheckpointError, OutputError
from srgan_cli.fileio import temp_target
from srgan_cli.messages import option, show_path
from srgan_cli.training.checkpoint import LAST

try:
    import fcntl
except ImportError:  # no flock on this platform
    fcntl = None  # type: ignore[assignment]

LOCK = ".lock"
_PID_LINE = re.compile(rb"\d+\n?")  # what a run writes into its lock file


@contextlib.contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock for the body; CheckpointError "run folder X is in use by
    process N" when another live process holds it."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise OutputError(f"run folder {run_dir}: cannot write ({e.strerror or e})") from e
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CheckpointError(
                    f"run folder {run_dir} is in use by process {_owner(fd)}: wait for it to "
                    f"end, or choose another {option('run_dir')}"
                ) from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def check_run_folder(run_dir: Path) -> None:
    """OutputError unless a run may use `run_dir`: absent, empty, a run folder (its lock file
    holds a run's PID), or holding nothing but a checkpoint and temp files (loading checks the
    checkpoint; a new run refuses to start over one)."""
    try:
        names = sorted(os.listdir(run_dir))
    except FileNotFoundError:
        return
    except NotADirectoryError as e:  # it, or a folder above it, is a file
        raise OutputError(f"run folder {show_path(run_dir)}: cannot write "
                          f"({e.strerror or e})") from e
    except OSError as e:
        raise OutputError(f"run folder {show_path(run_dir)}: cannot read "
                          f"({e.strerror or e})") from e
    if not names or is_run_folder(run_dir):
        return
    foreign = [n for n in names if n != LAST and temp_target(n) is None]
    if foreign:
        shown = ", ".join(show_path(n) for n in foreign[:3])
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise OutputError(
            f"run folder {show_path(run_dir)} holds files that no training run wrote ({shown}"
            f"{more}); a run writes config.toml and metrics.jsonl there: choose a new or empty "
            f"folder with {option('run_dir')}")


def is_run_folder(run_dir: Path) -> bool:
    """Whether `run_dir` holds the lock file of a run (a regular file holding a PID)."""
    try:
        fd = os.open(run_dir / LOCK, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return _PID_LINE.fullmatch(os.read(fd, 32)) is not None
    except OSError:
        return False
    finally:
        os.close(fd)


def _owner(fd: int) -> str:
    """The PID written in the lock file ("unknown" when it cannot be read)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
