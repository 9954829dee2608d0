"""Streams between the pipeline's stages: batching, and running a stage ahead on a thread."""

import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def batched(pages: Iterator[list[Any]], size: int) -> Iterator[list[Any]]:
    """Group pages into batches of at least ``size`` records (the last may be smaller)."""
    batch: list[Any] = []
    for page in pages:
        batch.extend(page)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def grouped(items: Iterator[T], size: int) -> Iterator[list[T]]:
    """Group ``items`` in lists of ``size`` (the last may be shorter).

    If ``items`` fails, what came before the failure is still handed on before the error.
    """
    group: list[T] = []
    try:
        for item in items:
            group.append(item)
            if len(group) >= size:
                yield group
                group = []
    except Exception:
        if group:
            yield group
        raise
    if group:
        yield group


_DONE = object()


def prefetch(source: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Run ``source`` on a thread, ``depth`` items ahead, so HTTP overlaps the database work.

    Errors are re-raised in the consumer; if the consumer stops early, the thread stops too.
    """
    items: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                if not _put(items, item, stop):
                    return
            _put(items, _DONE, stop)
        except BaseException as exc:  # handed to the consumer
            _put(items, exc, stop)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # stops a nested prefetch thread too

    thread = threading.Thread(target=produce, name="traede-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _put(items: "queue.Queue[Any]", item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            items.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
