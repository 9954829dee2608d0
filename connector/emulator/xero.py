"""ASGI emulator of Xero's Credit Notes API (APIS.md §2), with rate limits, faults and admin.

Routes: ``POST /connect/token`` (client_credentials; Basic auth or form fields) and
``GET /api.xro/2.0/CreditNotes`` (``If-Modified-Since``, ``page``, ``pageSize`` ≤ 1000,
``order``, ``unitdp``, ``where`` with ``Status==""``/``Type==""`` clauses joined by ``&&``,
``xero-tenant-id``). Admin, no auth: ``GET /_emulator/state``,
``POST /_emulator/xero/{tenant}/credit-notes`` (a record or a list; merged by CreditNoteID) and
``POST /_emulator/xero/edit-mid-crawl`` (``{"per_page": n}``: before each page, edit n notes
already served, as a user editing during a crawl would; 0 turns it off).
So the connector's base URL is ``<server>/api.xro/2.0`` and its token URL
``<server>/connect/token``.
"""

import asyncio
import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.emulator.json_bytes import dumps
from connector.emulator.xero_pages import BadRequest, build_page
from connector.emulator.xero_state import Limits, XeroState
from connector.jsontext import parse_json
from connector.sources.xero.contract import LEGACY_THROTTLE_BODY, TENANT_HEADER

API_PREFIX = "/api.xro/2.0"
TOKEN_PATH = "/connect/token"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status, headers=headers, media_type="application/json")


