"""Sending marks: ids in calls of at most 10, several calls in flight, per-id outcomes.

The HTTP call itself is the client's (:meth:`TraedeClient._mark_call`); this module only
schedules calls and turns their per-id answers into :class:`MarkOutcome` values.
"""

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from connector.errors import PermanentSourceError, SourceError
from connector.model import MarkOutcome
from connector.sources.traede.concurrency import MarkConcurrency
from connector.sources.traede.endpoints import MAX_MARK_ITEMS

MARK_ITEM_ATTEMPTS = 3
MarkCall = Callable[[list[int]], dict[int, str | None]]


def send_marks(
    call: MarkCall,
    ids: Iterable[int],
    *,
    control: MarkConcurrency,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[MarkOutcome]:
    """Send ``ids`` through ``call`` (<= 10 ids each), ``control.limit`` calls in flight.

    ``call`` returns id -> None (acknowledged) or an error text; a text prefixed ``retry:`` is
    a per-item failure worth sending again, up to 3 attempts. One failing id never stops the
    others; a refused credential (401/403) stops everything and is raised. Each call's latency
    feeds ``control`` (the caller reports 429s to it); no new call leaves while it says wait.
    """
    attempts: dict[int, int] = {}
    retry_queue: list[int] = []
    source = iter(ids)

    def next_chunk() -> list[int]:
        chunk = retry_queue[:MAX_MARK_ITEMS]
        del retry_queue[: len(chunk)]
        chunk.extend(itertools.islice(source, MAX_MARK_ITEMS - len(chunk)))
        return chunk

    def timed(chunk: list[int]) -> dict[int, str | None]:
        throttled, started = control.throttled, clock()
        results = call(chunk)
        if control.throttled == throttled:  # a call that waited out a 429 says nothing
            control.on_latency(clock() - started)
        return results

    with ThreadPoolExecutor(max_workers=control.maximum, thread_name_prefix="traede-mark") as pool:
        in_flight: dict[Future[dict[int, str | None]], list[int]] = {}
        while True:
            pause = control.wait_s()
            while not pause and len(in_flight) < control.limit:
                chunk = next_chunk()
                if not chunk:
                    break
                for doc_id in chunk:
                    attempts[doc_id] = attempts.get(doc_id, 0) + 1
                in_flight[pool.submit(timed, chunk)] = chunk
            if not in_flight:
                if pause:
                    sleep(pause)  # Retry-After: nothing leaves before it has passed
                    continue
                return
            done, _ = wait(in_flight, timeout=pause or None, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = in_flight.pop(future)
                try:
                    results = future.result()
                except PermanentSourceError as exc:
                    if exc.status in (401, 403):
                        for other in in_flight:
                            other.cancel()
                        raise
                    results = {doc_id: str(exc) for doc_id in chunk}
                except SourceError as exc:
                    results = {doc_id: str(exc) for doc_id in chunk}
                for doc_id in chunk:
                    error = results.get(doc_id, "no outcome for this id in the response")
                    tries = attempts[doc_id]
                    if error is None:
                        yield MarkOutcome(doc_id, True, tries)
                    elif error.startswith("retry:") and tries < MARK_ITEM_ATTEMPTS:
                        retry_queue.append(doc_id)
                    else:
                        yield MarkOutcome(doc_id, False, tries, error.removeprefix("retry:"))
                    if error is None or not error.startswith("retry:"):
                        attempts.pop(doc_id, None)
