"""UnleashedClient: signed, path-paged ``GET /CreditNotes/{n}`` that yields raw records.

The query string is built once per crawl in a fixed parameter order, signed, and sent verbatim
(httpx keeps an already percent-encoded query as it is), so the server's HMAC over the query
"as received" matches. The page number lives in the path and is not signed (docs/apis.md §3.1).
"""

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx

from connector.config import UnleashedSettings
from connector.errors import ContractError
from connector.jsontext import parse_json
from connector.sources.http import PooledClient, build_http_client
from connector.sources.retry import (
    RetryStats,
    call_with_retries,
    raise_for_status,
    response_facts,
    transport_error,
)
from connector.sources.shift_guard import ShiftGuard
from connector.sources.unleashed.contract import (
    AUTH_HINT,
    CREDIT_NOTES_PATH,
    ENDPOINT,
    MAX_PAGE_SIZE,
    SYSTEM,
    build_query,
    format_modified_since,
    sign,
)

log = logging.getLogger(__name__)

_PAGINATION_KEYS = ("NumberOfItems", "PageSize", "PageNumber", "NumberOfPages")


class UnleashedClient(PooledClient):
    """Reads credit notes from the Unleashed API; knows nothing of Postgres.

    Args:
        settings: base URL, API id and key, client type and transport knobs.
        transport: an httpx transport to use instead of the network (tests).
        sleep: how to wait between retries (tests inject a recorder).
        page_size: ``pageSize`` sent on every page (1..1000; large pages save monthly quota).
    """

    def __init__(
        self,
        settings: UnleashedSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}")
        self.settings = settings
        self.page_size = page_size
        self.stats = RetryStats()
        self._sleep = sleep
        self._http = build_http_client(
            settings.http,
            base_url=settings.base_url,
            transport=transport,
            max_connections=2,
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                "api-auth-id": settings.api_id,
                "client-type": settings.client_type,
            },
        )

    def credit_notes_query(self, since: datetime | None) -> str:
        """The query string of a crawl: ``modifiedSince`` (UTC, when given), then ``pageSize``."""
        params: list[tuple[str, str]] = []
        if since is not None:
            params.append(("modifiedSince", format_modified_since(since)))
        params.append(("pageSize", str(self.page_size)))
        return build_query(params)

    def credit_note_pages(self, since: datetime | None) -> Iterator[list[dict[str, Any]]]:
        """Yield the items of pages 1..NumberOfPages, newest-modified first.

        :class:`ShiftGuard` decides the pages: when ``NumberOfItems`` falls between two
        responses (records deleted mid-crawl shift the rest left), it steps back so no record
        slides unseen onto a page already read.

        Args:
            since: ask only for records modified since this instant (None: everything).

        Raises:
            TransientSourceError: a page kept failing with 429/5xx/timeouts after retries.
            PermanentSourceError: the API refused the request (403: wrong id or key).
            ContractError: a reply was not the documented page envelope.
        """
        query = self.credit_notes_query(since)
        signature = sign(query, self.settings.api_key.reveal())
        guard = ShiftGuard(self.page_size, system=SYSTEM, endpoint=ENDPOINT)
        while (page := guard.next_page()) is not None:
            envelope = self._get_page(page, query, signature)
            items = envelope["Items"]
            pagination = envelope["Pagination"]
            pages = pagination["NumberOfPages"]
            log.info("unleashed/credit_notes: page %d of %d, %d items", page, pages, len(items))
            guard.receive(len(items), pagination["NumberOfItems"], pages)
            if items:
                yield items
        log.info(
            "unleashed/credit_notes: pass complete after %d request(s), %d step-back(s) (%s)",
            guard.requests, guard.step_backs, guard.stop_reason,
        )  # fmt: skip

    def probe(self) -> str:
        """Check the credentials with one cheap call (``pageSize=0``: just the count).

        Raises:
            PermanentSourceError: 403, the id or key is wrong.
        """
        query = build_query([("pageSize", "0")])
        envelope = self._get_page(1, query, sign(query, self.settings.api_key.reveal()), "")
        return f"{envelope['Pagination']['NumberOfItems']} credit note(s) visible"

    def _get_page(
        self, page: int, query: str, signature: str, page_path: str | None = None
    ) -> dict[str, Any]:
        # Built as one string: httpx leaves a valid percent-encoded query untouched, so the
        # bytes on the wire are exactly the bytes signed.
        suffix = f"/{page}" if page_path is None else page_path
        path = f"{self.settings.base_url}{CREDIT_NOTES_PATH}{suffix}"
        target = httpx.URL(f"{path}?{query}" if query else path)

        def attempt() -> dict[str, Any]:
            try:
                response = self._http.get(target, headers={"api-auth-signature": signature})
            except httpx.HTTPError as exc:
                raise transport_error(exc, system=SYSTEM, endpoint=ENDPOINT, method="GET") from exc
            raise_for_status(response, system=SYSTEM, endpoint=ENDPOINT, auth_hint=AUTH_HINT)
            return _envelope(response, page)

        return call_with_retries(
            attempt,
            http=self.settings.http,
            stats=self.stats,
            sleep=self._sleep,
            what=f"GET {CREDIT_NOTES_PATH}{suffix}",
        )


def _envelope(response: httpx.Response, page: int) -> dict[str, Any]:
    """Parse and check one page reply; anything off is a :class:`ContractError`."""

    def broken(problem: str) -> ContractError:
        return ContractError(SYSTEM, ENDPOINT, problem, **response_facts(response))

    try:
        body = parse_json(response.content)
    except (ValueError, UnicodeDecodeError):
        raise broken("the reply is not JSON") from None
    if not isinstance(body, dict):
        raise broken("the reply is not a JSON object")
    pagination, items = body.get("Pagination"), body.get("Items")
    if not isinstance(pagination, dict):
        raise broken("the reply has no Pagination object")
    if not isinstance(items, list):
        raise broken("the reply has no Items list")
    for key in _PAGINATION_KEYS:
        if type(pagination.get(key)) is not int:
            raise broken(f"Pagination.{key} is missing or not an integer")
    if items and pagination["PageNumber"] != page:
        # Guards against a server (or proxy) that ignores the path and repeats page 1.
        raise broken(f"asked for page {page} but got PageNumber {pagination['PageNumber']}")
    return body
