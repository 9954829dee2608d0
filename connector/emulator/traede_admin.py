"""Admin API of the TRAEDE emulator (no auth): state, calls, faults, config, marks, documents."""

import json
from decimal import Decimal
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.emulator.faults import FaultPlan
from connector.emulator.json_bytes import dumps
from connector.emulator.traede_query import format_datetime
from connector.emulator.traede_replies import JSON_TYPE, validation_error
from connector.emulator.traede_resources import resource_name
from connector.emulator.traede_state import TraedeState


class TraedeAdmin:
    """Admin handlers over one ``TraedeState``; ``routes()`` mounts them."""

    def __init__(self, state: TraedeState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        """The admin routes, to add to the emulator's application."""
        return [
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

    @staticmethod
    def _json(value: Any, status: int = 200) -> Response:
        return Response(dumps(value), status, media_type=JSON_TYPE)

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
                return validation_error(str(exc)).response()
            self.state.set_faults(plan)
        elif request.method == "DELETE":
            self.state.set_faults(None)
        return self._json({"faults": self.state.faults.to_json()})

    async def admin_config(self, request: Request) -> Response:
        """``GET``/``POST /_emulator/config``: read or change ``TraedeConfig`` switches."""
        if request.method == "POST":
            changes = await self._body(request)
            if not isinstance(changes, dict):
                return validation_error("config must be an object").response()
            try:
                with self.state.lock:
                    self.state.config.update(changes)
            except ValueError as exc:
                return validation_error(str(exc)).response()
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
                return validation_error("documents must be JSON objects").response()
            try:
                ids = state.add_documents(resource, docs)
            except ValueError as exc:
                return validation_error(str(exc)).response()
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
        return Response(b'{"documents":[' + b",".join(parts) + b"]}", media_type=JSON_TYPE)

    async def admin_raw(self, request: Request) -> Response:
        """``POST {"id": 1, "status": "booked", "json": "<text served verbatim>"}``."""
        resource = self._resource(request)
        data = await self._body(request)
        if not isinstance(data, dict):
            return validation_error("body must be an object").response()
        doc_id, text = data.get("id"), data.get("json")
        if not isinstance(doc_id, int) or isinstance(doc_id, bool) or not isinstance(text, str):
            return validation_error("raw documents need an int id and json text").response()
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
