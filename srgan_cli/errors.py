"""Typed errors: raised where a bad input is detected, turned into one line + exit code in cli.

The exit codes that belong to no error class live here too, so the CLI (cli/app.py) and the
batch engine share them."""

from __future__ import annotations

import errno
import os
import sys

EXIT_MIXED = 1  # a batch whose failures have different error types
EXIT_INTERNAL = 70  # an unexpected exception (a bug): EX_SOFTWARE
EXIT_INTERRUPTED = 130  # Ctrl-C, SIGTERM, SIGHUP: 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # stdout's reader went away: 128 + SIGPIPE


def internal_error_line(e: BaseException) -> str:
    """'internal error: Type: first line of the message', for an exception nobody expected."""
    from srgan_cli.messages import one_line

    return f"internal error: {type(e).__name__}: {one_line(e, first_line=True)}"


class StreamClosed(Exception):
    """stdout's reader went away (EPIPE): the run stops quietly with EXIT_BROKEN_PIPE. Not an
    SrganError: there is no one left to read a message."""


def is_closed_stdout(e: BaseException) -> bool:
    """Whether `e` is a write to a stdout whose reader went away, or that was closed: EPIPE,
    or EBADF/EINVAL while stdout takes no more writes, naming no file (an EPIPE that names a
    file, such as an output that is a FIFO, is that file's failure)."""
    if not isinstance(e, OSError) or e.filename is not None:
        return False
    return e.errno == errno.EPIPE or (e.errno in (errno.EBADF, errno.EINVAL)
                                      and _stdout_refuses_writes())


def _stdout_refuses_writes() -> bool:
    """True when writing to stdout fails (its reader went away, or it was closed)."""
    try:
        sys.stdout.flush()
        os.write(sys.stdout.fileno(), b"")
    except (OSError, ValueError):
        return True
    return False


class SrganError(Exception):
    """Base of every user-facing error. `exit_code` is stable and documented in the README.

    Its text names options with `messages.option`, rendered when the error is shown."""

    exit_code: int = 1

    def __str__(self) -> str:
        from srgan_cli.messages import render

        return render(super().__str__())


class UsageError(SrganError):
    """A bad argument or option combination."""

    exit_code = 2


class InputImageError(SrganError):
    """An input image is missing, unreadable, corrupt, too large or empty."""

    exit_code = 3


class OutputError(SrganError):
    """An output cannot be written (unknown extension, unwritable folder, exists already)."""

    exit_code = 4


class OutputExistsError(OutputError):
    """The output exists and may not be replaced (no --overwrite): a batch that skips existing
    outputs skips it, whenever it appeared."""


class ModelError(SrganError):
    """A model file is missing, corrupt, unsafe, or of another architecture or scale."""

    exit_code = 5


class DatasetError(SrganError):
    """A dataset is missing, empty, or inconsistent (LR/HR size mismatch, too-small image)."""

    exit_code = 6


class ConfigError(SrganError):
    """A training config has an unknown key, a wrong type or an invalid value."""

    exit_code = 7


class CheckpointError(SrganError):
    """A training checkpoint is missing, corrupt or does not match the run."""

    exit_code = 8


class TrainingError(SrganError):
    """Training cannot go on (NaN/inf loss, missing VGG weights, ...)."""

    exit_code = 9


class DeviceError(SrganError):
    """The requested device or precision is not available."""

    exit_code = 10


class BatchError(SrganError):
    """Images of a batch failed. Its exit code is that of the failures' common error type, or
    EXIT_MIXED when they differ (a single image's failure keeps its own message and code)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class UnknownDeviceError(UsageError, DeviceError):
    """A --device name that is no device at all ('foo'): a usage error (exit 2), still caught
    as a DeviceError by code that handles every device problem."""

    exit_code = UsageError.exit_code
