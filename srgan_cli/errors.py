"""Typed errors: raised where a bad input is detected, turned into one line + exit code in cli."""

from __future__ import annotations


class SrganError(Exception):
    """Base of every user-facing error. `exit_code` is stable and documented in the README."""

    exit_code: int = 1


class UsageError(SrganError):
    """A bad argument or option combination."""

    exit_code = 2


class InputImageError(SrganError):
    """An input image is missing, unreadable, corrupt, too large or empty."""

    exit_code = 3


class OutputError(SrganError):
    """An output cannot be written (unknown extension, unwritable folder, exists already)."""

    exit_code = 4


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
