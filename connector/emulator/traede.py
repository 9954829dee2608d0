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

Admin (no auth) under ``/_emulator/``: see ``traede_admin``.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.emulator.faults import TERMINAL_BEFORE, FaultDecision, FaultPlan
from connector.emulator.traede_admin import TraedeAdmin
from connector.emulator.traede_config import TraedeConfig
from connector.emulator.traede_dataset import generate
from connector.emulator.traede_endpoints import export, mark_as_exported
from connector.emulator.traede_query import format_datetime
from connector.emulator.traede_replies import (
    JSON_TYPE,
    DroppedResponse,
    Reply,
    error_reply,
    fault_reply,
    in_flight_reply,
)
from connector.emulator.traede_resources import PATH_RESOURCES
from connector.emulator.traede_state import BeforeMark, TraedeState

Handler = Callable[[TraedeState, Request, str, FaultDecision, str], Awaitable[Reply]]


class TraedeEmulator:
    """Request handlers over one ``TraedeState``; ``app`` is the Starlette application."""

    def __init__(self, state: TraedeState) -> None:
        self.state = state
        routes = []
        for slug, resource in PATH_RESOURCES.items():
            routes.append(Route(f"/v10/{slug}/export", self._route(resource, "export", export)))
            mark = self._route(resource, "mark", mark_as_exported)
            routes.append(Route(f"/v10/{slug}/mark-as-exported", mark, methods=["POST"]))
        routes += TraedeAdmin(state).routes()
        self.app = Starlette(routes=routes, exception_handlers={HTTPException: self._http_error})

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "An error occurred."
        return error_reply(status, detail).response()

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        if token is None:
            token = request.query_params.get("access_token")
        app_key = request.headers.get("x-traede-app-key")
        return token == self.state.token and app_key == self.state.app_key

    def _route(
        self, resource: str, action: str, handler: Handler
    ) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            return await self._serve(request, f"{resource}.{action}", resource, handler)

        return route

    async def _serve(
        self,
        request: Request,
        endpoint: str,
        resource: str,
        handler: Handler,
    ) -> Response:
        state = self.state
        call_no = 0
        decision = FaultDecision()
        if not self._authorized(request):
            reply = error_reply(401, "Unauthenticated.")
        else:
            call_no = state.count_call(endpoint)
            decision = state.faults.decide(endpoint, call_no)
            if not state.enter_mark(endpoint):
                reply = in_flight_reply(state.config.mark_retry_after_ms)
            else:
                try:
                    reply = await self._answer(request, resource, handler, decision)
                finally:
                    state.leave_mark(endpoint)
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
            return DroppedResponse(reply.materialize(), reply.status, reply.headers, JSON_TYPE)
        return reply.response()

    async def _answer(
        self, request: Request, resource: str, handler: Handler, decision: FaultDecision
    ) -> Reply:
        if decision.delay > 0:
            await asyncio.sleep(decision.delay)
        kind = decision.kind
        if decision.terminal is not None and kind in TERMINAL_BEFORE:
            return fault_reply(decision.terminal)
        root = resource
        if decision.terminal is not None and kind == "wrong_root":
            root = str(decision.terminal.params.get("root", "data"))
        reply = await handler(self.state, request, resource, decision, root)
        if kind == "truncate" and reply.status == 200:
            body = reply.materialize()
            reply.body = body[: len(body) // 2]
        return reply


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
    order: str | None = None,
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
        order: when given, overrides ``config.order``: ``id``, ``desc`` or ``shuffled``.
    """
    config = config or TraedeConfig()
    config.update({"paged": paged} if order is None else {"paged": paged, "order": order})
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
