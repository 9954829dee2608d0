from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from connector.emulator.server import EmulatorServer
from connector.emulator.unleashed import create_unleashed_app
from connector.emulator.unleashed_data import VENDOR_EXAMPLE_RECORD
from connector.emulator.unleashed_state import UnleashedState
from connector.jsontext import parse_json
from connector.normalize.common import ms_date_to_utc
from connector.sources.unleashed.contract import sign

API_ID, API_KEY = "emu-id", "emu-key"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, UnleashedState]]:
    app, state = create_unleashed_app(seed=11, count=45, api_id=API_ID, api_key=API_KEY)
    with EmulatorServer(app) as server:
        yield server.url, state


def _get(
    base: str, path: str, query: str = "", *, key: str = API_KEY, **headers: str
) -> httpx.Response:
    sent = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "api-auth-id": API_ID,
        "api-auth-signature": sign(query, key),
        "client-type": "tests/emulator",
    }
    sent.update(headers)
    url = f"{base}{path}" + (f"?{query}" if query else "")
    return httpx.get(url, headers=sent)


def _modified(item: dict) -> datetime:
    value = ms_date_to_utc(item["LastModifiedOn"], "LastModifiedOn")
    assert value is not None
    return value


def test_emulator_refuses_a_wrong_signature_with_403(served) -> None:
    base, state = served
    before = state.snapshot()["signature_failures"]
    response = _get(base, "/CreditNotes", "pageSize=10", key="wrong")
    assert response.status_code == 403
    assert response.json() == {"Description": "Forbidden: invalid signature"}
    # Signed over a different encoding of the same parameters: also refused.
    sig = sign("modifiedSince=2024-01-01T00:00:00", API_KEY)
    response = _get(
        base, "/CreditNotes", "modifiedSince=2024-01-01T00%3A00%3A00", **{"api-auth-signature": sig}
    )
    assert response.status_code == 403
    assert _get(base, "/CreditNotes", **{"api-auth-id": "other"}).status_code == 403
    assert state.snapshot()["signature_failures"] == before + 3


def test_emulator_requires_json_media_types(served) -> None:
    base, _ = served
    assert _get(base, "/CreditNotes", Accept="application/xml").status_code == 400
    assert _get(base, "/CreditNotes", **{"Content-Type": "text/plain"}).status_code == 406


def test_emulator_pages_through_the_path_newest_first(served) -> None:
    base, state = served
    total = len(state.notes)
    query = "pageSize=20"
    first = _get(base, "/CreditNotes", query).json()
    assert first["Pagination"] == {
        "NumberOfItems": total,
        "PageSize": 20,
        "PageNumber": 1,
        "NumberOfPages": 3,
    }
    pages = [first["Items"]] + [
        _get(base, f"/CreditNotes/{n}", query).json()["Items"] for n in (2, 3)
    ]
    assert _get(base, "/CreditNotes/Page/2", query).json()["Items"] == pages[1]
    items = [item for page in pages for item in page]
    assert len(items) == total == 46
    assert len({i["CreditNumber"] for i in items}) == total
    stamps = [_modified(i) for i in items]
    assert stamps == sorted(stamps, reverse=True)
    assert items[-1]["CreditNumber"] == "CN-00000017"  # the 2016 vendor example is oldest
    assert _get(base, "/CreditNotes/4", query).json()["Items"] == []
    assert _get(base, "/CreditNotes", "").json()["Pagination"]["PageSize"] == 200
    last = state.snapshot()["calls"][-1]
    assert last["client_type"] == "tests/emulator" and last["path"] == "/CreditNotes"


def test_emulator_serves_the_vendor_example_byte_for_byte(served) -> None:
    base, _ = served
    response = _get(base, "/CreditNotes", "creditNumber=CN-00000017")
    assert VENDOR_EXAMPLE_RECORD in response.content
    assert response.content.count(b'"Total":12.5') == 2


def test_emulator_page_size_limits_and_count_only(served) -> None:
    base, state = served
    assert _get(base, "/CreditNotes", "pageSize=1001").status_code == 400
    assert _get(base, "/CreditNotes", "pageSize=abc").status_code == 400
    assert _get(base, "/CreditNotes", "pageSize=1000").status_code == 200
    counted = _get(base, "/CreditNotes", "creditStatus=Parked&pageSize=0").json()
    parked = [n for n in state.notes.values() if n.status == "Parked"]
    assert counted["Items"] == []
    assert counted["Pagination"]["NumberOfItems"] == len(parked) > 0


