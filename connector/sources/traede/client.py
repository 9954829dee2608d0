"""TraedeClient: the TRAEDE Export API over httpx. Yields raw records; knows nothing of Postgres.

Paging follows DESIGN.md invariant 6: explicit ``page`` from 0 with ``limit`` 60 until an empty
or short page, never a mark in between. Two server misbehaviours are handled instead of
looped on: a server that ignores paging (a page repeats ids already seen: stop, warn) and a
server that caps pages below ``limit`` (a short page followed by a non-empty one: continue
with the observed cap as the limit). Ids ascend across pages (the export is ordered by id),
which is what both checks rely on; that keeps the check O(1) in memory.
"""

import io
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import ijson

from connector.config import TraedeSettings
from connector.errors import (
    ContractError,
    PermanentSourceError,
    SourceError,
    TransientSourceError,
)
from connector.normalize.common import TooDeepError, parse_json
from connector.sources.retry import (
    RetryStats,
    call_with_retries,
    raise_for_status,
    transport_error,
)
from connector.sources.traede.contract import RETRYABLE_MARK_ERRORS
from connector.sources.traede.endpoints import ENDPOINTS, MAX_MARK_ITEMS, Endpoint
from connector.sources.traede.filters import FilterGroup, encode_filter_groups, format_utc
from connector.warehouse.outbox import MarkOutcome

log = logging.getLogger(__name__)

SYSTEM = "traede"
AUTH_HINT = (
    "Check TRAEDE_API_TOKEN (the API app's access token) and TRAEDE_APP_KEY (its app key); "
    "the token may have been revoked"
)
# A paged response is small (60 documents); above this the server is sending everything at
# once, and the rest of the body is parsed as a stream so memory stays bounded.
STREAM_THRESHOLD = 32 * 1024 * 1024
MARK_ITEM_ATTEMPTS = 3
_ID_MIN, _ID_MAX = -(2**63), 2**63 - 1  # staging ids are bigint
QueryPairs = list[tuple[str, str | int | float | bool | None]]


@dataclass(frozen=True)
class ExportOptions:
    """What to ask the export endpoint for (besides paging)."""

    not_exported_since: datetime | None = None
    include_non_booked: bool = False
    filter_groups: tuple[FilterGroup, ...] = ()


@dataclass
class PageStats:
    """Counters of one export pass."""

    pages: int = 0
    documents: int = 0
    warnings: list[str] = field(default_factory=list)


class _Malformed(TransientSourceError):
    """A 200 whose body is not the documented JSON: retried, then raised as ContractError."""


