"""Pages of the Xero CreditNotes endpoint: query parameters, filters, order and the envelope."""

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connector.emulator.json_bytes import dumps
from connector.emulator.xero_state import XeroState
from connector.sources.xero.contract import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

_ORDERS = {"UpdatedDateUTC ASC", "UpdatedDateUTC DESC", "CreditNoteNumber ASC"}
_CLAUSE = re.compile(r'^\s*(Status|Type)\s*==\s*"([^"]*)"\s*$')


class BadRequest(Exception):
    """A query parameter or header of a CreditNotes request is invalid."""


def _parse_since(value: str) -> int:
    """``If-Modified-Since`` as epoch millis, truncated to the second."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"If-Modified-Since {value!r} is not YYYY-MM-DDTHH:MM:SS") from None
    aware = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return int(aware.timestamp()) * 1000


def _parse_where(value: str) -> list[tuple[str, str]]:
    clauses = []
    for part in value.split("&&"):
        match = _CLAUSE.match(part)
        if not match:
            raise BadRequest(f"unsupported where clause {part.strip()!r}")
        clauses.append((match.group(1), match.group(2)))
    return clauses


def _int_param(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}")
    return value


def build_page(state: XeroState, tenant: str, request: Request) -> Response:
    """Answer one CreditNotes request for ``tenant``; raises BadRequest on bad parameters."""
    page = _int_param(request, "page", None, 1, 10**9)
    size = _int_param(request, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    unitdp = _int_param(request, "unitdp", 2, 0, 4)
    assert size is not None and unitdp is not None
    order = " ".join(request.query_params.get("order", "UpdatedDateUTC ASC").split())
    if order not in _ORDERS:
        raise BadRequest(f"unsupported order {order!r}")
    where = _parse_where(request.query_params["where"]) if "where" in request.query_params else []
    since_header = request.headers.get("if-modified-since")
    since = _parse_since(since_header) if since_header else None
    if page is not None and state.on_page is not None:
        state.on_page(tenant, page)  # tests edit records between page requests
    if page is not None:
        state.churn(tenant)  # the edit-mid-crawl mode: notes already served move to the end
    notes = [
        n
        for n in state.ordered(tenant, order)
        if (since is None or n.updated_ms >= since)
        and all(str(n.doc.get(f)) == v for f, v in where)
    ]
    envelope: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": "connector-emulator",
        "DateTimeUTC": f"/Date({int(state.clock() * 1000)})/",
    }
    if page is not None:
        envelope["pagination"] = {
            "page": page,
            "pageSize": size,
            "pageCount": (len(notes) + size - 1) // size,
            "itemCount": len(notes),
        }
        notes = notes[(page - 1) * size : page * size]
    state.mark_served(tenant, notes)
    body = dumps(envelope)[:-1] + b',"CreditNotes":['
    body += b",".join(n.render(unitdp) for n in notes) + b"]}"
    return Response(body, 200, media_type="application/json")
