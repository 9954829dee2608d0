"""ASGI emulator of TRAEDE's Export APIs (APIS.md §1), with fault injection and an admin API.

Export: ``GET /v10/{invoices,credit-notes,accounting-entries}/export`` (see ``traede_query``
for parameters). Paged by default: ``page`` is 0-based, ``limit`` defaults to 20 and may not
exceed 60; ordered by id ascending.

Mark: ``POST /v10/<resource>/mark-as-exported`` with ``{"invoices": [{"invoice_id": 1,
"system_id": "erp", "note": "..."}]}`` (1 to 10 items) answers 200 with one outcome per item::

    {"invoices": [
      {"invoice_id": 1, "system_id": "erp", "status": "exported",
       "exported_at": "2026-11-21 05:00:00"},
      {"invoice_id": 999, "system_id": "erp", "status": "error", "error": "not_found",
       "message": "invoice 999 does not exist"},
      {"invoice_id": 7, "system_id": "erp", "status": "error",
       "error": "temporarily_unavailable", "message": "invoice 7 could not be marked, try again"}
    ]}

Re-marking is idempotent (status ``exported``) and moves the mark's timestamp to now, unless
``mark_conflict_status`` is configured. A mark call invokes the ``before_mark`` hook first;
if it raises, the reply is a 500, nothing is marked and ``state.violations`` records why.

Calls are counted and fault-checked only after authentication passes; rejected calls are
logged but do not consume a call number. Errors use heimdal shapes: 422
``{"errors":[{"status":"422","code":0,"title":"Validation error","detail":...}]}``, others
``{"status":"error","message":...}``.

Admin (no auth) under ``/_emulator/``: ``GET state``, ``GET calls``, ``POST reset-calls``,
``GET|POST|DELETE faults``, ``GET|POST config``, ``GET|DELETE traede/{resource}/marks``,
``GET|POST traede/{resource}/documents``, ``POST traede/{resource}/raw``.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from connector.emulator.faults import TERMINAL_BEFORE, FaultDecision, FaultPlan, FaultRule
from connector.emulator.traede_data import generate
from connector.emulator.traede_query import QueryError, parse_export_query
from connector.emulator.traede_state import (
    ID_KEYS,
    PATH_RESOURCES,
    BeforeMark,
    ConflictError,
    MarkViolation,
    TraedeConfig,
    TraedeState,
    dumps,
    format_datetime,
    resource_name,
)

_JSON = "application/json"
_CHUNK = 500
_HTML = (
    "<html><head><title>{status} Bad Gateway</title></head><body>"
    "<center><h1>{status} Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass
class Reply:
    """A reply before faults spoil it: full ``body`` or streamed ``chunks``."""

    status: int
    body: bytes = b""
    chunks: Iterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = _JSON
    ids_marked: list[int] = field(default_factory=list)

    def materialize(self) -> bytes:
        """Return the whole body, draining ``chunks`` if streamed."""
        if self.chunks is not None:
            self.body, self.chunks = b"".join(self.chunks), None
        return self.body


def validation_error(detail: str, status: int = 422) -> Reply:
    """A heimdal-style validation error reply."""
    error = {"status": str(status), "code": 0, "title": "Validation error", "detail": detail}
    return Reply(status, dumps({"errors": [error]}))


def error_reply(status: int, message: str) -> Reply:
    """A heimdal-style ``{"status":"error","message":...}`` reply."""
    return Reply(status, dumps({"status": "error", "message": message}))


class _DroppedResponse(Response):
    """Sends the headers (full Content-Length) and half the body, then gives up.

    Returning without finishing the body makes uvicorn close the connection, so the client
    sees an incomplete message (httpx: RemoteProtocolError).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})


def _fault_reply(rule: FaultRule) -> Reply:
    if rule.kind == "429":
        reply = error_reply(429, "Too Many Attempts.")
        retry_after = rule.param("retry_after", 1)
        text = str(int(retry_after)) if retry_after == int(retry_after) else str(retry_after)
        reply.headers["Retry-After"] = text
        return reply
    if rule.kind == "unauthorized":
        return error_reply(401, "Unauthenticated.")
    if rule.kind == "html":
        status = int(rule.param("status", 502))
        return Reply(status, _HTML.format(status=status).encode(), media_type="text/html")
    return error_reply(int(rule.kind), "An error occurred.")


