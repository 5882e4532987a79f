"""Decode ahead and encode behind the model: the one thread pipeline of images and video.

The model runs in the caller's thread. `ThreadPipeline.read_ahead` iterates an iterable (the
decoding) in a thread that stays at most a queue ahead of the caller; `write_behind` runs a
consumer (the encoding) in a thread fed through a queue. Both queues are bounded, so memory stays
bounded however long the input, and items come out in the order they went in. An exception in a
thread is raised in the caller's thread: a reader's once the caller has taken the items read
before it, a writer's at the caller's next call. Leaving the `with` block (done, an error, or
Ctrl-C: KeyboardInterrupt arrives in the main thread only) stops both threads after the item in
their hands and joins them, so an output written whole through `fileio.atomic_write` is either
complete or not there at all.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_POLL = 0.05  # seconds between looks at the stop flag while a queue is full or empty


class _Stopped(Exception):
    """The pipeline stopped while a thread waited on its queue."""


class _Failed:
    """A reader's exception, carried in order through its queue."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()  # after a queue's last item


class ThreadPipeline:
    """Reader and writer threads beside the caller's, stopped and joined when the `with` block
    ends (or at `close`)."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.failure: BaseException | None = None  # a writer's exception, for the caller
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> ThreadPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the threads after the item in their hands, and wait for them."""
        self.stopping.set()
        for t in self._threads:
            t.join()

    def read_ahead(self, items: Iterable[T], *, size: int, name: str) -> Reader[T]:
        """Iterate `items` in a thread named `name`, at most `size` items ahead of the caller
        (plus the one in its hands); the caller iterates the Reader returned."""
        reader: Reader[T] = Reader(self, size)
        self._start(name, lambda: reader.fill(items))
        return reader

    def write_behind(self, consume: Callable[[Iterator[T]], None], *, size: int,
                     name: str) -> Writer[T]:
        """Run `consume(items)` in a thread named `name`; `items` yields what the caller puts
        into the Writer returned (at most `size` waiting), until the caller's `finish`."""
        writer: Writer[T] = Writer(self, size)
        self._start(name, lambda: writer.drain(consume))
        return writer

    def raise_failure(self) -> None:
        """Raise a writer's exception in the caller's thread, if there was one."""
        if self.failure is not None:
            raise self.failure

    def _start(self, name: str, body: Callable[[], None]) -> None:
        thread = threading.Thread(target=body, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()


def _put(q: queue.Queue[Any], item: Any, stopping: threading.Event) -> None:
    """Put `item` in `q`, waiting while it is full; _Stopped once `stopping` is set."""
    while not stopping.is_set():
        with contextlib.suppress(queue.Full):
            q.put(item, timeout=_POLL)
            return
    raise _Stopped


class Reader(Generic[T]):
    """The items of a read-ahead thread, in order; `waited`: the seconds the caller spent
    waiting for them."""

    def __init__(self, pipeline: ThreadPipeline, size: int) -> None:
        self._pipeline = pipeline
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self._ended = False
        self.waited = 0.0

    def fill(self, items: Iterable[T]) -> None:
        """The thread's body: every item, then the end or the exception that stopped it."""
        last: Any = _END
        try:
            for item in items:
                _put(self._queue, item, self._pipeline.stopping)
        except _Stopped:
            return
        except BaseException as e:  # raised in the caller's thread, in order
            last = _Failed(e)
        with contextlib.suppress(_Stopped):
            _put(self._queue, last, self._pipeline.stopping)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._ended:
            raise StopIteration
        t0 = time.perf_counter()
        while True:
            self._pipeline.raise_failure()
            try:
                item = self._queue.get(timeout=_POLL)
                break
            except queue.Empty:
                if self._pipeline.stopping.is_set():
                    raise StopIteration from None
        self.waited += time.perf_counter() - t0
        if item is _END or isinstance(item, _Failed):
            self._ended = True
            if isinstance(item, _Failed):
                raise item.error
            raise StopIteration
        return item


class Writer(Generic[T]):
    """Feeds a write-behind thread; `waited`: the seconds the caller spent waiting for room."""

    def __init__(self, pipeline: ThreadPipeline, size: int) -> None:
        self._pipeline = pipeline
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self._returned = threading.Event()  # the consumer has returned or failed
        self.waited = 0.0

    def _items(self) -> Iterator[T]:
        """What the caller puts, in order, until `finish`; _Stopped once the pipeline stops
        (the items still waiting are dropped)."""
        while not self._pipeline.stopping.is_set():
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                continue
            if item is _END:
                return
            yield item
        raise _Stopped

    def drain(self, consume: Callable[[Iterator[T]], None]) -> None:
        """The thread's body: `consume` the items; its exception goes to the caller."""
        try:
            consume(self._items())
        except _Stopped:
            pass
        except BaseException as e:  # raised in the caller's thread
            if self._pipeline.failure is None:
                self._pipeline.failure = e
            self._pipeline.stopping.set()
        finally:
            self._returned.set()

    def put(self, item: T) -> None:
        """Hand `item` to the thread, waiting while `size` items wait already."""
        self._put(item)

    def _put(self, item: Any) -> None:
        t0 = time.perf_counter()
        while True:
            self._pipeline.raise_failure()
            if self._returned.is_set():
                raise RuntimeError("the writer thread stopped taking items")
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=_POLL)
                break
        self.waited += time.perf_counter() - t0

    def finish(self, while_waiting: Callable[[], None] | None = None) -> None:
        """No more items: wait until the thread has consumed every one (calling
        `while_waiting` now and then), and raise its exception if it failed."""
        self._put(_END)
        while not self._returned.wait(_POLL):
            if while_waiting is not None:
                while_waiting()
        self._pipeline.raise_failure()
