"""SIGINT, SIGTERM and SIGHUP: one handler for every command that stops cleanly on them.

A killed terminal (SIGHUP) or `kill`/a service manager (SIGTERM) takes the same path as Ctrl-C
(SIGINT). Under `terminate_as_interrupt` each raises KeyboardInterrupt in the main thread: temp
files are removed by `atomic_write`, worker threads stop after their current image, one
'interrupted' line, exit 130. Within `deferred_interrupts()` (bookkeeping that must not be cut in
half, such as printing a result line and counting it) the interrupt is raised when the block
ends. Under `stop_requests` (training) the first signal only asks the loop to stop at its next
safe point (it saves a checkpoint, then raises KeyboardInterrupt itself); a second one raises
KeyboardInterrupt at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

TERMINATING = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
                    if s is not None)


_INTERRUPTS = (signal.SIGINT, *TERMINATING)
_deferring = 0  # depth of deferred_interrupts() blocks in the main thread
_pending: int | None = None  # the signal that arrived inside them


class StopRequest:
    """Whether a stop was asked for (by a first signal inside `stop_requests`), and by which."""

    def __init__(self, on_request: Callable[[str], None]) -> None:
        self.requested = False
        self.signal: str | None = None
        self._on_request = on_request

    def ask(self, name: str) -> None:
        self.requested, self.signal = True, name
        with contextlib.suppress(OSError, ValueError):  # a hung-up terminal takes no more text
            self._on_request(name)


_request: StopRequest | None = None  # the innermost stop_requests() block's


def _interrupt(signum: int, frame: FrameType | None) -> None:
    global _pending
    name = signal.Signals(signum).name
    if _request is not None and not _request.requested:
        _request.ask(name)
        return
    if _deferring:
        _pending = signum
        return
    raise KeyboardInterrupt(name)


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


@contextlib.contextmanager
def stop_requests(on_request: Callable[[str], None]) -> Iterator[StopRequest]:
    """Within the block, the first SIGINT, SIGTERM or SIGHUP sets the StopRequest's `requested`
    and calls `on_request(signal name)` (from the main thread, between two statements); the
    next one raises KeyboardInterrupt. Outside the main thread nothing is caught."""
    global _request
    request = StopRequest(on_request)
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    outer, _request = _request, request
    try:
        with terminate_as_interrupt():
            yield request
    finally:
        _request = outer
