"""XeroClient: Xero credit notes over httpx. Auth, paging, pacing and retries; no Postgres.

Auth is the client_credentials grant (custom connections; docs/apis.md §2.1): the token is cached
until shortly before it expires and fetched again once on a 401. Pages are requested with
``order=UpdatedDateUTC ASC``, ``unitdp=4`` and ``If-Modified-Since`` (UTC, seconds), keyset
style (``connector/sources/keyset.py``): page 1 again from the highest second received, until a
short page or the last ``pageCount`` (newest first by page number past a crowded second).
Calls are paced per tenant under the minute limit so steady state sees no 429; a 429
``minute``/``concurrent`` (or the legacy 503) is retried after ``Retry-After``, and a 429
``day`` ends the run at once with :class:`DailyLimitError` (waiting hours is pointless).
"""

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx

from connector.config import XeroSettings
from connector.errors import (
    ContractError,
    DailyLimitError,
    RateLimitError,
)
from connector.jsontext import parse_json
from connector.sources.http import PooledClient, build_http_client
from connector.sources.keyset import KeysetPage, KeysetPaginator
from connector.sources.retry import (
    RetryStats,
    call_with_retries,
    parse_retry_after,
    raise_for_status,
    response_facts,
    transport_error,
)
from connector.sources.xero.contract import (
    CREDIT_NOTES_PATH,
    IF_MODIFIED_SINCE,
    LEGACY_THROTTLE_BODY,
    MAX_PAGE_SIZE,
    MINUTE_REMAINING,
    RATE_LIMIT_PROBLEM,
    ROOT_KEY,
    TENANT_HEADER,
    UNIT_DP,
    credit_note_id,
    format_if_modified_since,
    updated_instant,
)
from connector.sources.xero.pacing import DEFAULT_CALLS_PER_WINDOW, DEFAULT_WINDOW, MinutePacer
from connector.sources.xero.token import CREDENTIALS_HINT, AccessToken

log = logging.getLogger(__name__)

SYSTEM = "xero"
ENDPOINT = "credit_notes"
TENANT_HINT = (
    "Check XERO_TENANT_IDS: each tenant must be connected to this app (Xero's /connections "
    "lists them); leave it empty for a custom connection"
)


