"""Reading TRAEDE responses: export pages (buffered, re-parsed or streamed) and mark replies.

A 200 whose body is not the documented JSON raises :class:`MalformedResponse`, a transient
error: the call is retried, and the client turns the last one into a ``ContractError``.
"""

import io
import itertools
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import ijson

from connector.errors import ContractError, TransientSourceError
from connector.jsontext import TooDeepError, parse_json
from connector.sources.traede.contract import RETRYABLE_MARK_ERRORS
from connector.sources.traede.endpoints import Endpoint

log = logging.getLogger(__name__)

SYSTEM = "traede"
# A paged response is small (60 documents); above this the server is sending everything at
# once, and the rest of the body is parsed as a stream so memory stays bounded.
STREAM_THRESHOLD = 32 * 1024 * 1024


class MalformedResponse(TransientSourceError):
    """A 200 whose body is not the documented JSON: retried, then raised as ContractError."""


def malformed(
    response: httpx.Response, name: str, problem: str, body: bytes | None = None
) -> MalformedResponse:
    """The error for ``response``: URL, status and the first 300 bytes of its body.

    ``body`` is given for a streamed response, whose ``content`` was consumed chunk by chunk.
    """
    return MalformedResponse(
        SYSTEM,
        name,
        problem,
        method=response.request.method,
        url=str(response.request.url),
        status=response.status_code,
        body=(response.content if body is None else body)[:300].decode("utf-8", "replace"),
    )


def read_records(
    response: httpx.Response, endpoint: Endpoint, name: str
) -> list[Any] | Iterator[Any]:
    """The records of an export response (a list; a stream for a huge, unpaged body).

    Raises:
        MalformedResponse: the body is not the documented JSON (retried by the caller).
    """
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
            return _stream_records(response, itertools.chain(chunks, stream), endpoint)
    response.close()
    body = b"".join(chunks)
    try:
        parsed = parse_json(body)
    except TooDeepError:
        # One document nests deeper than the recursive parser goes: read the page with
        # ijson, which builds objects iteratively, so that document alone is rejected.
        return _iterative_records(body, endpoint, name, response)
    except ValueError as exc:
        raise malformed(response, name, f"response is not valid JSON ({exc})", body) from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get(endpoint.root_key), list):
        keys = sorted(str(k) for k in parsed) if isinstance(parsed, dict) else type(parsed)
        raise malformed(
            response,
            name,
            f"expected a JSON object with a {endpoint.root_key!r} list, got keys {keys}",
            body,
        )
    records: list[Any] = parsed[endpoint.root_key]
    return records


def _iterative_records(
    body: bytes, endpoint: Endpoint, name: str, response: httpx.Response
) -> list[Any]:
    try:
        return list(ijson.items(io.BytesIO(body), f"{endpoint.root_key}.item", use_float=False))
    except ijson.JSONError as exc:
        raise malformed(response, name, f"response is not valid JSON ({exc})", body) from None


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


def mark_results(
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


def _malformed_mark(
    response: httpx.Response, endpoint: Endpoint, problem: str
) -> MalformedResponse:
    return malformed(response, f"{endpoint.resource}.mark", problem)
