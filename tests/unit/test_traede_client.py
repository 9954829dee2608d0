"""TraedeClient paging and marking through httpx.MockTransport (no sockets, no sleeping)."""

import json
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from connector.config import HttpSettings, Secret, TraedeSettings
from connector.errors import ContractError, PermanentSourceError
from connector.sources.traede.client import ExportOptions, TraedeClient
from connector.sources.traede.paging import PageStats

TOKEN = "unit-token-value"


def _settings(**kw) -> TraedeSettings:
    return TraedeSettings(
        base_url="https://traede.test",
        api_token=Secret(TOKEN),
        app_key=Secret("unit-app-key"),
        system_id="erp",
        http=HttpSettings(max_attempts=3),
        **kw,
    )


def _client(handler: Callable[[httpx.Request], httpx.Response], **kw) -> TraedeClient:
    return TraedeClient(
        _settings(**kw), transport=httpx.MockTransport(handler), sleep=lambda _: None
    )


def _docs(ids) -> list[dict]:
    return [{"id": i} for i in ids]


def _query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode())


def paged_server(total: int, cap: int | None = None, ignore_paging: bool = False):
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        q = _query(request)
        seen.append(q)
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["x-traede-app-key"] == "unit-app-key"
        page, limit = int(q["page"][0]), int(q["limit"][0])
        ids = list(range(1, total + 1))
        if ignore_paging:
            chunk = ids
        else:
            size = min(limit, cap) if cap else limit
            chunk = ids[page * size : (page + 1) * size]
        return httpx.Response(200, json={"invoices": _docs(chunk)})

    return handler, seen


def _all(client: TraedeClient, stats: PageStats | None = None) -> list[int]:
    return [
        r["id"] for page in client.export_pages("invoices", ExportOptions(), stats) for r in page
    ]


def test_pages_from_zero_with_limit_60_until_a_short_page() -> None:
    handler, seen = paged_server(130)
    stats = PageStats()
    assert _all(_client(handler), stats) == list(range(1, 131))
    assert [q["page"][0] for q in seen] == ["0", "1", "2", "3"]  # the short page is confirmed
    assert {q["limit"][0] for q in seen} == {"60"}
    assert seen[0]["system_id"] == ["erp"] and seen[0]["includes[]"] == ["lines"]
    assert seen[0]["include_non_booked"] == ["0"]
    assert stats.warnings == []


def test_exact_multiple_of_limit_stops_at_the_empty_page() -> None:
    handler, seen = paged_server(120)
    assert _all(_client(handler)) == list(range(1, 121))
    assert [q["page"][0] for q in seen] == ["0", "1", "2"]


def test_server_ignoring_paging_is_detected_and_not_looped_on() -> None:
    handler, seen = paged_server(150, ignore_paging=True)
    stats = PageStats()
    assert _all(_client(handler), stats) == list(range(1, 151))
    assert len(seen) == 2
    assert any("ignores paging" in w for w in stats.warnings)


def test_server_capping_pages_is_followed_with_the_cap() -> None:
    handler, _ = paged_server(95, cap=20)
    stats = PageStats()
    assert _all(_client(handler), stats) == list(range(1, 96))
    assert any("at most 20" in w for w in stats.warnings)


def test_backfill_and_drafts_are_encoded() -> None:
    from datetime import UTC, datetime

    handler, seen = paged_server(1)
    client = _client(handler)
    since = datetime(2024, 6, 1, 2, 0, tzinfo=UTC)
    list(
        client.export_pages(
            "invoices", ExportOptions(not_exported_since=since, include_non_booked=True)
        )
    )
    assert seen[0]["not_exported_since"] == ["2024-06-01 02:00:00"]
    assert seen[0]["include_non_booked"] == ["1"]


def test_accounting_entries_have_no_drafts_or_lines_params() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(_query(request))
        return httpx.Response(200, json={"accounting_entries": []})

    list(_client(handler).export_pages("accounting_entries", ExportOptions()))
    assert "includes[]" not in seen[0] and "include_non_booked" not in seen[0]


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b"<html><body>502 Bad Gateway</body></html>", "text/html"),
        (b'{"invoices": [{"id": 1}', "application/json"),
        (b'{"data": []}', "application/json"),
        (b"not json at all", "text/plain"),
    ],
)
def test_malformed_responses_raise_contract_error_after_retries(
    body: bytes, content_type: str
) -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    with pytest.raises(ContractError):
        _all(_client(handler))
    assert calls["n"] == 3


