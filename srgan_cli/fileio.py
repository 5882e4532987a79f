"""File helpers shared by every module that writes or looks up files.

- ``atomic_write``: every file the tool writes (images, reports, model files, checkpoints, the
  decode cache, run logs) lands under a hidden temp name and is renamed into place only when
  complete, so an interrupted or failed write never leaves a torn file.
- ``find_subdir``: dataset folders are matched case-insensitively (DIV2K, Set5, LR_bicubic, X4).
- ``torch_load_weights_only``: the one place pickles are read, always with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a hidden temp path beside `path`; move it onto `path` only if the body succeeds.

    The temp file is ``.<name>.<random>.part`` (hidden, not an image suffix, so input globs
    skip it), created with the usual umask permissions. On any exception, KeyboardInterrupt
    included, it is deleted and the exception re-raised; an existing `path` is untouched."""
    p = Path(path)
    while True:
        tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}.part")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def find_subdir(folder: Path | None, *names: str) -> Path | None:
    """The sub-folder of `folder` named like one of `names` (case-insensitive, in that order)."""
    if folder is None or not folder.is_dir():
        return None
    subdirs = {p.name.lower(): p for p in sorted(folder.iterdir()) if p.is_dir()}
    for n in names:
        if n.lower() in subdirs:
            return subdirs[n.lower()]
    return None


def torch_load_weights_only(path: str | Path) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, torch's pickle notes silenced.

    Raises ``pickle.UnpicklingError`` for a pickle the safe loader refuses (nothing in it runs)
    and other exceptions for a truncated or garbage file; callers turn both into their error."""
    import torch

    with warnings.catch_warnings():  # e.g. "pickle protocol 4": noise for a CLI user
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)