class TraedeClient:
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
        limits = httpx.Limits(
            max_connections=max(8, settings.mark_concurrency * 2),
            max_keepalive_connections=max(8, settings.mark_concurrency * 2),
        )
        self._http = httpx.Client(
            base_url=settings.base_url,
            timeout=httpx.Timeout(settings.http.timeout, connect=min(10.0, settings.http.timeout)),
            limits=limits,
            verify=settings.http.verify_tls,
            transport=transport,
            headers={
                "Accept": "application/json",
                "User-Agent": "accounting-export-connector/0.1",
            },
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> "TraedeClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
                return self._records(response, endpoint, name)
            except httpx.HTTPError as exc:
                response.close()
                raise transport_error(exc, system=SYSTEM, endpoint=name, method="GET") from exc
            except BaseException:
                response.close()
                raise

        try:
            result: list[Any] | Iterator[Any] = self._retrying(attempt, f"GET {name}")
        except _Malformed as exc:
            raise ContractError(
                SYSTEM, name, exc.problem, url=exc.url, status=exc.status, body=exc.body
            ) from exc
        return result

    def _records(
        self, response: httpx.Response, endpoint: Endpoint, name: str
    ) -> list[Any] | Iterator[Any]:
        chunks: list[bytes] = []
        size = 0
        stream = response.iter_bytes()
        for chunk in stream:
            chunks.append(chunk)
            size += len(chunk)
            if size > STREAM_THRESHOLD:
                log.warning(
                    "%s: response over %d MB; the server is not paging, parsing it as a stream",
                    name,
                    STREAM_THRESHOLD // 2**20,
                )
                return self._stream_records(response, itertools.chain(chunks, stream), endpoint)
        response.close()
        body = b"".join(chunks)
        try:
            parsed = parse_json(body)
        except TooDeepError:
            # One document nests deeper than the recursive parser goes: read the page with
            # ijson, which builds objects iteratively, so that document alone is rejected.
            return self._iterative_records(body, endpoint, name, response)
        except ValueError as exc:
            raise _Malformed(
                SYSTEM,
                name,
                f"response is not valid JSON ({exc})",
                url=str(response.request.url),
                status=response.status_code,
                body=body[:300].decode("utf-8", "replace"),
            ) from None
        if not isinstance(parsed, dict) or not isinstance(parsed.get(endpoint.root_key), list):
            keys = sorted(str(k) for k in parsed) if isinstance(parsed, dict) else type(parsed)
            raise _Malformed(
                SYSTEM,
                name,
                f"expected a JSON object with a {endpoint.root_key!r} list, got keys {keys}",
                url=str(response.request.url),
                status=response.status_code,
                body=body[:300].decode("utf-8", "replace"),
            )
        records: list[Any] = parsed[endpoint.root_key]
        return records

    @staticmethod
    def _iterative_records(
        body: bytes, endpoint: Endpoint, name: str, response: httpx.Response
    ) -> list[Any]:
        try:
            return list(ijson.items(io.BytesIO(body), f"{endpoint.root_key}.item", use_float=False))
        except ijson.JSONError as exc:
            raise _Malformed(
                SYSTEM,
                name,
                f"response is not valid JSON ({exc})",
                url=str(response.request.url),
                status=response.status_code,
                body=body[:300].decode("utf-8", "replace"),
            ) from None

    @staticmethod
    def _stream_records(
        response: httpx.Response, chunks: Iterator[bytes], endpoint: Endpoint
    ) -> Iterator[Any]:
        class _Reader:
            def __init__(self) -> None:
                self.buffer = b""

            def read(self, n: int = -1) -> bytes:
                while n < 0 or len(self.buffer) < n:
                    nxt = next(chunks, None)
                    if nxt is None:
                        break
                    self.buffer += nxt
                if n < 0:
                    out, self.buffer = self.buffer, b""
                else:
                    out, self.buffer = self.buffer[:n], self.buffer[n:]
                return out

        try:
            yield from ijson.items(_Reader(), f"{endpoint.root_key}.item", use_float=False)
        except (ijson.JSONError, httpx.HTTPError) as exc:
            raise ContractError(
                SYSTEM, f"{endpoint.resource}.export", f"streamed response broke off: {exc}"
            ) from exc
        finally:
            response.close()

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

        Explicit ``page``/``limit`` until an empty or short page (a short page is confirmed
        by asking for the next one, which also reveals servers that cap pages). No mark is
        sent by this method, so the offsets cannot shift under the pass.
        """
        endpoint = ENDPOINTS[resource]
        stats = stats if stats is not None else PageStats()
        limit = self.settings.page_limit
        page = 0
        received = 0
        last_id: int | None = None
        previous: tuple[Any, ...] | None = None
        while True:
            records = self._get_page(endpoint, self.export_params(endpoint, options, page, limit))
            if not isinstance(records, list):
                # Server ignored paging and sent a huge body: this one response is everything.
                warning = f"{resource}: the server sent everything in one response; not paging"
                stats.warnings.append(warning)
                for chunk in _chunks(records, limit):
                    stats.pages += 1
                    stats.documents += len(chunk)
                    yield chunk
                return
            stats.pages += 1
            fingerprint = tuple(_id_of(r) for r in records)
            fresh = [r for r in records if _after(r, last_id)]
            stalled = last_id is not None and not any(_advances(r, last_id) for r in records)
            if records and (fingerprint == previous or stalled):
                warning = (
                    f"{resource}: page {page} repeated documents already received; the server "
                    "ignores paging, so this pass stops here (everything it sends was received)"
                )
                log.warning(warning)
                stats.warnings.append(warning)
                return
            previous = fingerprint
            if records:
                # Every record is passed on, also one whose id is not above those already
                # received (out of order): loads are upserts, so a repeat is harmless and a
                # record is never dropped silently. Only fresh ones count towards the offset.
                stats.documents += len(records)
                received += len(fresh)
                last_id = _max_id(records, last_id)
                yield records
            if len(records) > limit:
                warning = f"{resource}: page {page} had {len(records)} > limit {limit} documents"
                log.warning("%s; the server is not paging", warning)
                stats.warnings.append(warning)
            if not records:
                return
            if len(records) < limit:
                probe = self._get_page(
                    endpoint, self.export_params(endpoint, options, page + 1, limit)
                )
                probe_list = probe if isinstance(probe, list) else list(probe)
                stats.pages += 1
                if not any(_advances(r, last_id) for r in probe_list):
                    return
                # The next page is not empty: the server caps pages at len(records). Go on
                # with that limit from the offset reached; ids already received are skipped.
                cap = len(records)
                warning = (
                    f"{resource}: the server returns at most {cap} documents a page although "
                    f"limit={limit} was asked; continuing with limit={cap}"
                )
                log.warning(warning)
                stats.warnings.append(warning)
                limit, page, previous = cap, received // cap, None
                continue
            page += 1

    # --- marking -------------------------------------------------------------------------

    def mark_exported(
        self, resource: str, ids: Iterable[int], *, note: str, concurrency: int | None = None
    ) -> Iterator[MarkOutcome]:
        """Acknowledge ``ids`` (committed outbox rows) in calls of at most 10, several in flight.

        Yields one outcome per id as calls complete. Transient call failures are retried by
        the retry policy; an id the server reports as temporarily failed is sent again in a
        later call (up to 3 attempts); one failing id never stops the others.

        Raises:
            PermanentSourceError: credentials were refused (401/403): marking stops, the ids
                not yet acknowledged stay pending in the outbox.
        """
        endpoint = ENDPOINTS[resource]
        workers = concurrency or self.settings.mark_concurrency
        attempts: dict[int, int] = {}
        retry_queue: list[int] = []
        source = iter(ids)

        def next_chunk() -> list[int]:
            chunk = retry_queue[:MAX_MARK_ITEMS]
            del retry_queue[: len(chunk)]
            chunk.extend(itertools.islice(source, MAX_MARK_ITEMS - len(chunk)))
            return chunk

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="traede-mark") as pool:
            in_flight: dict[Future[dict[int, str | None]], list[int]] = {}
            while True:
                while len(in_flight) < workers:
                    chunk = next_chunk()
                    if not chunk:
                        break
                    for doc_id in chunk:
                        attempts[doc_id] = attempts.get(doc_id, 0) + 1
                    in_flight[pool.submit(self._mark_call, endpoint, chunk, note)] = chunk
                if not in_flight:
                    return
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
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

    def _mark_call(self, endpoint: Endpoint, ids: list[int], note: str) -> dict[int, str | None]:
        """One mark-as-exported call; returns id -> None (acked) or an error text.

        Errors prefixed ``retry:`` are per-item and worth sending again.
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
            raise_for_status(response, system=SYSTEM, endpoint=name, auth_hint=AUTH_HINT)
            # Parsed inside the retry: a garbled reply is sent again (marks are idempotent).
            return _mark_results(response, endpoint, ids)

        results: dict[int, str | None] = self._retrying(attempt, f"POST {name}")
        return results


def _mark_results(
    response: httpx.Response, endpoint: Endpoint, ids: list[int]
) -> dict[int, str | None]:
    """Read per-item outcomes; an empty 2xx (204, no body) acknowledges every id sent.

    A body that cannot be read raises a transient error (the call is retried, then its ids
    are recorded failed): it may have held per-item failures, so it acknowledges nothing.

    The shape (undocumented by TRAEDE, chosen by our emulator) is
    ``{"invoices": [{"invoice_id": 1, "status": "exported"}, {"invoice_id": 2,
    "status": "error", "error": "not_found", "message": "..."}]}``.
    """
    if response.status_code == 204 or not response.content.strip():
        return dict.fromkeys(ids)
    # A body that is there but unreadable (cut off by a proxy, another root key) may hold
    # per-item failures: it acknowledges nothing. Raised as transient, so the call is retried.
    try:
        parsed = parse_json(response.content)
    except ValueError as exc:
        raise _malformed_mark(response, endpoint, f"reply is not valid JSON ({exc})") from None
    items = parsed.get(endpoint.root_key) if isinstance(parsed, dict) else None
    if not isinstance(items, list):
        keys = sorted(str(k) for k in parsed) if isinstance(parsed, dict) else type(parsed)
        raise _malformed_mark(
            response,
            endpoint,
            f"expected a JSON object with a {endpoint.root_key!r} list, got keys {keys}",
        )
    results: dict[int, str | None] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get(endpoint.id_field), int):
            continue
        doc_id = item[endpoint.id_field]
        status = str(item.get("status", "exported"))
        if status in {"exported", "ok", "success"}:
            results[doc_id] = None
        else:
            code = str(item.get("error", "error"))
            message = str(item.get("message", ""))[:300]
            prefix = "retry:" if code in RETRYABLE_MARK_ERRORS else ""
            results[doc_id] = f"{prefix}{code}: {message}".rstrip(": ")
    for doc_id in ids:
        results.setdefault(doc_id, None if not items else "no outcome for this id in the response")
    return results


