"""Unleashed API emulator: ``GET /CreditNotes[/{page}]`` with HMAC auth, from seeded data.

Behaviour (APIS.md §3): the signature is checked over the raw query string as received; both
``Accept`` and ``Content-Type`` must be ``application/json`` (``application/xml`` is answered
with 400 "XML is not supported by this emulator", anything else with 406); the page number is
1-based in the path (``/CreditNotes/2`` or ``/CreditNotes/Page/2``); order is ``LastModifiedOn``
descending (ties: ``CreditNumber`` descending). Filters: ``modifiedSince`` (>=, UTC; truncated
to the day when ``day_granularity``), ``creditStatus``, ``startDate`` (CreatedOn >=),
``endDate`` (CreatedOn <), and ``creditNumber``, which overrides every other filter.
Admin routes under ``/_emulator`` need no signature.
"""

import hmac
import re
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector.emulator.json_bytes import dumps
from connector.emulator.unleashed_data import VENDOR_EXAMPLE_RECORD, generate_records
from connector.emulator.unleashed_state import Note, UnleashedState
from connector.jsontext import parse_json
from connector.normalize.common import ms_date_to_utc
from connector.sources.unleashed.contract import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, sign

DEFAULT_API_ID = "emulator-api-id"
DEFAULT_API_KEY = "emulator-api-key"
_JSON = "application/json"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def create_unleashed_app(
    *,
    seed: int = 1,
    count: int = 250,
    api_id: str = DEFAULT_API_ID,
    api_key: str = DEFAULT_API_KEY,
    day_granularity: bool = False,
    include_example: bool = True,
    edit_mid_crawl: int = 0,
    delete_mid_crawl: int = 0,
) -> tuple[Starlette, UnleashedState]:
    """Build the emulator app and its state (``count`` seeded records + the vendor example).

    ``edit_mid_crawl`` edits that many notes already served before each page request (they
    move to page 1); ``delete_mid_crawl`` deletes one note already served before each page
    request until that many are gone. Both can also be set with
    ``POST /_emulator/unleashed/mid-crawl`` (``{"edit": n, "delete": m}``).
    """
    state = UnleashedState(
        api_id=api_id,
        api_key=api_key,
        day_granularity=day_granularity,
        edit_mid_crawl=edit_mid_crawl,
        delete_mid_crawl=delete_mid_crawl,
    )
    for record in generate_records(seed, count):
        state.put_raw(dumps(record))
    if include_example:
        state.put_raw(VENDOR_EXAMPLE_RECORD)

    async def credit_notes(request: Request) -> Response:
        return _credit_notes(state, request)

    async def admin_edit(request: Request) -> Response:
        body = parse_json(await request.body())
        if not isinstance(body, dict) or not isinstance(body.get("CreditNumber"), str):
            return _error(400, "Body must be an object with CreditNumber")
        when = body.get("LastModifiedOn")
        modified = ms_date_to_utc(when, "LastModifiedOn") if when else None
        record = state.edit(body["CreditNumber"], body.get("changes") or {}, modified=modified)
        return Response(dumps(record), media_type=_JSON)

    async def admin_mid_crawl(request: Request) -> Response:
        body = parse_json(await request.body())
        values = [body.get(k, 0) for k in ("edit", "delete")] if isinstance(body, dict) else []
        if len(values) != 2 or not all(isinstance(v, int) and v >= 0 for v in values):
            return _error(400, 'Body must be {"edit": <per page>, "delete": <budget>}')
        with state.lock:
            state.edit_mid_crawl, state.delete_mid_crawl = values
        return JSONResponse({"edit": values[0], "delete": values[1]})

    async def admin_state(request: Request) -> Response:
        return JSONResponse(state.snapshot())

    routes = [
        Route("/CreditNotes", credit_notes),
        Route("/CreditNotes/Page/{page}", credit_notes),
        Route("/CreditNotes/{page}", credit_notes),
        Route("/_emulator/unleashed/credit-notes", admin_edit, methods=["POST"]),
        Route("/_emulator/unleashed/mid-crawl", admin_mid_crawl, methods=["POST"]),
        Route("/_emulator/state", admin_state),
    ]
    return Starlette(routes=routes), state


