"""The TRAEDE emulator over real loopback HTTP: auth, export, paging, filters, marks, faults."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from connector.emulator.faults import FaultPlan
from connector.emulator.server import EmulatorServer
from connector.emulator.traede import create_traede_app
from connector.emulator.traede_state import TraedeState

AUTH = {"Authorization": "Bearer test-token", "X-Traede-App-Key": "test-app-key"}
INVOICES = "/v10/invoices/export"
MARK = "/v10/invoices/mark-as-exported"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 5, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Env:
    server: EmulatorServer
    state: TraedeState
    client: httpx.Client
    clock: Clock

    def export(self, path: str = INVOICES, **params: Any) -> httpx.Response:
        params.setdefault("system_id", "erp")
        return self.client.get(path, params=params)

    def ids(self, path: str = INVOICES, root: str = "invoices", **params: Any) -> list[int]:
        response = self.export(path, **params)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()[root]]

    def mark(self, ids: list[int], system_id: str = "erp", **extra: Any) -> httpx.Response:
        items = [{"invoice_id": i, "system_id": system_id, **extra} for i in ids]
        return self.client.post(MARK, json={"invoices": items})


@pytest.fixture
def env() -> Iterator[Env]:
    clock = Clock()
    app, state = create_traede_app(
        seed=7, invoices=150, credit_notes=40, accounting_entries=30, clock=clock
    )
    with (
        EmulatorServer(app) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client,
    ):
        yield Env(server, state, client, clock)


def all_invoices(state: TraedeState) -> list[dict[str, Any]]:
    store = state.store("invoices")
    return [d for d in (store.document(i) for i in store.ids) if d is not None]


def booked_ids(state: TraedeState) -> list[int]:
    return [d["id"] for d in all_invoices(state) if d["status"] == "booked"]


def validation_detail(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["status"] == "422" and error["title"] == "Validation error"
    detail: str = error["detail"]
    return detail


# -- auth -----------------------------------------------------------------------------------


def test_emulator_accepts_bearer_header_and_access_token_query(env: Env) -> None:
    assert env.export().status_code == 200
    response = httpx.get(
        env.server.url + INVOICES,
        params={"system_id": "erp", "access_token": "test-token"},
        headers={"X-Traede-App-Key": "test-app-key"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer test-token"},
        {"Authorization": "Bearer wrong", "X-Traede-App-Key": "test-app-key"},
        {"X-Traede-App-Key": "test-app-key"},
        {"Authorization": "Bearer test-token", "X-Traede-App-Key": "wrong"},
    ],
)
def test_emulator_rejects_missing_or_wrong_credentials(env: Env, headers: dict[str, str]) -> None:
    response = httpx.get(env.server.url + INVOICES, params={"system_id": "erp"}, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"status": "error", "message": "Unauthenticated."}


# -- export ---------------------------------------------------------------------------------


def test_export_requires_system_id(env: Env) -> None:
    response = env.client.get(INVOICES)
    assert "system id" in validation_detail(response)


def test_export_pages_are_zero_based_default_20_ordered_by_id(env: Env) -> None:
    booked = booked_ids(env.state)
    assert env.ids() == booked[:20]
    assert env.ids(page=0, limit=60) == booked[:60]
    assert env.ids(page=1, limit=60) == booked[60:120]
    assert env.ids(page=2, limit=60) == booked[120:]
    assert env.ids(page=3, limit=60) == []
    assert env.ids(page=5, limit=7) == booked[35:42]


@pytest.mark.parametrize("order", ["desc", "shuffled"])
def test_export_order_switch_lists_every_document_once_in_a_stable_order(
    env: Env, order: str
) -> None:
    booked = booked_ids(env.state)
    env.client.post("/_emulator/config", json={"order": order}).raise_for_status()
    listed = [i for p in range(4) for i in env.ids(page=p, limit=40)]
    assert sorted(listed) == booked and listed != booked  # all of them, once, not by id
    if order == "desc":
        assert listed == booked[::-1]
    assert [i for p in range(4) for i in env.ids(page=p, limit=40)] == listed  # stable
    # marking some leaves the others in the same relative order
    env.mark(listed[:10]).raise_for_status()
    assert [i for p in range(4) for i in env.ids(page=p, limit=40)] == listed[10:]
    with pytest.raises(httpx.HTTPStatusError):
        env.client.post("/_emulator/config", json={"order": "random"}).raise_for_status()


@pytest.mark.parametrize("params", [{"limit": 61}, {"limit": 0}, {"limit": "x"}, {"page": -1}])
def test_export_rejects_bad_paging(env: Env, params: dict[str, Any]) -> None:
    validation_detail(env.export(**params))


def test_export_unpaged_switch_returns_everything(env: Env) -> None:
    env.client.post("/_emulator/config", json={"paged": False}).raise_for_status()
    assert env.ids(page=1, limit=5) == booked_ids(env.state)


def test_export_unpaged_streams_large_backlogs() -> None:
    app, state = create_traede_app(invoices=1200, paged=False)
    with EmulatorServer(app) as server:
        response = httpx.get(
            server.url + INVOICES, params={"system_id": "erp"}, headers=AUTH, timeout=30
        )
    assert response.status_code == 200
    assert [d["id"] for d in response.json()["invoices"]] == booked_ids(state)


def test_export_include_non_booked_adds_drafts(env: Env) -> None:
    everything = [d["id"] for d in all_invoices(env.state)]
    drafts = {d["id"] for d in all_invoices(env.state) if d["status"] == "draft"}
    assert drafts
    assert not drafts & set(env.ids(limit=60, include_non_booked=0))
    unpaged = [i for p in range(3) for i in env.ids(limit=60, page=p, include_non_booked=1)]
    assert unpaged == everything
    entries = env.ids(
        "/v10/accounting-entries/export", "accounting_entries", limit=60, include_non_booked=0
    )
    assert len(entries) == 30


def test_export_includes_lines_only_when_asked(env: Env) -> None:
    plain = env.export(limit=3).json()["invoices"]
    assert all("lines" not in d for d in plain)
    with_lines = env.export(limit=3, **{"includes[]": "lines"}).json()["invoices"]
    assert all(len(d["lines"]) >= 1 for d in with_lines)
    notes = env.export("/v10/credit-notes/export", **{"includes[]": "lines"}).json()
    assert "claim_type" in notes["credit_notes"][0]["lines"][0]


def test_export_numbers_are_exact_decimals(env: Env) -> None:
    response = env.export(limit=5, **{"includes[]": "lines"})
    assert b'"' + b"net_price" + b'":"' not in response.content
    docs = response.json(parse_float=Decimal)["invoices"]
    for doc in docs:
        total = doc["net_price"] + doc["shipping"] + doc["handling_fee"] + doc["vat_amount"]
        assert total == doc["total_price_after_vat"]
        assert sum(line["total_price"] for line in doc["lines"]) == doc["net_price"]


# -- filter_groups --------------------------------------------------------------------------


def _filter(index: int, key: str, operator: str, value: Any, *, negate: bool = False) -> dict:
    prefix = f"filter_groups[0][filters][{index}]"
    params = {f"{prefix}[key]": key, f"{prefix}[operator]": operator}
    if isinstance(value, list):
        params.update({f"{prefix}[value][{i}]": v for i, v in enumerate(value)})
    else:
        params[f"{prefix}[value]"] = value
    if negate:
        params[f"{prefix}[not]"] = "true"
    return params


def _expect(env: Env, predicate: Any, key: str = "updated_at") -> list[int]:
    docs = [d for d in all_invoices(env.state) if d["status"] == "booked"]
    return [d["id"] for d in docs if predicate(d[key])]


@pytest.mark.parametrize(
    ("operator", "negate", "predicate"),
    [
        ("eq", False, lambda v, b: v == b),
        ("eq", True, lambda v, b: v != b),
        ("gt", False, lambda v, b: v > b),
        ("gte", False, lambda v, b: v >= b),
        ("lt", False, lambda v, b: v < b),
        ("lte", False, lambda v, b: v <= b),
        # Bruno's quirk: not gt is "<" and not lt is ">", so the bound itself matches neither.
        ("gt", True, lambda v, b: v < b),
        ("lt", True, lambda v, b: v > b),
        ("gte", True, lambda v, b: v < b),
        ("lte", True, lambda v, b: v > b),
    ],
)
def test_filter_groups_operators(env: Env, operator: str, negate: bool, predicate: Any) -> None:
    docs = [d for d in all_invoices(env.state) if d["status"] == "booked"]
    bound = docs[40]["created_at"]
    expected = _expect(env, lambda v: predicate(v, bound), key="created_at")
    params = _filter(0, "created_at", operator, bound, negate=negate)
    got = [i for p in range(3) for i in env.ids(limit=60, page=p, **params)]
    assert got == expected
    assert docs[40]["id"] in got or operator in ("gt", "lt") or negate


def test_filter_groups_between_and_not_between(env: Env) -> None:
    docs = [d for d in all_invoices(env.state) if d["status"] == "booked"]
    low, high = docs[10]["created_at"], docs[30]["created_at"]
    iso_high = high.replace(" ", "T") + "Z"
    inside = env.ids(limit=60, **_filter(0, "created_at", "bt", [low, iso_high]))
    assert inside == _expect(env, lambda v: low <= v <= high, key="created_at")
    outside = env.ids(limit=60, **_filter(0, "created_at", "bt", [low, high], negate=True))
    assert outside == _expect(env, lambda v: v < low or v > high, key="created_at")[:60]


def test_filter_groups_or_within_group_and_between_groups(env: Env) -> None:
    docs = [d for d in all_invoices(env.state) if d["status"] == "booked"]
    early, late = docs[5]["created_at"], docs[100]["created_at"]
    params = {
        **_filter(0, "created_at", "lt", early),
        **_filter(1, "created_at", "gt", late),
        "filter_groups[0][or]": "true",
    }
    either = _expect(env, lambda v: v < early or v > late, key="created_at")
    assert env.ids(limit=60, **params) == either
    params["filter_groups[1][filters][0][key]"] = "updated_at"
    params["filter_groups[1][filters][0][operator]"] = "gte"
    params["filter_groups[1][filters][0][value]"] = "2024-06-01 00:00:00"
    assert env.ids(limit=60, **params) == either
    params["filter_groups[1][filters][0][operator]"] = "lt"
    assert env.ids(limit=60, **params) == []
    params["filter_groups[0][or]"] = "false"
    assert (
        env.ids(
            limit=60, **{k: v for k, v in params.items() if not k.startswith("filter_groups[1]")}
        )
        == []
    )


@pytest.mark.parametrize(
    "params",
    [
        _filter(0, "status", "eq", "booked"),
        _filter(0, "created_at", "ct", "2024"),
        _filter(0, "created_at", "gt", "not a date"),
        _filter(0, "created_at", "bt", "2024-06-01 00:00:00"),
    ],
)
def test_filter_groups_reject_unsupported_filters(env: Env, params: dict[str, str]) -> None:
    validation_detail(env.export(**params))


# -- not_exported_since and marks -------------------------------------------------------------


def test_marked_documents_disappear_and_not_exported_since_redelivers(env: Env) -> None:
    booked = booked_ids(env.state)
    assert env.mark(booked[:5]).status_code == 200
    env.clock.advance(3600)
    second_mark_time = env.clock.now
    assert env.mark(booked[5:8]).status_code == 200
    assert env.ids(limit=60)[:3] == booked[8:11]
    since = second_mark_time.strftime("%Y-%m-%d %H:%M:%S")
    assert env.ids(limit=60, not_exported_since=since)[:4] == [*booked[5:8], booked[8]]
    iso = (second_mark_time - timedelta(hours=2)).isoformat()
    assert env.ids(limit=60, not_exported_since=iso)[:9] == booked[:9]
    validation_detail(env.export(not_exported_since="yesterday"))


def test_marks_are_per_system_id(env: Env) -> None:
    booked = booked_ids(env.state)
    env.mark(booked[:3], system_id="erp", note="ERP-1").raise_for_status()
    assert env.ids(system_id="erp")[0] == booked[3]
    assert env.ids(system_id="bi")[0] == booked[0]
    marks = env.client.get("/_emulator/traede/invoices/marks", params={"system_id": "erp"})
    entry = marks.json()["marks"]["erp"][str(booked[0])]
    assert entry == {"exported_at": "2026-11-21 05:00:00", "note": "ERP-1"}
    assert "bi" not in marks.json()["marks"]


def test_mark_response_reports_each_item(env: Env) -> None:
    booked = booked_ids(env.state)
    response = env.mark([booked[0], 999])
    assert response.status_code == 200
    assert response.json() == {
        "invoices": [
            {
                "invoice_id": booked[0],
                "system_id": "erp",
                "status": "exported",
                "exported_at": "2026-11-21 05:00:00",
            },
            {
                "invoice_id": 999,
                "system_id": "erp",
                "status": "error",
                "error": "not_found",
                "message": "invoice 999 does not exist",
            },
        ]
    }


def test_remark_is_idempotent_and_moves_the_timestamp(env: Env) -> None:
    booked = booked_ids(env.state)
    env.mark(booked[:1]).raise_for_status()
    env.clock.advance(60)
    again = env.mark(booked[:1])
    assert again.json()["invoices"][0]["status"] == "exported"
    assert again.json()["invoices"][0]["exported_at"] == "2026-11-21 05:01:00"
    env.client.post("/_emulator/config", json={"mark_conflict_status": 422}).raise_for_status()
    assert "already exported" in validation_detail(env.mark(booked[:1]))


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b'{"invoices": []}',
        b'{"invoices": [{"system_id": "erp"}]}',
        b'{"invoices": [{"invoice_id": 100001}]}',
        b'{"invoices": [{"invoice_id": "100001", "system_id": "erp"}]}',
        orjson.dumps(
            {"invoices": [{"invoice_id": 100001 + i, "system_id": "erp"} for i in range(11)]}
        ),
    ],
)
def test_mark_rejects_invalid_bodies(env: Env, body: bytes) -> None:
    validation_detail(env.client.post(MARK, content=body))
    assert env.state.marks("invoices") == {}


def test_mark_accepts_ten_items_for_every_resource(env: Env) -> None:
    for slug, root, key, first in [
        ("invoices", "invoices", "invoice_id", 100001),
        ("credit-notes", "credit_notes", "credit_note_id", 500001),
        ("accounting-entries", "accounting_entries", "accounting_entry_id", 900001),
    ]:
        items = [{key: first + i, "system_id": "erp"} for i in range(10)]
        response = env.client.post(f"/v10/{slug}/mark-as-exported", json={root: items})
        assert response.status_code == 200, response.text
        assert all(o["status"] == "exported" for o in response.json()[root])
    calls = env.client.get("/_emulator/calls").json()["calls"]
    assert calls[0]["ids_marked"] == list(range(100001, 100011))


def test_before_mark_hook_violation_returns_500_and_marks_nothing(env: Env) -> None:
    seen: list[tuple[str, str, list[int]]] = []

    def hook(resource: str, system_id: str, ids: list[int]) -> None:
        seen.append((resource, system_id, ids))
        if 100001 in ids:
            raise AssertionError("100001 is not committed")

    env.state.before_mark = hook
    booked = [i for i in booked_ids(env.state) if i != 100001]
    assert env.mark(booked[:2]).status_code == 200
    assert seen == [("invoices", "erp", booked[:2])]
    response = env.mark([100001, booked[3]])
    assert response.status_code == 500
    assert response.json() == {"status": "error", "message": "An error occurred."}
    assert booked[3] not in env.state.marks("invoices")["erp"]
    assert "100001 is not committed" in env.state.violations[0]


# -- runtime edits --------------------------------------------------------------------------


def test_documents_can_be_added_and_edited_at_runtime(env: Env) -> None:
    booked = booked_ids(env.state)
    env.mark(booked[:1]).raise_for_status()
    new = {"id": 100000, "status": "booked", "currency": "DKK", "net_price": Decimal("1.10")}
    added = env.client.post(
        "/_emulator/traede/invoices/documents",
        content=orjson.dumps(new, default=str).replace(b'"1.10"', b"1.10"),
    )
    assert added.json() == {"ids": [100000]}
    first = env.export(limit=1).json()["invoices"][0]
    assert first["id"] == 100000
    assert first["net_price"] == 1.1
    env.client.post(
        "/_emulator/traede/invoices/documents", json={"id": 100000, "notes": "edited"}
    ).raise_for_status()
    edited = env.state.document("invoices", 100000)
    assert edited is not None and edited["notes"] == "edited"
    assert edited["updated_at"] == "2026-11-21 05:00:00"
    env.state.edit_document("invoices", booked[1], status="draft")
    assert booked[1] not in env.ids(limit=60)
    listing = env.client.get("/_emulator/traede/invoices/documents").json()["documents"]
    assert [d["id"] for d in listing][:2] == [100000, 100001]


def test_raw_documents_are_served_verbatim(env: Env) -> None:
    text = '{"id": 100000, "id": "dup", "net_price": NaN, "lines": 5}'
    env.client.post(
        "/_emulator/traede/invoices/raw", json={"id": 100000, "status": "booked", "json": text}
    ).raise_for_status()
    for params in ({}, {"includes[]": "lines"}):
        body = env.export(limit=2, **params).content
        assert body.startswith(b'{"invoices":[' + text.encode() + b",{")
    env.mark([100000]).raise_for_status()
    assert env.ids(limit=1) == booked_ids(env.state)[:1]


# -- faults ---------------------------------------------------------------------------------


def set_faults(env: Env, spec: str) -> None:
    env.client.post("/_emulator/faults", json={"spec": spec}).raise_for_status()


def test_fault_429_has_retry_after_and_fires_by_call_number(env: Env) -> None:
    set_faults(env, "invoices.export:429@calls=2,retry_after=3")
    statuses = [env.export().status_code for _ in range(3)]
    assert statuses == [200, 429, 200]
    env.client.post("/_emulator/reset-calls").raise_for_status()
    assert env.export().status_code == 200
    response = env.export()
    assert response.headers["Retry-After"] == "3"


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_fault_server_errors_use_heimdal_body(env: Env, kind: str) -> None:
    set_faults(env, f"*.mark:{kind}")
    response = env.mark([100001])
    assert response.status_code == int(kind)
    assert response.json() == {"status": "error", "message": "An error occurred."}
    assert env.state.marks("invoices") == {}
    assert env.export().status_code == 200


def test_fault_by_probability_is_seeded(env: Env) -> None:
    env.client.post(
        "/_emulator/faults",
        json={"rules": [{"endpoint": "invoices.export", "kind": "503", "p": 0.5}], "seed": 3},
    ).raise_for_status()
    first = [env.export(limit=1).status_code for _ in range(30)]
    env.client.post(
        "/_emulator/faults",
        json={"rules": [{"endpoint": "invoices.export", "kind": "503", "p": 0.5}], "seed": 3},
    ).raise_for_status()
    second = [env.export(limit=1).status_code for _ in range(30)]
    assert first == second
    assert 5 < first.count(503) < 25


def test_fault_slow_delays_the_reply(env: Env) -> None:
    set_faults(env, "invoices.export:slow@delay=0.3")
    started = time.monotonic()
    assert env.export().status_code == 200
    assert time.monotonic() - started >= 0.3


def test_fault_drop_cuts_the_connection(env: Env) -> None:
    set_faults(env, "invoices.mark:drop")
    with pytest.raises(httpx.RemoteProtocolError):
        env.mark([100001])
    # The mark was applied before the reply was lost: a resend must be harmless.
    assert 100001 in env.state.marks("invoices")["erp"]
    env.client.delete("/_emulator/faults").raise_for_status()
    assert env.mark([100001]).json()["invoices"][0]["status"] == "exported"


def test_fault_truncate_sends_half_a_json_body(env: Env) -> None:
    set_faults(env, "invoices.export:truncate")
    response = env.export(limit=5)
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_fault_html_wrong_root_and_unauthorized(env: Env) -> None:
    set_faults(
        env,
        "invoices.export:html@calls=1;invoices.export:wrong_root@calls=2;"
        "invoices.export:unauthorized@calls=3",
    )
    html = env.export()
    assert html.status_code == 502 and html.headers["content-type"].startswith("text/html")
    wrong = env.export(limit=2)
    assert wrong.status_code == 200 and list(wrong.json()) == ["data"]
    assert env.export().status_code == 401


def test_fault_page_cap_limits_page_size(env: Env) -> None:
    set_faults(env, "invoices.export:page_cap@cap=20")
    booked = booked_ids(env.state)
    assert env.ids(limit=60, page=0) == booked[:20]
    assert env.ids(limit=60, page=1) == booked[20:40]
    env.client.delete("/_emulator/faults")
    env.client.post("/_emulator/config", json={"page_cap": 7}).raise_for_status()
    assert env.ids(limit=60, page=2) == booked[14:21]


def test_fault_mark_fail_ids_reports_temporarily_unavailable(env: Env) -> None:
    booked = booked_ids(env.state)
    set_faults(env, f"invoices.mark:mark_fail_ids@ids={booked[1]}")
    outcomes = env.mark(booked[:3]).json()["invoices"]
    assert [o["status"] for o in outcomes] == ["exported", "error", "exported"]
    assert outcomes[1]["error"] == "temporarily_unavailable"
    assert booked[1] not in env.state.marks("invoices")["erp"]
    assert env.ids(limit=1) == [booked[1]]


def test_fault_plan_visible_in_state_and_bad_plans_rejected(env: Env) -> None:
    env.state.set_faults(FaultPlan.parse("*.export:slow@delay=0"))
    state = env.client.get("/_emulator/state").json()
    assert state["fault_spec"] == "*.export:slow@delay=0.0"
    assert state["resources"]["invoices"]["documents"] == 150
    validation_detail(env.client.post("/_emulator/faults", json={"spec": "nope:500"}))
    validation_detail(env.client.post("/_emulator/config", json={"paged": "yes"}))
