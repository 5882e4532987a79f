"""SIGTERM and SIGHUP treated like Ctrl-C while a command runs.

A killed terminal (SIGHUP) or `kill`/a service manager (SIGTERM) then takes the same path as
Ctrl-C: KeyboardInterrupt in the main thread, temp files removed by `atomic_write`, worker
threads stopped after their current image, one 'interrupted' line and exit 130. Within
`deferred_interrupts()` (bookkeeping that must not be cut in half, such as printing a result
line and counting it) the interrupt is raised when the block ends."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

TERMINATING = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
                    if s is not None)


_INTERRUPTS = (signal.SIGINT, *TERMINATING)
_deferring = 0  # depth of deferred_interrupts() blocks in the main thread
_pending: int | None = None  # the signal that arrived inside them


def _interrupt(signum: int, frame: FrameType | None) -> None:
    global _pending
    if _deferring:
        _pending = signum
        return
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold back an interrupt (under `terminate_as_interrupt`) until the block ends."""
    global _deferring, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending is not None:
            signum, _pending = _pending, None
            raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise KeyboardInterrupt like Ctrl-C (SIGINT), and
    all three wait for the end of a `deferred_interrupts` block (main thread only; a no-op
    elsewhere); the previous handlers come back after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _interrupt) for s in _INTERRUPTS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