def _error(status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps({"Description": description}), status, headers, media_type=_JSON)


def _credit_notes(state: UnleashedState, request: Request) -> Response:
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    with state.lock:
        call = {
            "n": len(state.calls) + 1,
            "path": request.url.path,
            "query": raw_query,
            "client_type": request.headers.get("client-type"),
            "status": 200,
        }
        state.calls.append(call)
        fault = state.faults.get(call["n"])
    response = _answer(state, request, raw_query, fault)
    call["status"] = response.status_code
    return response


def _answer(
    state: UnleashedState,
    request: Request,
    raw_query: str,
    fault: tuple[int, float | None] | None,
) -> Response:
    expected = sign(raw_query, state.api_key)
    given = request.headers.get("api-auth-signature", "")
    if request.headers.get("api-auth-id") != state.api_id or not _same(given, expected):
        with state.lock:
            state.signature_failures += 1
        return _error(403, "Forbidden: invalid signature")
    media = (request.headers.get("accept", ""), request.headers.get("content-type", ""))
    if any("xml" in m for m in media):
        return _error(400, "XML is not supported by this emulator; use application/json")
    if not all(_JSON in m for m in media):
        return _error(406, "Set both Accept and Content-Type to application/json")
    if fault is not None:
        status, retry_after = fault
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
        return _error(status, "Injected fault", headers)
    page_text = request.path_params.get("page", "1")
    if _GUID.match(page_text):
        # The server tells a GUID from a page number by its shape (APIS.md §3.2).
        found = [n for n in state.ordered() if n.record().get("Guid") == page_text]
        if not found:
            return _error(404, f"No credit note with Guid {page_text}")
        return Response(found[0].raw, media_type=_JSON)
    if not page_text.isdigit() or int(page_text) < 1:
        return _error(404, f"No credit note or page {page_text!r}")
    page = int(page_text)
    if state.on_page is not None:
        state.on_page(page)
    state.churn()  # the mid-crawl modes (off unless set)
    try:
        notes, size = _select(state, request.query_params)
    except ValueError as exc:
        return _error(400, str(exc))
    pages = 0 if size == 0 else -(-len(notes) // size)
    chosen = [] if size == 0 else notes[(page - 1) * size : page * size]
    state.mark_served(chosen)
    pagination = {
        "NumberOfItems": len(notes),
        "PageSize": size,
        "PageNumber": page,
        "NumberOfPages": pages,
    }
    body = b'{"Pagination":%s,"Items":[%s]}' % (dumps(pagination), b",".join(n.raw for n in chosen))
    return Response(body, media_type=_JSON)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _select(state: UnleashedState, params: Any) -> tuple[list[Note], int]:
    size_text = params.get("pageSize", str(DEFAULT_PAGE_SIZE))
    if not size_text.isdigit():
        raise ValueError(f"pageSize must be a whole number, got {size_text!r}")
    size = int(size_text)
    if size > MAX_PAGE_SIZE:
        raise ValueError(f"pageSize must be at most {MAX_PAGE_SIZE}")
    notes = state.ordered()
    number = params.get("creditNumber")
    if number:  # overrides every other filter (APIS.md §3.2)
        return [n for n in notes if n.credit_number == number], size
    since = _param_time(params, "modifiedSince", state.day_granularity)
    start = _param_time(params, "startDate", False)
    end = _param_time(params, "endDate", False)
    status = params.get("creditStatus")
    selected = [
        n
        for n in notes
        if (since is None or n.modified >= since)
        and (status is None or n.status == status)
        and (start is None or (n.created is not None and n.created >= start))
        and (end is None or (n.created is not None and n.created < end))
    ]
    return selected, size


def _param_time(params: Any, name: str, day_only: bool) -> datetime | None:
    text = params.get(name)
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            value = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return value.replace(hour=0, minute=0, second=0) if day_only else value
    raise ValueError(f"{name} must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC), got {text!r}")