def test_emulator_filters_modified_since_status_and_created_dates(served) -> None:
    base, state = served
    ordered = state.ordered()
    pivot = ordered[10].modified
    since = pivot.strftime("%Y-%m-%dT%H:%M:%S")
    items = _get(base, "/CreditNotes", f"modifiedSince={since}&pageSize=1000").json()["Items"]
    expected = [n.credit_number for n in ordered if n.modified >= pivot.replace(microsecond=0)]
    assert [i["CreditNumber"] for i in items] == expected
    day = pivot.strftime("%Y-%m-%d")
    by_day = _get(base, "/CreditNotes", f"modifiedSince={day}&pageSize=1000").json()["Items"]
    midnight = datetime(pivot.year, pivot.month, pivot.day, tzinfo=UTC)
    assert len(by_day) == len([n for n in ordered if n.modified >= midnight])
    assert _get(base, "/CreditNotes", "modifiedSince=yesterday").status_code == 400

    completed = _get(base, "/CreditNotes", "creditStatus=Completed&pageSize=1000").json()["Items"]
    assert {i["CreditStatus"] for i in completed} == {"Completed"}
    assert len(completed) == len([n for n in ordered if n.status == "Completed"])

    window = _get(base, "/CreditNotes", "startDate=2024-03-01&endDate=2024-06-01&pageSize=1000")
    created = [ms_date_to_utc(i["CreatedOn"], "c") for i in window.json()["Items"]]
    assert created and all(
        datetime(2024, 3, 1, tzinfo=UTC) <= c < datetime(2024, 6, 1, tzinfo=UTC) for c in created
    )


def test_emulator_credit_number_overrides_other_filters(served) -> None:
    base, state = served
    target = next(n for n in state.ordered() if n.status == "Completed")
    query = f"creditNumber={target.credit_number}&creditStatus=Parked&modifiedSince=2099-01-01"
    items = _get(base, "/CreditNotes", query).json()["Items"]
    assert [i["CreditNumber"] for i in items] == [target.credit_number]


def test_emulator_edits_jump_to_page_one_and_admin_route_works(served) -> None:
    base, state = served
    oldest = state.ordered()[-2]
    response = httpx.post(
        f"{base}/_emulator/unleashed/credit-notes",
        json={"CreditNumber": oldest.credit_number, "changes": {"Comments": "edited"}},
    )
    assert response.status_code == 200
    first = _get(base, "/CreditNotes", "pageSize=1").json()["Items"][0]
    assert first["CreditNumber"] == oldest.credit_number and first["Comments"] == "edited"
    explicit = datetime(2024, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)
    state.edit(oldest.credit_number, modified=explicit)
    assert state.notes[oldest.credit_number].modified == explicit
    snapshot = httpx.get(f"{base}/_emulator/state").json()
    assert snapshot["count"] == len(state.notes) and snapshot["calls"]


def test_emulator_injected_faults_by_call_number(served) -> None:
    base, state = served
    next_call = len(state.snapshot()["calls"]) + 1
    state.fail_call(next_call, 429, retry_after=2)
    state.fail_call(next_call + 1, 500)
    limited = _get(base, "/CreditNotes")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert _get(base, "/CreditNotes").status_code == 500
    assert _get(base, "/CreditNotes").status_code == 200


def test_emulator_day_granularity_truncates_modified_since() -> None:
    app, state = create_unleashed_app(
        seed=2, count=30, api_id=API_ID, api_key=API_KEY, day_granularity=True
    )
    with EmulatorServer(app) as server:
        pivot = state.ordered()[5].modified
        query = f"modifiedSince={pivot.strftime('%Y-%m-%dT%H:%M:%S')}&pageSize=1000"
        items = _get(server.url, "/CreditNotes", query).json()["Items"]
    midnight = datetime(pivot.year, pivot.month, pivot.day, tzinfo=UTC)
    assert len(items) == len([n for n in state.ordered() if n.modified >= midnight])
    assert parse_json(VENDOR_EXAMPLE_RECORD)["CreditNumber"] in state.notes


def test_client_probe_against_the_emulator(served) -> None:
    from connector.config import Secret, UnleashedSettings
    from connector.sources.unleashed.client import UnleashedClient

    base, state = served
    settings = UnleashedSettings(
        base_url=base, api_id=API_ID, api_key=Secret(API_KEY), client_type="t/probe"
    )
    with UnleashedClient(settings) as client:
        assert client.probe() == f"{len(state.notes)} credit note(s) visible"


def test_emulator_mid_crawl_modes_edit_and_delete_served_notes() -> None:
    app, state = create_unleashed_app(seed=12, count=30, api_id=API_ID, api_key=API_KEY)
    with EmulatorServer(app) as server:
        base = server.url
        assert (
            httpx.post(f"{base}/_emulator/unleashed/mid-crawl", json={"edit": -1}).status_code
            == 400
        )
        answer = httpx.post(f"{base}/_emulator/unleashed/mid-crawl", json={"edit": 1, "delete": 1})
        assert answer.json() == {"edit": 1, "delete": 1}
        first = _get(base, "/CreditNotes/1", "pageSize=10").json()
        assert first["Pagination"]["NumberOfItems"] == 31
        second = _get(base, "/CreditNotes/2", "pageSize=10").json()
        # Before page 2: one served note edited (now first), one served note deleted.
        assert second["Pagination"]["NumberOfItems"] == 30
        seen = state.snapshot()
        assert seen["mid_crawl_edits"] == 1 and len(seen["mid_crawl_deletes"]) == 1
        served = {n["CreditNumber"] for n in first["Items"]}
        assert set(seen["mid_crawl_deletes"]) <= served
        assert state.ordered()[0].credit_number == state.mid_crawl_edits[0] in served
        assert state.delete_mid_crawl == 0  # the budget is spent