class _Stop(Exception):
    """Carries an error out of :func:`call_with_retries` without it being retried."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class XeroClient(PooledClient):
    """Client for ``GET /CreditNotes`` of one app over any number of tenants."""

    def __init__(
        self,
        settings: XeroSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        page_size: int = MAX_PAGE_SIZE,
        calls_per_window: int = DEFAULT_CALLS_PER_WINDOW,
        window: float = DEFAULT_WINDOW,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self.settings = settings
        self.page_size = page_size
        self._sleep = sleep
        self._clock = clock
        self._calls_per_window = calls_per_window
        self._window = window
        self._http = build_http_client(settings.http, transport=transport, max_connections=4)
        self._pacers: dict[str, MinutePacer] = {}
        self.token = AccessToken(settings, self._http, sleep=sleep, clock=clock)
        self.stats = RetryStats()
        self.throttled = 0

    def counters(self) -> dict[str, int]:
        """Counters for run metadata: API calls (attempts), retries, 429/503 throttles."""
        return {
            "api_calls": self.stats.calls + self.token.stats.calls,
            "retries": self.stats.retries + self.token.stats.retries,
            "http_429": self.throttled,
        }

    # --- public API --------------------------------------------------------------------------

    def credit_note_pages(
        self, tenant_id: str | None, since: datetime | None
    ) -> Iterator[KeysetPage]:
        """Yield pages of credit notes changed since ``since`` (all when None), oldest first.

        Paging is keyset on ``UpdatedDateUTC`` (:class:`KeysetPaginator`): each request asks
        page 1 again with ``If-Modified-Since`` raised to the highest second received, so a
        note edited mid-crawl (moved to the end) cannot push a neighbour across a page boundary
        unseen. Repeats of the boundary second are dropped. More notes in one second than a
        page holds switch the rest of the pass to newest first by page number; such pages
        carry ``hold``, the highest cursor value that is safe before the pass ends.

        Raises:
            DailyLimitError: the tenant's daily quota is spent (not retried).
            PermanentSourceError: bad credentials (401) or tenant not connected (403).
            ContractError: a response that is not the documented envelope, or a paging loop.
            TransientSourceError: throttling or server errors that outlasted the retries.
        """
        pager = KeysetPaginator(
            since,
            self.page_size,
            key=credit_note_id,
            stamp=updated_instant,
            system=SYSTEM,
            endpoint=ENDPOINT,
        )
        while (request := pager.next_request()) is not None:
            body = self._get_page(
                tenant_id, request.since, request.page, descending=request.descending
            )
            records: list[dict[str, Any]] = body[ROOT_KEY]
            pagination = body.get("pagination")
            count = pagination.get("pageCount") if isinstance(pagination, dict) else None
            page = pager.receive(records, count if isinstance(count, int) else None)
            log.debug(
                "xero %s since %s page %d: %d records, %d new",
                tenant_id or "-", request.since, request.page, len(records), len(page),
            )  # fmt: skip
            if page:
                yield page
        log.info(
            "xero %s: pass complete after %d request(s) (%s)",
            tenant_id or "-", pager.requests, pager.stop_reason,
        )  # fmt: skip

    def probe(self) -> str:
        """One small call per tenant (for ``connector check``); say what answered."""
        tenants: tuple[str | None, ...] = self.settings.tenant_ids or (None,)
        seen = []
        for tenant in tenants:
            body = self._get_page(tenant, None, 1, page_size=1)
            count = body.get("pagination", {}).get("itemCount", "?")
            seen.append(f"{tenant or 'custom connection'}: {count} credit note(s)")
        return "; ".join(seen)

    # --- HTTP --------------------------------------------------------------------------------

    def _pacer(self, tenant: str | None) -> MinutePacer:
        key = tenant or ""
        if key not in self._pacers:
            self._pacers[key] = MinutePacer(
                self._calls_per_window, self._window, clock=self._clock, sleep=self._sleep
            )
        return self._pacers[key]

    def _get_page(
        self,
        tenant: str | None,
        since: datetime | None,
        page: int,
        *,
        page_size: int = 0,
        descending: bool = False,
    ) -> dict[str, Any]:
        url = self.settings.base_url + CREDIT_NOTES_PATH
        params = {
            "page": str(page),
            "pageSize": str(page_size or self.page_size),
            "unitdp": str(UNIT_DP),
            "order": "UpdatedDateUTC DESC" if descending else "UpdatedDateUTC ASC",
        }
        headers = {"Accept": "application/json"}
        if tenant:
            headers[TENANT_HEADER] = tenant
        if since is not None:
            headers[IF_MODIFIED_SINCE] = format_if_modified_since(since)
        pacer = self._pacer(tenant)

        def attempt() -> dict[str, Any]:
            pacer.acquire()
            response = self._send(url, params, headers)
            if response.status_code == 401:
                # An expired or revoked token: fetch a new one once, then give up.
                self.token.invalidate()
                pacer.acquire()
                response = self._send(url, params, headers)
            pacer.observe(response.headers.get(MINUTE_REMAINING))
            self._check(response)
            return _envelope(response)

        try:
            return call_with_retries(
                attempt,
                http=self.settings.http,
                stats=self.stats,
                sleep=self._sleep,
                what=f"xero CreditNotes page {page} ({tenant or 'custom connection'})",
            )
        except _Stop as stop:
            raise stop.error from None

    def _send(self, url: str, params: dict[str, str], headers: dict[str, str]) -> httpx.Response:
        token = self.token.get()
        try:
            return self._http.get(
                url, params=params, headers={**headers, "Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, system=SYSTEM, endpoint=ENDPOINT, method="GET") from exc

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 429:
            self.throttled += 1
            if response.headers.get(RATE_LIMIT_PROBLEM, "").lower() == "day":
                raise _Stop(
                    DailyLimitError(
                        SYSTEM,
                        ENDPOINT,
                        "429 daily call limit reached",
                        retry_after=parse_retry_after(response.headers.get("retry-after")),
                        limit="day",
                        hint="The cursor is saved; the next run resumes where this one stopped",
                        **response_facts(response),
                    )
                )
        if status == 503 and response.text.startswith(LEGACY_THROTTLE_BODY):
            # Pre-OAuth2 throttling (docs/apis.md §2.5): a rate limit, retried like a 429 minute.
            self.throttled += 1
            raise RateLimitError(
                SYSTEM,
                ENDPOINT,
                "503 rate limit exceeded (legacy throttling)",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                limit="minute",
                **response_facts(response),
            )
        hint = CREDENTIALS_HINT if status == 401 else TENANT_HINT if status == 403 else ""
        raise_for_status(response, system=SYSTEM, endpoint=ENDPOINT, auth_hint=hint)


def _envelope(response: httpx.Response) -> dict[str, Any]:
    try:
        body = parse_json(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get(ROOT_KEY), list):
        problem = "response is not JSON" if body is None else f"response has no {ROOT_KEY} array"
        raise ContractError(SYSTEM, ENDPOINT, problem, **response_facts(response))
    return body
