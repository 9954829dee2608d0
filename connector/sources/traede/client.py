"""TraedeClient: the TRAEDE Export API over httpx. Yields raw records; knows nothing of Postgres.

Paging follows docs/architecture.md §4, invariant 6: explicit ``page`` from 0 with ``limit`` 60
until an empty or short page, never a mark in between, whatever order the server lists in. The
rule (including servers that cap pages or ignore paging) is ``paging.ExportPaginator``.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from connector.config import TraedeSettings
from connector.errors import ContractError, RateLimitError
from connector.model import MarkOutcome
from connector.sources.http import PooledClient, build_http_client
from connector.sources.retry import (
    RetryStats,
    call_with_retries,
    raise_for_status,
    transport_error,
)
from connector.sources.traede.concurrency import MarkConcurrency
from connector.sources.traede.endpoints import ENDPOINTS, Endpoint
from connector.sources.traede.filters import FilterGroup, encode_filter_groups, format_utc
from connector.sources.traede.marking import send_marks
from connector.sources.traede.paging import ExportPaginator, PageStats, chunks
from connector.sources.traede.responses import SYSTEM, MalformedResponse, mark_results, read_records

log = logging.getLogger(__name__)

AUTH_HINT = (
    "Check TRAEDE_API_TOKEN (the API app's access token) and TRAEDE_APP_KEY (its app key); "
    "the token may have been revoked"
)
QueryPairs = list[tuple[str, str | int | float | bool | None]]


@dataclass(frozen=True)
class ExportOptions:
    """What to ask the export endpoint for (besides paging)."""

    not_exported_since: datetime | None = None
    include_non_booked: bool = False
    filter_groups: tuple[FilterGroup, ...] = ()


class TraedeClient(PooledClient):
    """Client for ``/v10/<resource>/export`` and ``/mark-as-exported``."""

    def __init__(
        self,
        settings: TraedeSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.stats = RetryStats()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._http = build_http_client(
            settings.http,
            base_url=settings.base_url,
            transport=transport,
            max_connections=max(8, settings.mark_concurrency_max * 2),
        )

    # --- requests ------------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.settings.api_token.reveal()}",
            "X-Traede-App-Key": self.settings.app_key.reveal(),
        }

    def _retrying(self, fn: Callable[[], Any], what: str) -> Any:
        return call_with_retries(
            fn, http=self.settings.http, stats=self.stats, sleep=self._sleep, what=what
        )

    def export_params(
        self, endpoint: Endpoint, options: ExportOptions, page: int, limit: int
    ) -> QueryPairs:
        """Query pairs for one export page (``includes[]=lines`` where the resource has lines)."""
        params: QueryPairs = [("system_id", self.settings.system_id)]
        if options.not_exported_since is not None:
            params.append(("not_exported_since", format_utc(options.not_exported_since)))
        if endpoint.has_drafts:
            params.append(("include_non_booked", "1" if options.include_non_booked else "0"))
        params.extend(encode_filter_groups(options.filter_groups))
        if endpoint.has_lines:
            params.append(("includes[]", "lines"))
        params.extend([("page", str(page)), ("limit", str(limit))])
        return params

    def _get_page(self, endpoint: Endpoint, params: QueryPairs) -> list[Any] | Iterator[Any]:
        name = f"{endpoint.resource}.export"

        def attempt() -> list[Any] | Iterator[Any]:
            request = self._http.build_request(
                "GET", endpoint.export_path, params=params, headers=self._auth()
            )
            try:
                response = self._http.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise transport_error(exc, system=SYSTEM, endpoint=name, method="GET") from exc
            try:
                if response.status_code >= 400:
                    response.read()
                    raise_for_status(response, system=SYSTEM, endpoint=name, auth_hint=AUTH_HINT)
                return read_records(response, endpoint, name)
            except httpx.HTTPError as exc:
                response.close()
                raise transport_error(exc, system=SYSTEM, endpoint=name, method="GET") from exc
            except BaseException:
                response.close()
                raise

        try:
            result: list[Any] | Iterator[Any] = self._retrying(attempt, f"GET {name}")
        except MalformedResponse as exc:
            raise ContractError(
                SYSTEM, name, exc.problem, url=exc.url, status=exc.status, body=exc.body
            ) from exc
        return result

    def probe(self) -> str:
        """One cheap read (first page of one accounting entry): proves URL, token and app key."""
        endpoint = ENDPOINTS["accounting_entries"]
        records = self._get_page(endpoint, self.export_params(endpoint, ExportOptions(), 0, 1))
        count = len(records) if isinstance(records, list) else 0
        return "backlog not empty" if count else "nothing waiting to be exported"

    # --- export --------------------------------------------------------------------------

    def export_pages(
        self, resource: str, options: ExportOptions, stats: PageStats | None = None
    ) -> Iterator[list[Any]]:
        """Yield one export pass, page by page, as lists of raw records.

        Explicit ``page``/``limit`` from 0 until :class:`ExportPaginator` says the pass is
        complete; nothing is assumed about the order of the listing. No mark is sent by this
        method, so the offsets cannot shift under the pass.

        Raises:
            IncompletePassError: the server ignores ``page`` and the pass could not reach the
                whole backlog (the pages yielded before are complete and loadable).
        """
        endpoint = ENDPOINTS[resource]
        pager = ExportPaginator(resource, self.settings.page_limit, stats)
        while not pager.done:
            params = self.export_params(endpoint, options, pager.page, pager.limit)
            records = self._get_page(endpoint, params)
            if not isinstance(records, list):
                # Server ignored paging and sent a huge body: this one response is everything.
                warning = f"{resource}: the server sent everything in one response; not paging"
                pager.stats.warnings.append(warning)
                for chunk in chunks(records, pager.limit):
                    pager.stats.pages += 1
                    pager.stats.documents += len(chunk)
                    yield chunk
                return
            passed = pager.take(records)
            if passed:
                yield passed

    # --- marking -------------------------------------------------------------------------

    def mark_exported(
        self,
        resource: str,
        ids: Iterable[int],
        *,
        note: str,
        concurrency: int | None = None,
        control: MarkConcurrency | None = None,
    ) -> Iterator[MarkOutcome]:
        """Acknowledge ``ids`` (committed outbox rows) in calls of at most 10, several in flight.

        Yields one outcome per id as calls complete. Transient call failures are retried by
        the retry policy; an id the server reports as temporarily failed is sent again in a
        later call (up to 3 attempts); one failing id never stops the others. How many calls
        are in flight is ``control``'s (AIMD between ``concurrency`` or
        ``TRAEDE_MARK_CONCURRENCY`` and ``TRAEDE_MARK_CONCURRENCY_MAX``); it hears every 429.

        Raises:
            PermanentSourceError: credentials were refused (401/403): marking stops, the ids
                not yet acknowledged stay pending in the outbox.
        """
        endpoint = ENDPOINTS[resource]
        if control is None:
            start = concurrency or self.settings.mark_concurrency
            control = MarkConcurrency(start, max(start, self.settings.mark_concurrency_max))
        hook = control.on_throttle
        return send_marks(
            lambda chunk: self._mark_call(endpoint, chunk, note, on_throttle=hook),
            ids,
            control=control,
        )

    def _mark_call(
        self,
        endpoint: Endpoint,
        ids: list[int],
        note: str,
        *,
        on_throttle: Callable[[float | None], None] | None = None,
    ) -> dict[int, str | None]:
        """One mark-as-exported call; returns id -> None (acked) or an error text.

        Errors prefixed ``retry:`` are per-item and worth sending again. A 429 is reported to
        ``on_throttle`` (with its ``Retry-After``) before the retry policy waits it out.
        """
        name = f"{endpoint.resource}.mark"
        body = {
            endpoint.root_key: [
                {endpoint.id_field: doc_id, "system_id": self.settings.system_id, "note": note}
                for doc_id in ids
            ]
        }

        def attempt() -> dict[int, str | None]:
            try:
                response = self._http.post(endpoint.mark_path, json=body, headers=self._auth())
            except httpx.HTTPError as exc:
                raise transport_error(exc, system=SYSTEM, endpoint=name, method="POST") from exc
            try:
                raise_for_status(response, system=SYSTEM, endpoint=name, auth_hint=AUTH_HINT)
            except RateLimitError as exc:
                if on_throttle is not None:
                    on_throttle(exc.retry_after)
                raise
            # Parsed inside the retry: a garbled reply is sent again (marks are idempotent).
            return mark_results(response, endpoint, ids)

        results: dict[int, str | None] = self._retrying(attempt, f"POST {name}")
        return results