def _malformed_mark(response: httpx.Response, endpoint: Endpoint, problem: str) -> _Malformed:
    return _Malformed(
        SYSTEM,
        f"{endpoint.resource}.mark",
        problem,
        method="POST",
        url=str(response.request.url),
        status=response.status_code,
        body=response.content[:300].decode("utf-8", "replace"),
    )


def _doc_id(record: Any) -> int | None:
    """The record's id if it can be one: an int within bigint.

    Anything else is left to normalization to reject and must not steer paging (a huge id
    would make every later document look already received and end the pass).
    """
    doc_id = record.get("id") if isinstance(record, dict) else None
    if isinstance(doc_id, int) and not isinstance(doc_id, bool) and _ID_MIN <= doc_id <= _ID_MAX:
        return doc_id
    return None


def _after(record: Any, last_id: int | None) -> bool:
    doc_id = _doc_id(record)
    # Records without a usable id are passed on (normalization rejects them with a reason).
    return last_id is None or doc_id is None or doc_id > last_id


def _id_of(record: Any) -> Any:
    return record.get("id") if isinstance(record, dict) else None


def _advances(record: Any, last_id: int | None) -> bool:
    doc_id = _doc_id(record)
    return doc_id is not None and (last_id is None or doc_id > last_id)


def _max_id(records: list[Any], last_id: int | None) -> int | None:
    ids = [i for i in map(_doc_id, records) if i is not None]
    if not ids:
        return last_id
    top = max(ids)
    return top if last_id is None else max(top, last_id)


def _chunks(records: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while True:
        chunk = list(itertools.islice(records, size))
        if not chunk:
            return
        yield chunk
