"""MinutePacer: keeps one Xero tenant under its rolling-minute call limit before a 429."""

import logging
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

# Stay under Xero's 60 calls per rolling minute per tenant with some headroom for other
# callers and clock skew (Airbyte's source-xero paces at 55/min for the same reason).
DEFAULT_CALLS_PER_WINDOW = 55
DEFAULT_WINDOW = 60.0


class MinutePacer:
    """Keeps one tenant under a rolling-window call limit before the server has to say 429.

    A deliberately small class rather than a dependency (no rate-limit library is installed):
    it remembers when its own calls were sent and waits until the oldest leaves the window
    when either its budget is spent or the server's ``X-MinLimit-Remaining`` says 0.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = max(1, limit)
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._remaining: int | None = None
        self.waited = 0.0
        # The server counts a call when it arrives, we when we send it: keep a small margin so
        # a call sent exactly one window after the oldest cannot land inside the old window.
        self.margin = min(1.0, max(0.05, window * 0.02))

    def acquire(self) -> None:
        """Block until one more call fits in the window, then count it as sent."""
        while True:
            now = self._clock()
            while self._sent and self._sent[0] <= now - self.window - self.margin:
                self._sent.popleft()
                self._remaining = None  # the server's count has moved on too
            full = len(self._sent) >= self.limit
            server_full = self._remaining is not None and self._remaining <= 0
            if not self._sent or not (full or server_full):
                break
            delay = self._sent[0] + self.window + self.margin - now
            self.waited += delay
            log.debug("xero pacing: waiting %.2fs for a free slot", delay)
            self._sleep(delay)
        self._sent.append(self._clock())

    def observe(self, remaining: str | None) -> None:
        """Remember the server's ``X-MinLimit-Remaining`` from the latest response."""
        if remaining is not None and remaining.strip().isdigit():
            self._remaining = int(remaining)