def test_401_names_the_variables_not_the_values() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"status": "error", "message": "Unauthenticated."})

    with pytest.raises(PermanentSourceError) as err:
        _all(_client(handler))
    text = str(err.value) + repr(err.value)
    assert "TRAEDE_API_TOKEN" in text and "TRAEDE_APP_KEY" in text
    assert TOKEN not in text and "unit-app-key" not in text


def mark_server(fail: set[int] | None = None, transient: dict[int, int] | None = None):
    calls: list[list[int]] = []
    transient = dict(transient or {})

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        items = body["accounting_entries"]
        ids = [i["accounting_entry_id"] for i in items]
        assert len(ids) <= 10 and all(i["system_id"] == "erp" and i["note"] for i in items)
        calls.append(ids)
        out = []
        for doc_id in ids:
            if fail and doc_id in fail:
                out.append({"accounting_entry_id": doc_id, "status": "error", "error": "not_found"})
            elif transient.get(doc_id, 0) > 0:
                transient[doc_id] -= 1
                out.append(
                    {
                        "accounting_entry_id": doc_id,
                        "status": "error",
                        "error": "temporarily_unavailable",
                    }
                )
            else:
                out.append({"accounting_entry_id": doc_id, "status": "exported"})
        return httpx.Response(200, json={"accounting_entries": out})

    return handler, calls


def test_marks_in_calls_of_ten_and_reports_each_id() -> None:
    handler, calls = mark_server(fail={7})
    outcomes = list(_client(handler).mark_exported("accounting_entries", range(1, 26), note="n"))
    assert sorted(o.document_id for o in outcomes) == list(range(1, 26))
    assert all(len(c) <= 10 for c in calls) and sum(len(c) for c in calls) == 25
    failed = [o for o in outcomes if not o.acked]
    assert [o.document_id for o in failed] == [7] and "not_found" in failed[0].error


def test_transient_item_failures_are_sent_again() -> None:
    handler, _ = mark_server(transient={3: 1, 4: 5})
    outcomes = {
        o.document_id: o
        for o in _client(handler).mark_exported("accounting_entries", [1, 2, 3, 4], note="n")
    }
    assert outcomes[3].acked and outcomes[3].attempts == 2
    assert not outcomes[4].acked and outcomes[4].attempts == 3
    assert "temporarily_unavailable" in outcomes[4].error


def test_mark_stops_on_401_and_keeps_what_was_acked() -> None:
    state = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        state["n"] += 1
        if state["n"] > 1:
            return httpx.Response(401)
        ids = [i["accounting_entry_id"] for i in json.loads(request.content)["accounting_entries"]]
        return httpx.Response(
            200, json={"accounting_entries": [{"accounting_entry_id": i} for i in ids]}
        )

    got = []
    with pytest.raises(PermanentSourceError):
        for outcome in _client(handler, mark_concurrency=1).mark_exported(
            "accounting_entries", range(1, 40), note="n"
        ):
            got.append(outcome)
    assert [o.document_id for o in got] == list(range(1, 11))


def test_out_of_order_ids_are_passed_on_not_dropped() -> None:
    pages = {0: list(range(10, 70)), 1: [5, *range(70, 80)], 2: []}

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(_query(request)["page"][0])
        return httpx.Response(200, json={"invoices": _docs(pages.get(page, []))})

    got = _all(_client(handler))
    assert 5 in got and sorted(got) == sorted([*range(10, 80), 5])


def test_a_page_nested_too_deeply_for_the_recursive_parser_still_parses() -> None:
    deep = "1"
    for _ in range(3000):
        deep = '{"a":' + deep + "}"
    body = '{"invoices": [{"id": 1, "meta": ' + deep + '}, {"id": 2}]}'

    def handler(request: httpx.Request) -> httpx.Response:
        if _query(request)["page"][0] != "0":
            return httpx.Response(200, json={"invoices": []})
        return httpx.Response(200, content=body.encode())

    assert _all(_client(handler)) == [1, 2]
