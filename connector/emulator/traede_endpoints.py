"""Handlers of TRAEDE's two endpoints: export pages and mark-as-exported (APIS.md §1)."""

from collections.abc import Iterator

import orjson
from starlette.requests import Request

from connector.emulator.faults import FaultDecision
from connector.emulator.json_bytes import dumps
from connector.emulator.traede_query import QueryError, parse_export_query
from connector.emulator.traede_replies import Reply, error_reply, validation_error
from connector.emulator.traede_resources import ID_KEYS
from connector.emulator.traede_state import ConflictError, MarkViolation, TraedeState

_CHUNK = 500


async def export(
    state: TraedeState, request: Request, resource: str, decision: FaultDecision, root: str
) -> Reply:
    """Answer ``GET /v10/<resource>/export``: one page, or every match when not paged."""
    config = state.config
    try:
        query, page, limit = parse_export_query(
            request.query_params.multi_items(),
            has_status=resource != "accounting_entries",
            honour_since=config.honour_not_exported_since,
        )
    except QueryError as exc:
        if exc.status == 500:
            return error_reply(500, exc.detail)
        return validation_error(exc.detail, exc.status)
    prefix = b'{"' + root.encode() + b'":['
    store = state.store(resource)
    if not config.paged:
        with state.lock:
            ids = store.select(query, 0, None, config.order)
            if len(ids) <= _CHUNK:
                docs = [store.serialized(i, query.include_lines) for i in ids]
                return Reply(200, prefix + b",".join(docs) + b"]}")
        return Reply(
            200,
            chunks=_stream(
                state, store_name=resource, ids=ids, prefix=prefix, lines=query.include_lines
            ),
        )
    page = 0 if page is None else page
    limit = config.default_limit if limit is None else limit
    if page < 0:
        return validation_error("The page must be at least 0.")
    if limit < 1:
        return validation_error("The limit must be at least 1.")
    if limit > config.max_limit:
        return validation_error(f"The limit may not be greater than {config.max_limit}.")
    caps = [c for c in (config.page_cap, decision.page_cap) if c]
    if caps:
        limit = min(limit, *caps)
    with state.lock:
        offset = page * limit if config.honour_page else 0
        ids = store.select(query, offset, limit, config.order)
        docs = [store.serialized(i, query.include_lines) for i in ids]
    return Reply(200, prefix + b",".join(docs) + b"]}")


def _stream(
    state: TraedeState, *, store_name: str, ids: list[int], prefix: bytes, lines: bool
) -> Iterator[bytes]:
    yield prefix
    store = state.store(store_name)
    for start in range(0, len(ids), _CHUNK):
        with state.lock:
            docs = [store.serialized(i, lines) for i in ids[start : start + _CHUNK]]
        yield (b"," if start else b"") + b",".join(docs)
    yield b"]}"


async def mark_as_exported(
    state: TraedeState, request: Request, resource: str, decision: FaultDecision, root: str
) -> Reply:
    """Answer ``POST /v10/<resource>/mark-as-exported``: one outcome per item."""
    body = await request.body()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return validation_error("The request body must be valid JSON.")
    items = data.get(resource) if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        return validation_error(f"The {resource} field is required and must be an array.")
    most = state.config.max_mark_items
    if len(items) > most:
        return validation_error(f"The {resource} may not have more than {most} items.")
    id_key = ID_KEYS[resource]
    parsed: list[tuple[int, str, str | None]] = []
    for i, item in enumerate(items):
        where = f"{resource}.{i}"
        if not isinstance(item, dict):
            return validation_error(f"The {where} must be an object.")
        doc_id, system_id, note = item.get(id_key), item.get("system_id"), item.get("note")
        if not isinstance(doc_id, int) or isinstance(doc_id, bool):
            return validation_error(f"The {where}.{id_key} field is required (integer).")
        if not isinstance(system_id, str) or not system_id:
            return validation_error(f"The {where}.system_id field is required.")
        if note is not None and not isinstance(note, str):
            return validation_error(f"The {where}.note must be a string.")
        parsed.append((doc_id, system_id, note))
    try:
        outcomes = state.mark(resource, parsed, decision.mark_fails)
    except MarkViolation:
        return error_reply(500, "An error occurred.")
    except ConflictError as exc:
        return validation_error(exc.detail, exc.status)
    marked = [o[id_key] for o in outcomes if o["status"] == "exported"]
    return Reply(200, dumps({root: outcomes}), ids_marked=marked)
