"""The AIMD controller of mark calls in flight, driven by a fake clock (no sleeping)."""

from connector.errors import RateLimitError
from connector.model import MarkOutcome
from connector.sources.traede.concurrency import MarkConcurrency
from connector.sources.traede.marking import send_marks


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _round(c: MarkConcurrency, latency: float) -> None:
    for _ in range(c.limit):
        c.on_latency(latency)


def test_rises_by_one_a_round_while_latency_holds_never_above_the_maximum() -> None:
    c = MarkConcurrency(4, 7, clock=FakeClock())
    seen = []
    for _ in range(6):
        _round(c, 0.020)
        seen.append(c.limit)
    assert seen == [5, 6, 7, 7, 7, 7]


def test_halves_when_latency_grows() -> None:
    c = MarkConcurrency(8, 16, clock=FakeClock())
    _round(c, 0.020)
    assert c.limit == 9
    _round(c, 0.060)  # three times the best round: the server is queueing
    assert c.limit == 4 and c.decreases == 1


def test_small_jitter_on_fast_calls_is_not_growth() -> None:
    c = MarkConcurrency(4, 16, clock=FakeClock())
    _round(c, 0.001)
    _round(c, 0.004)  # 4x, but only 3 ms: noise at 0 latency, not a queue
    assert c.decreases == 0 and c.limit == 6


def test_429_halves_waits_out_retry_after_and_stays_under_the_refused_level() -> None:
    clock = FakeClock()
    c = MarkConcurrency(8, 16, clock=clock, probe_after=10.0)
    c.on_throttle(2.0)
    c.on_throttle(2.0)  # the same burst: one decrease
    assert c.limit == 4 and c.throttled == 2 and c.decreases == 1
    assert c.wait_s() == 2.0
    clock.now += 2.0
    assert c.wait_s() == 0.0
    for _ in range(10):
        _round(c, 0.020)
    assert c.limit == 7  # just under the 8 that was refused
    clock.now += 10.0  # calm for probe_after seconds: probe above it again
    _round(c, 0.020)
    assert c.limit == 8
    _round(c, 0.020)
    assert c.limit == 9


def test_never_below_one() -> None:
    clock = FakeClock()
    c = MarkConcurrency(1, 4, clock=clock)
    c.on_throttle(None)
    assert c.limit == 1 and c.wait_s() == 0.0


def test_send_marks_keeps_within_the_limit_and_waits_after_a_429() -> None:
    clock = FakeClock()
    c = MarkConcurrency(2, 2, clock=clock)
    slept: list[float] = []
    throttled = {"done": False}

    def call(chunk: list[int]) -> dict[int, str | None]:
        if not throttled["done"]:
            throttled["done"] = True
            c.on_throttle(1.5)  # what the client reports before its retry waits it out
            raise RateLimitError("traede", "invoices.mark", "429 Too Many Requests", status=429)
        return {i: None for i in chunk}

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    out = list(send_marks(call, range(25), control=c, clock=clock, sleep=sleep))
    # the throttled call's ids failed for this run (the client had retried them); the rest
    # went out after Retry-After, one call at a time (limit halved from 2 to 1)
    failed = [o for o in out if not o.acked]
    assert len(failed) == 10 and all(isinstance(o, MarkOutcome) for o in out)
    assert sorted(o.document_id for o in out) == list(range(25))
    assert c.limit == 1 and c.throttled == 1
    assert slept and abs(sum(slept) - 1.5) < 1e-9
