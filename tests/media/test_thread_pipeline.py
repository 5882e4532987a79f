"""The one thread pipeline (images and video): order, a reader at most a queue ahead, errors in
the caller's thread, and a clean stop on an interrupt."""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from srgan_cli.media.thread_pipeline import ThreadPipeline, Writer


def _counted(n: int | None, produced: list[int], delay: float = 0.0) -> Iterator[int]:
    for i in itertools.count() if n is None else range(n):
        time.sleep(delay)
        produced.append(i)
        yield i


def test_items_come_out_in_order_through_both_threads() -> None:
    written: list[int] = []
    with ThreadPipeline() as threads:
        reader = threads.read_ahead(_counted(200, []), size=3, name="test-read")
        writer: Writer[int] = threads.write_behind(lambda items: written.extend(items),
                                                   size=2, name="test-write")
        for item in reader:
            writer.put(item * 2)
        writer.finish()
    assert written == [2 * i for i in range(200)]


def test_the_reader_runs_at_most_a_queue_ahead() -> None:
    produced: list[int] = []
    with ThreadPipeline() as threads:
        reader = threads.read_ahead(_counted(40, produced), size=3, name="test-read")
        taken = 0
        for _ in reader:
            taken += 1
            if taken == 1:
                time.sleep(0.3)  # the reader fills its queue, then waits with one in hand
                assert len(produced) == taken + 3 + 1
            assert len(produced) <= taken + 3 + 1
        assert taken == 40


def test_a_readers_error_comes_after_the_items_read_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad frame")

    got: list[int] = []
    with pytest.raises(ValueError, match="bad frame"), ThreadPipeline() as threads:
        for item in threads.read_ahead(items(), size=8, name="test-read"):
            time.sleep(0.05)  # the reader has failed long before the caller takes item 2
            got.append(item)
    assert got == [1, 2]


def test_a_writers_error_is_raised_at_the_callers_next_call() -> None:
    def consume(items: Iterator[int]) -> None:
        for item in items:
            if item == 2:
                raise OSError("disk full")

    with ThreadPipeline() as threads:
        writer = threads.write_behind(consume, size=1, name="test-write")
        with pytest.raises(OSError, match="disk full"):
            for i in range(1000):
                writer.put(i)
        assert i < 10  # raised at a put soon after the failure, not at the end
    with ThreadPipeline() as threads:  # or at `finish`, when nothing is put after it
        writer = threads.write_behind(consume, size=8, name="test-write")
        for i in range(3):
            writer.put(i)
        with pytest.raises(OSError, match="disk full"):
            writer.finish()


def test_an_error_in_the_caller_stops_the_writer_after_the_item_in_its_hands() -> None:
    before = threading.active_count()
    written: list[int] = []

    def consume(items: Iterator[int]) -> None:
        for item in items:
            time.sleep(0.1)
            written.append(item)

    with pytest.raises(KeyboardInterrupt), ThreadPipeline() as threads:
        reader = threads.read_ahead(_counted(None, []), size=2, name="test-read")
        writer = threads.write_behind(consume, size=4, name="test-write")
        for item in reader:
            writer.put(item)
            if item == 5:
                raise KeyboardInterrupt
    assert threading.active_count() == before  # both threads joined
    assert 0 < len(written) < 6 and written == list(range(len(written)))  # waiting ones dropped


def test_ctrl_c_while_the_caller_waits_stops_cleanly() -> None:
    before = threading.active_count()

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    timer = threading.Timer(0.3, signal.raise_signal, (signal.SIGINT,))
    produced: list[int] = []
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt), ThreadPipeline() as threads:
            for _ in threads.read_ahead(_counted(None, produced, delay=0.05), size=2,
                                        name="test-read"):
                pass  # the caller mostly waits for the slow reader
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    assert threading.active_count() == before
    count = len(produced)
    time.sleep(0.2)
    assert len(produced) == count  # the reader has stopped
