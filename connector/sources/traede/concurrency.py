"""How many mark calls to keep in flight: additive increase, multiplicative decrease (AIMD).

The right number depends on the server, which publishes no limit (docs/apis.md §1.6). The
controller starts at ``TRAEDE_MARK_CONCURRENCY`` and, once per round (as many completed calls
as the current limit), adds one call in flight while the round's latency holds near the best
seen lately and no 429 came; it halves the limit on a 429 or when latency grows (the server is
queueing), never going above ``TRAEDE_MARK_CONCURRENCY_MAX`` or below 1. After a 429 it does
not send new calls until the server's ``Retry-After`` has passed, and it climbs back only to
just under the level that was refused, probing above it again after ``probe_after`` seconds
of calm. The clock is injected, so tests drive it without sleeping.
"""

import threading
import time
from collections import deque
from collections.abc import Callable


class MarkConcurrency:
    """An AIMD limit on calls in flight, fed with each call's latency and 429s.

    Args:
        start: the first limit (``TRAEDE_MARK_CONCURRENCY``).
        maximum: never above this (``TRAEDE_MARK_CONCURRENCY_MAX``).
        clock: monotonic seconds.
        growth: a round's mean latency above ``growth`` x the best recent round (and more than
            ``slack`` seconds above it) counts as latency growth.
        probe_after: seconds after a 429 before probing above the refused level again.
    """

    def __init__(
        self,
        start: int,
        maximum: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        growth: float = 2.0,
        hold: float = 1.5,
        slack: float = 0.005,
        probe_after: float = 10.0,
        history: int = 20,
    ) -> None:
        self.maximum = max(1, maximum)
        self.limit = min(max(1, start), self.maximum)
        self.throttled = 0  # 429s seen
        self.decreases = 0
        self.peak = self.limit
        self._clock = clock
        self._growth = growth
        self._hold = hold
        self._slack = slack
        self._probe_after = probe_after
        self._rounds: deque[float] = deque(maxlen=history)  # recent rounds' mean latency
        self._latencies: list[float] = []
        self._resume_at = 0.0  # no new call before this instant (Retry-After)
        self._ceiling: int | None = None  # the level a 429 refused
        self._ceiling_at = 0.0
        self._lock = threading.Lock()

    def wait_s(self) -> float:
        """Seconds to wait before sending a new call (0 when free to send)."""
        with self._lock:
            return max(0.0, self._resume_at - self._clock())

    def on_throttle(self, retry_after: float | None) -> None:
        """A 429: halve the limit, remember the refused level, honour ``Retry-After``."""
        with self._lock:
            now = self._clock()
            self.throttled += 1
            if retry_after:
                self._resume_at = max(self._resume_at, now + retry_after)
            if now - self._ceiling_at < 0.05 and self._ceiling is not None:
                return  # the same burst: one decrease for the calls refused together
            self._ceiling = self.limit
            self._ceiling_at = now
            self._decrease()

    def on_latency(self, seconds: float) -> None:
        """One call answered (without a 429) in ``seconds``."""
        with self._lock:
            self._latencies.append(seconds)
            if len(self._latencies) < self.limit:
                return
            mean = sum(self._latencies) / len(self._latencies)
            self._latencies.clear()
            best = min(self._rounds) if self._rounds else mean
            self._rounds.append(mean)
            if mean > best * self._growth and mean - best > self._slack:
                self._decrease()
            elif mean <= best * self._hold or mean - best <= self._slack:
                self._increase()

    def _decrease(self) -> None:
        self.limit = max(1, self.limit // 2)
        self.decreases += 1
        self._latencies.clear()

    def _increase(self) -> None:
        if self.limit >= self.maximum:
            return
        if self._ceiling is not None and self.limit + 1 >= self._ceiling:
            if self._clock() - self._ceiling_at < self._probe_after:
                return  # stay just under the refused level for a while
            self._ceiling = None
        self.limit += 1
        self.peak = max(self.peak, self.limit)