def _problem(status: int, title: str, detail: str) -> Response:
    body = {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": None}
    return _json(body, status)


def _validation(message: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [{"ValidationErrors": [{"Message": message}]}],
    }
    return _json(body, 400, headers)


def _client_credentials(request: Request, form: dict[str, list[str]]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except ValueError:
            return "", ""
        cid, _, secret = decoded.partition(":")
        return cid, secret
    return form.get("client_id", [""])[0], form.get("client_secret", [""])[0]


def _routes(state: XeroState) -> list[Route]:
    async def token(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        with state.lock:
            state.token_requests += 1
        if form.get("grant_type", [""])[0] != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        cid, secret = _client_credentials(request, form)
        if cid != state.client_id or secret != state.client_secret:
            return _json({"error": "invalid_client"}, 400)
        return _json(
            {
                "access_token": state.issue_token(),
                "expires_in": int(state.token_lifetime),
                "token_type": "Bearer",
                "scope": "accounting.transactions.read",
            }
        )

    async def credit_notes(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return _problem(401, "Unauthorized", "AuthenticationUnsuccessful: no bearer token")
        problem = state.token_problem(auth[len("Bearer ") :].strip())
        if problem:
            return _problem(401, "Unauthorized", problem)
        tenant = request.headers.get(TENANT_HEADER, "")
        if not tenant and not state.require_tenant_header:
            tenant = next(iter(state.tenants))
        if tenant not in state.tenants:
            detail = f"AuthenticationUnsuccessful: tenant {tenant!r} is not connected"
            return _problem(403, "Forbidden", detail)
        if "application/json" not in request.headers.get("accept", ""):
            return Response("send Accept: application/json (XML is not emulated)", 406)
        with state.lock:
            tstate = state.tenants[tenant]
            tstate.calls += 1
            fault = state.faults.pop((tenant, tstate.calls), None)
            state.requests.append(
                {
                    "tenant": tenant,
                    "page": request.query_params.get("page"),
                    "pageSize": request.query_params.get("pageSize"),
                    "if_modified_since": request.headers.get("if-modified-since"),
                    "fault": fault,
                }
            )
        if fault is not None:
            return _fault(state, tenant, fault)
        verdict = state.admit(tenant)
        if verdict.problem:
            return _throttle(state, verdict.problem, verdict.retry_after, verdict.headers)
        try:
            if state.response_delay:
                await asyncio.sleep(state.response_delay)
            try:
                response = build_page(state, tenant, request)
            except BadRequest as exc:
                response = _validation(str(exc))
            response.headers.update(state.limit_headers(tenant))
            return response
        finally:
            state.release(tenant)

    async def admin_state(request: Request) -> Response:
        return _json(state.snapshot())

    async def admin_mid_crawl(request: Request) -> Response:
        body = parse_json(await request.body())
        per_page = body.get("per_page") if isinstance(body, dict) else None
        if not isinstance(per_page, int) or per_page < 0:
            return _json({"error": 'send {"per_page": <edits before each page, 0 = off>}'}, 400)
        with state.lock:
            state.edit_mid_crawl = per_page
        return _json({"edit_mid_crawl": per_page})

    async def admin_put(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if tenant not in state.tenants:
            return _json({"error": f"unknown tenant {tenant!r}"}, 404)
        body = parse_json(await request.body())
        items = body if isinstance(body, list) else [body]
        return _json([state.put(tenant, item) for item in items])

    return [
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(f"{API_PREFIX}/CreditNotes", credit_notes, methods=["GET"]),
        Route("/_emulator/state", admin_state, methods=["GET"]),
        Route("/_emulator/xero/{tenant}/credit-notes", admin_put, methods=["POST"]),
        Route("/_emulator/xero/edit-mid-crawl", admin_mid_crawl, methods=["POST"]),
    ]


def _throttle(
    state: XeroState, problem: str, retry_after: int, headers: dict[str, str]
) -> Response:
    headers = {**headers, "Retry-After": str(retry_after)}
    if state.legacy_throttle:
        body = LEGACY_THROTTLE_BODY + "&oauth_problem_advice=please%20wait"
        return Response(body, 503, headers=headers, media_type="application/x-www-form-urlencoded")
    headers["X-Rate-Limit-Problem"] = problem
    return Response(b"", 429, headers=headers)


def _fault(state: XeroState, tenant: str, kind: str) -> Response:
    headers = state.limit_headers(tenant)
    if kind.startswith("429-"):
        with state.lock:
            state.tenants[tenant].throttled += 1
        problem = kind[len("429-") :]
        return _throttle(state, problem, 1 if problem != "day" else 43_200, headers)
    if kind == "503":
        return Response("The Xero API is currently offline for maintenance", 503, headers=headers)
    return _json({"Title": "An error occurred", "Status": 500}, 500, headers)


def create_xero_app(
    *,
    seed: int = 1,
    tenants: tuple[str, ...] = ("tenant-a",),
    count: int = 50,
    client_id: str = "xero-client",
    client_secret: str = "xero-secret",
    minute_limit: int = 60,
    minute_window: float = 60.0,
    day_limit: int = 5000,
    day_window: float = 86_400.0,
    concurrent_limit: int = 5,
    token_lifetime: float = 1800.0,
    clock: Callable[[], float] | None = None,
    include_examples: bool = True,
    legacy_throttle: bool = False,
    require_tenant_header: bool = True,
    response_delay: float = 0.0,
    edit_mid_crawl: int = 0,
) -> tuple[Starlette, XeroState]:
    """Build the emulator app and its state (tests keep the state to edit data and count calls).

    Args:
        seed: seed of the generated data (same seed, same records).
        tenants: tenant ids; the first also holds Xero's two example records verbatim.
        count: generated records per tenant.
        client_id: the client id the token endpoint accepts.
        client_secret: the client secret the token endpoint accepts.
        minute_limit: calls per tenant per rolling ``minute_window`` seconds.
        minute_window: length of the "minute" window (shorten it in tests).
        day_limit: calls per tenant per rolling ``day_window`` seconds.
        day_window: length of the "day" window.
        concurrent_limit: calls in flight per tenant.
        token_lifetime: seconds an access token is valid.
        clock: epoch seconds; inject a fake one to expire tokens without sleeping.
        include_examples: put the vendor's example records in the first tenant.
        legacy_throttle: answer throttling with the pre-OAuth2 503 body instead of 429.
        require_tenant_header: False emulates a custom connection (no header needed).
        response_delay: seconds each API call takes (to exercise the concurrency limit).
        edit_mid_crawl: before each page request, edit this many notes already served (their
            UpdatedDateUTC becomes now, so they move to the end of the listing); 0 = off.
    """
    state = XeroState(
        seed=seed,
        tenants=tenants,
        count=count,
        client_id=client_id,
        client_secret=client_secret,
        limits=Limits(
            minute_limit=minute_limit,
            minute_window=minute_window,
            day_limit=day_limit,
            day_window=day_window,
            concurrent_limit=concurrent_limit,
        ),
        token_lifetime=token_lifetime,
        include_examples=include_examples,
        legacy_throttle=legacy_throttle,
        require_tenant_header=require_tenant_header,
        response_delay=response_delay,
        edit_mid_crawl=edit_mid_crawl,
        **({"clock": clock} if clock is not None else {}),
    )
    return Starlette(routes=_routes(state)), state
