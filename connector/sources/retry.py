"""Retries shared by every client: exponential backoff with jitter that honours ``Retry-After``.

Built on tenacity (a well-kept retry library) rather than a hand-written loop. Only
:class:`TransientSourceError` is retried; the total time spent waiting for one call is bounded
by ``HttpSettings.max_retry_wait`` and the attempts by ``max_attempts``: a ``Retry-After``
longer than what is left of that budget ends the retries at once instead of sleeping past it.

A connection that cannot be made before the client's first successful call (refused, unknown
host, a proxy error, an untrusted certificate) is a configuration problem far more often than
an outage: it fails at once as :class:`SourceUnreachableError` naming the variable to check.
Once a call has succeeded, the same failure is an outage and is retried like any other.
"""

import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import tenacity

from connector.config import HttpSettings
from connector.errors import (
    PermanentSourceError,
    RateLimitError,
    SourceUnreachableError,
    TransientSourceError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_BACKOFF_INITIAL = 0.5
_BACKOFF_MAX = 30.0


@dataclass
class RetryStats:
    """Counters a client exposes for run metadata."""

    calls: int = 0
    retries: int = 0
    waited: float = 0.0
    succeeded: int = 0  # calls that returned; before the first, a refused connection is config


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _wait(http: HttpSettings) -> Callable[[tenacity.RetryCallState], float]:
    backoff = tenacity.wait_random_exponential(multiplier=_BACKOFF_INITIAL, max=_BACKOFF_MAX)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            # The server said when: wait that long (plus a little jitter so parallel callers
            # do not return in lockstep), never less.
            return float(retry_after) + min(0.25, 0.05 * state.attempt_number)
        return float(backoff(state))

    return wait


def call_with_retries(
    fn: Callable[[], T],
    *,
    http: HttpSettings,
    stats: RetryStats | None = None,
    sleep: Callable[[float], None] = time.sleep,
    what: str = "request",
) -> T:
    """Call ``fn`` until it succeeds, retrying :class:`TransientSourceError` only.

    Raises:
        TransientSourceError: the last transient error once attempts or wait budget run out.
        PermanentSourceError, ContractError: at once, never retried.
    """
    stats = stats if stats is not None else RetryStats()
    waiter = _wait(http)

    waited = [0.0]  # seconds slept for this call so far (the budget counts waits, not work)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.upcoming_sleep
        waited[0] += delay
        stats.retries += 1
        stats.waited += delay
        log.warning("%s failed (%s); retry %d in %.1fs", what, exc, state.attempt_number, delay)

    def over_budget(state: tenacity.RetryCallState) -> bool:
        # tenacity computes the next wait (upcoming_sleep) before it asks whether to stop.
        if state.attempt_number >= http.max_attempts:
            return True
        return waited[0] + state.upcoming_sleep > http.max_retry_wait

    def counted() -> T:
        stats.calls += 1
        try:
            result = fn()
        except TransientSourceError as exc:
            if exc.unreachable is not None and stats.succeeded == 0:
                raise exc.unreachable from exc.__cause__
            raise
        stats.succeeded += 1
        return result

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(TransientSourceError),
        wait=waiter,
        stop=over_budget,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(counted)


def raise_for_status(
    response: httpx.Response,
    *,
    system: str,
    endpoint: str,
    auth_hint: str = "",
) -> None:
    """Map an HTTP error status to the error tree (callers never look at status codes).

    429 → :class:`RateLimitError` with ``Retry-After``; 5xx → :class:`TransientSourceError`;
    401/403 → :class:`PermanentSourceError` carrying ``auth_hint`` (which variable to check);
    other 4xx → :class:`PermanentSourceError`.
    """
    status = response.status_code
    if status < 400:
        return
    common = response_facts(response)
    if status == 429:
        raise RateLimitError(
            system,
            endpoint,
            "429 Too Many Requests",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            limit=response.headers.get("x-rate-limit-problem", ""),
            **common,
        )
    if status >= 500:
        raise TransientSourceError(
            system,
            endpoint,
            f"{status} server error",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            **common,
        )
    hint = auth_hint if status in (401, 403) else ""
    raise PermanentSourceError(system, endpoint, f"{status} client error", hint=hint, **common)


def response_facts(response: httpx.Response) -> dict[str, Any]:
    """What a :class:`SourceError` says of ``response``: method, URL, status, id, body excerpt.

    Every error built from a response takes these, so each names its request the same way.
    """
    request = response.request
    try:
        body = response.text[:500]
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        body = ""
    return {
        "method": request.method,
        "url": str(request.url),
        "status": response.status_code,
        "request_id": response.headers.get("x-request-id") or response.headers.get("request-id"),
        "body": body,
    }


def transport_error(
    exc: httpx.HTTPError,
    *,
    system: str,
    endpoint: str,
    method: str,
    url_variable: str = "",
) -> TransientSourceError:
    """Wrap a timeout, reset or broken response as a retryable error.

    A failure to connect at all also carries, as ``unreachable``, the
    :class:`SourceUnreachableError` that :func:`call_with_retries` raises instead when no call
    of the client has succeeded yet; it names ``url_variable`` (default ``<SYSTEM>_BASE_URL``),
    the proxy variable or the CA bundle variable, whichever fits.
    """
    url = str(exc.request.url) if _has_request(exc) else ""
    problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    error = TransientSourceError(system, endpoint, problem, method=method, url=url)
    hint = _unreachable_hint(exc, system.upper(), url_variable or f"{system.upper()}_BASE_URL")
    if hint:
        error.unreachable = SourceUnreachableError(
            system, endpoint, problem, method=method, url=url, hint=hint
        )
    return error


def _unreachable_hint(exc: httpx.HTTPError, prefix: str, url_variable: str) -> str:
    if isinstance(exc, httpx.ProxyError):
        return "The proxy refused the connection: check HTTPS_PROXY (and NO_PROXY)"
    if not isinstance(exc, httpx.ConnectError):
        return ""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return (
            "The server's TLS certificate is not trusted: if a proxy re-signs TLS, set "
            f"{prefix}_CA_BUNDLE (or SSL_CERT_FILE) to its CA bundle (PEM)"
        )
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake failed: check {url_variable} (http vs https) and any proxy"
    return f"Nothing answers there: check {url_variable} (and HTTPS_PROXY, if you use a proxy)"


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when unset
    except RuntimeError:
        return False
    return True


__all__ = [
    "PermanentSourceError",
    "RetryStats",
    "SourceUnreachableError",
    "call_with_retries",
    "parse_retry_after",
    "raise_for_status",
    "transport_error",
]
