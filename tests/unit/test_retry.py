import httpx
import pytest

from connector.config import HttpSettings
from connector.errors import PermanentSourceError, RateLimitError, TransientSourceError
from connector.sources.retry import (
    RetryStats,
    call_with_retries,
    parse_retry_after,
    raise_for_status,
)


def _flaky(errors: list[Exception], value: str = "ok"):
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return value

    return fn, calls


def _transient(retry_after: float | None = None) -> TransientSourceError:
    return TransientSourceError("traede", "invoices.export", "503", retry_after=retry_after)


def test_client_waits_for_retry_after_on_429() -> None:
    waits: list[float] = []
    err = RateLimitError("traede", "x", "429", retry_after=7.0)
    fn, calls = _flaky([err])
    stats = RetryStats()
    assert call_with_retries(fn, http=HttpSettings(), sleep=waits.append, stats=stats) == "ok"
    assert calls["n"] == 2
    assert 7.0 <= waits[0] < 7.3
    assert stats.retries == 1 and stats.calls == 2


def test_backoff_grows_and_is_jittered_without_retry_after() -> None:
    waits: list[float] = []
    fn, _ = _flaky([_transient() for _ in range(5)])
    call_with_retries(fn, http=HttpSettings(max_attempts=10), sleep=waits.append)
    assert len(waits) == 5
    assert all(0 <= w <= 30 for w in waits)
    assert max(waits) <= 0.5 * 2**5


def test_attempts_are_bounded() -> None:
    fn, calls = _flaky([_transient() for _ in range(10)])
    with pytest.raises(TransientSourceError):
        call_with_retries(fn, http=HttpSettings(max_attempts=3), sleep=lambda _: None)
    assert calls["n"] == 3


def test_total_wait_is_bounded_by_the_budget() -> None:
    waits: list[float] = []
    fn, calls = _flaky([_transient(retry_after=40.0) for _ in range(5)])
    with pytest.raises(TransientSourceError):
        call_with_retries(fn, http=HttpSettings(max_retry_wait=100.0), sleep=waits.append)
    # 40 + 40 fits in 100, a third 40 would not: stop instead of sleeping past the budget
    assert len(waits) == 2 and calls["n"] == 3


def test_permanent_errors_are_not_retried() -> None:
    fn, calls = _flaky([PermanentSourceError("traede", "x", "403")])
    with pytest.raises(PermanentSourceError):
        call_with_retries(fn, http=HttpSettings(), sleep=lambda _: None)
    assert calls["n"] == 1


@pytest.mark.parametrize(
    "value,expected",
    [("5", 5.0), ("0", 0.0), ("1.5", 1.5), (None, None), ("garbage", None), ("-3", 0.0)],
)
def test_parse_retry_after(value, expected) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_is_in_the_future_or_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def _response(status: int, headers: dict | None = None, body: str = "") -> httpx.Response:
    request = httpx.Request("GET", "https://api.example/v10/invoices/export?access_token=abc123")
    return httpx.Response(status, headers=headers or {}, text=body, request=request)


def test_status_mapping_and_redaction() -> None:
    with pytest.raises(RateLimitError) as rate:
        raise_for_status(_response(429, {"Retry-After": "3"}), system="traede", endpoint="e")
    assert rate.value.retry_after == 3.0
    with pytest.raises(TransientSourceError):
        raise_for_status(_response(502), system="traede", endpoint="e")
    with pytest.raises(PermanentSourceError) as auth:
        raise_for_status(_response(401), system="traede", endpoint="e", auth_hint="Check TOKEN")
    assert "Check TOKEN" in str(auth.value)
    assert "abc123" not in str(auth.value) and "access_token=***" in str(auth.value)
    raise_for_status(_response(200), system="traede", endpoint="e")