class TraedeEmulator:
    """Request handlers over one ``TraedeState``; ``app`` is the Starlette application."""

    def __init__(self, state: TraedeState) -> None:
        self.state = state
        routes = []
        for slug, resource in PATH_RESOURCES.items():
            routes.append(Route(f"/v10/{slug}/export", self._export_route(resource)))
            routes.append(
                Route(f"/v10/{slug}/mark-as-exported", self._mark_route(resource), methods=["POST"])
            )
        routes += [
            Route("/_emulator/state", self.admin_state),
            Route("/_emulator/calls", self.admin_calls),
            Route("/_emulator/reset-calls", self.admin_reset_calls, methods=["POST"]),
            Route("/_emulator/faults", self.admin_faults, methods=["GET", "POST", "DELETE"]),
            Route("/_emulator/config", self.admin_config, methods=["GET", "POST"]),
            Route(
                "/_emulator/traede/{resource}/marks",
                self.admin_marks,
                methods=["GET", "DELETE"],
            ),
            Route(
                "/_emulator/traede/{resource}/documents",
                self.admin_documents,
                methods=["GET", "POST"],
            ),
            Route("/_emulator/traede/{resource}/raw", self.admin_raw, methods=["POST"]),
        ]
        self.app = Starlette(routes=routes, exception_handlers={HTTPException: self._http_error})

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "An error occurred."
        return self._response(error_reply(status, detail))

    # -- TRAEDE endpoints -------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        if token is None:
            token = request.query_params.get("access_token")
        app_key = request.headers.get("x-traede-app-key")
        return token == self.state.token and app_key == self.state.app_key

    def _export_route(self, resource: str) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            return await self._serve(request, f"{resource}.export", resource, self._export)

        return route

    def _mark_route(self, resource: str) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            return await self._serve(request, f"{resource}.mark", resource, self._mark)

        return route

    async def _serve(
        self,
        request: Request,
        endpoint: str,
        resource: str,
        handler: Callable[[Request, str, FaultDecision, str], Awaitable[Reply]],
    ) -> Response:
        state = self.state
        call_no = 0
        decision = FaultDecision()
        if not self._authorized(request):
            reply = error_reply(401, "Unauthenticated.")
        else:
            call_no = state.count_call(endpoint)
            decision = state.faults.decide(endpoint, call_no)
            if decision.delay > 0:
                await asyncio.sleep(decision.delay)
            kind = decision.kind
            if decision.terminal is not None and kind in TERMINAL_BEFORE:
                reply = _fault_reply(decision.terminal)
            else:
                root = resource
                if decision.terminal is not None and kind == "wrong_root":
                    root = str(decision.terminal.params.get("root", "data"))
                reply = await handler(request, resource, decision, root)
                if kind == "truncate" and reply.status == 200:
                    body = reply.materialize()
                    reply.body = body[: len(body) // 2]
        with state.lock:
            state.call_log.append(
                {
                    "at": format_datetime(state.now()),
                    "method": request.method,
                    "path": request.url.path,
                    "query": request.url.query,
                    "endpoint": endpoint,
                    "call": call_no,
                    "status": reply.status,
                    "fault": decision.kind,
                    "ids_marked": reply.ids_marked,
                }
            )
        if decision.kind == "drop":
            return _DroppedResponse(reply.materialize(), reply.status, reply.headers, _JSON)
        return self._response(reply)

    @staticmethod
    def _response(reply: Reply) -> Response:
        if reply.chunks is not None:
            return StreamingResponse(
                reply.chunks, reply.status, reply.headers, media_type=reply.media_type
            )
        return Response(reply.body, reply.status, reply.headers, media_type=reply.media_type)

    async def _export(
        self, request: Request, resource: str, decision: FaultDecision, root: str
    ) -> Reply:
        state = self.state
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
                ids = store.select(query, 0, None)
                if len(ids) <= _CHUNK:
                    docs = [store.serialized(i, query.include_lines) for i in ids]
                    return Reply(200, prefix + b",".join(docs) + b"]}")
            return Reply(
                200,
                chunks=self._stream(
                    store_name=resource, ids=ids, prefix=prefix, lines=query.include_lines
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
            ids = store.select(query, page * limit, limit)
            docs = [store.serialized(i, query.include_lines) for i in ids]
        return Reply(200, prefix + b",".join(docs) + b"]}")

    def _stream(
        self, *, store_name: str, ids: list[int], prefix: bytes, lines: bool
    ) -> Iterator[bytes]:
        yield prefix
        store = self.state.store(store_name)
        for start in range(0, len(ids), _CHUNK):
            with self.state.lock:
                docs = [store.serialized(i, lines) for i in ids[start : start + _CHUNK]]
            yield (b"," if start else b"") + b",".join(docs)
        yield b"]}"

    async def _mark(
        self, request: Request, resource: str, decision: FaultDecision, root: str
    ) -> Reply:
        body = await request.body()
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return validation_error("The request body must be valid JSON.")
        items = data.get(resource) if isinstance(data, dict) else None
        if not isinstance(items, list) or not items:
            return validation_error(f"The {resource} field is required and must be an array.")
        most = self.state.config.max_mark_items
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
            outcomes = self.state.mark(resource, parsed, decision.mark_fails)
        except MarkViolation:
            return error_reply(500, "An error occurred.")
        except ConflictError as exc:
            return validation_error(exc.detail, exc.status)
        marked = [o[id_key] for o in outcomes if o["status"] == "exported"]
        return Reply(200, dumps({root: outcomes}), ids_marked=marked)

    # -- admin API --------------------------------------------------------------------------

    @staticmethod
    def _json(value: Any, status: int = 200) -> Response:
        return Response(dumps(value), status, media_type=_JSON)

    def _resource(self, request: Request) -> str:
        try:
            return resource_name(request.path_params["resource"])
        except KeyError as exc:
            raise HTTPException(404, "Unknown resource.") from exc

    @staticmethod
    async def _body(request: Request) -> Any:
        try:
            return json.loads(await request.body(), parse_float=Decimal)
        except ValueError as exc:
            raise HTTPException(422, f"Body is not JSON: {exc}") from exc

    async def admin_state(self, request: Request) -> Response:
        """``GET /_emulator/state``: counts, calls per endpoint, faults, config, violations."""
        return self._json(self.state.snapshot())

    async def admin_calls(self, request: Request) -> Response:
        """``GET /_emulator/calls``: recent calls, oldest first."""
        with self.state.lock:
            return self._json({"calls": list(self.state.call_log)})

    async def admin_reset_calls(self, request: Request) -> Response:
        """``POST /_emulator/reset-calls``: call numbers restart at 1, the log empties."""
        self.state.reset_calls()
        return self._json({"status": "ok"})

    async def admin_faults(self, request: Request) -> Response:
        """``GET``/``POST`` (replace; rule list, ``{"rules"}`` or ``{"spec"}``)/``DELETE``."""
        if request.method == "POST":
            try:
                plan = FaultPlan.from_json(await self._body(request))
            except ValueError as exc:
                return self._response(validation_error(str(exc)))
            self.state.set_faults(plan)
        elif request.method == "DELETE":
            self.state.set_faults(None)
        return self._json({"faults": self.state.faults.to_json()})

    async def admin_config(self, request: Request) -> Response:
        """``GET``/``POST /_emulator/config``: read or change ``TraedeConfig`` switches."""
        if request.method == "POST":
            changes = await self._body(request)
            if not isinstance(changes, dict):
                return self._response(validation_error("config must be an object"))
            try:
                with self.state.lock:
                    self.state.config.update(changes)
            except ValueError as exc:
                return self._response(validation_error(str(exc)))
        return self._json({"config": self.state.config.to_json()})

    async def admin_marks(self, request: Request) -> Response:
        """``GET``/``DELETE /_emulator/traede/{resource}/marks[?system_id=]``."""
        resource = self._resource(request)
        system_id = request.query_params.get("system_id")
        if request.method == "DELETE":
            self.state.clear_marks(resource, system_id)
        marks = self.state.marks(resource, system_id)
        return self._json(
            {
                "marks": {
                    sid: {
                        str(doc_id): {"exported_at": format_datetime(m.exported_at), "note": m.note}
                        for doc_id, m in sorted(by_id.items())
                    }
                    for sid, by_id in marks.items()
                }
            }
        )

    async def admin_documents(self, request: Request) -> Response:
        """``GET``: every document (raw ones as ``{"id", "raw"}``); ``POST``: upsert by id."""
        resource = self._resource(request)
        state = self.state
        if request.method == "POST":
            data = await self._body(request)
            docs = data if isinstance(data, list) else [data]
            if not all(isinstance(d, dict) for d in docs):
                return self._response(validation_error("documents must be JSON objects"))
            try:
                ids = state.add_documents(resource, docs)
            except ValueError as exc:
                return self._response(validation_error(str(exc)))
            return self._json({"ids": ids})
        with state.lock:
            store = state.store(resource)
            parts = []
            for doc_id in store.ids:
                raw = store.raw.get(doc_id)
                if raw is not None:
                    parts.append(dumps({"id": doc_id, "raw": raw.text.decode(errors="replace")}))
                else:
                    parts.append(store.serialized(doc_id, True))
        return Response(b'{"documents":[' + b",".join(parts) + b"]}", media_type=_JSON)

    async def admin_raw(self, request: Request) -> Response:
        """``POST {"id": 1, "status": "booked", "json": "<text served verbatim>"}``."""
        resource = self._resource(request)
        data = await self._body(request)
        if not isinstance(data, dict):
            return self._response(validation_error("body must be an object"))
        doc_id, text = data.get("id"), data.get("json")
        if not isinstance(doc_id, int) or isinstance(doc_id, bool) or not isinstance(text, str):
            return self._response(validation_error("raw documents need an int id and json text"))
        status = data.get("status", "booked")
        self.state.add_raw_document(
            resource,
            doc_id,
            text,
            status=status if isinstance(status, str) else None,
            created_at=data.get("created_at"),
            updated_at=data.get("updated_at"),
        )
        return self._json({"ids": [doc_id]})


def create_traede_app(
    *,
    seed: int = 1,
    invoices: int = 0,
    credit_notes: int = 0,
    accounting_entries: int = 0,
    token: str = "test-token",
    app_key: str = "test-app-key",
    faults: FaultPlan | None = None,
    paged: bool = True,
    before_mark: BeforeMark | None = None,
    clock: Callable[[], datetime] | None = None,
    config: TraedeConfig | None = None,
) -> tuple[Starlette, TraedeState]:
    """Build the TRAEDE emulator over seeded data; returns the ASGI app and its state.

    Args:
        seed: data seed; the same seed and counts give byte-identical documents.
        invoices: number of generated invoices (ids from 100001).
        credit_notes: number of generated credit notes (ids from 500001).
        accounting_entries: number of generated accounting entries (ids from 900001).
        token: accepted bearer token (header or ``access_token`` query parameter).
        app_key: accepted ``X-Traede-App-Key``.
        faults: the fault plan (none by default).
        paged: honour ``page``/``limit``; False returns every matching document at once.
        before_mark: hook called as ``(resource, system_id, ids)`` before each mark.
        clock: returns "now" (aware UTC datetime) for marks and edits.
        config: full switch set; ``paged`` overrides its ``paged``.
    """
    config = config or TraedeConfig()
    config.paged = paged
    dataset = generate(
        seed,
        invoices=invoices,
        credit_notes=credit_notes,
        accounting_entries=accounting_entries,
    )
    state = TraedeState(
        dataset,
        token=token,
        app_key=app_key,
        config=config,
        faults=faults,
        before_mark=before_mark,
        clock=clock,
    )
    return TraedeEmulator(state).app, state
