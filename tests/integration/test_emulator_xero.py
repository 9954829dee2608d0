import threading
import time
from decimal import Decimal

import httpx
import pytest

from connector.emulator.server import EmulatorServer
from connector.emulator.xero import create_xero_app
from connector.emulator.xero_data import SEED_EXAMPLES
from connector.jsontext import parse_json

pytestmark = pytest.mark.integration

API = "/api.xro/2.0/CreditNotes"


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _token(client: httpx.Client, secret: str = "xero-secret") -> httpx.Response:
    return client.post(
        "/connect/token", data={"grant_type": "client_credentials"}, auth=("xero-client", secret)
    )


def _headers(token: str, tenant: str | None = "tenant-a", **extra: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **extra}
    if tenant is not None:
        headers["xero-tenant-id"] = tenant
    return headers


@pytest.fixture
def served():
    def start(**kwargs):
        app, state = create_xero_app(**kwargs)
        server = EmulatorServer(app).start()
        client = httpx.Client(base_url=server.url, timeout=10)
        opened.append((server, client))
        return client, state

    opened: list[tuple[EmulatorServer, httpx.Client]] = []
    yield start
    for server, client in opened:
        client.close()
        server.stop()


def test_emulator_token_expiry_unknown_token_and_bad_secret(served) -> None:
    clock = Clock()
    client, state = served(clock=clock, count=3)
    assert _token(client, "wrong").status_code == 400
    assert _token(client, "wrong").json() == {"error": "invalid_client"}
    form = client.post(
        "/connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "xero-client",
            "client_secret": "xero-secret",
        },
    )
    assert form.status_code == 200
    reply = _token(client).json()
    assert reply["expires_in"] == 1800 and reply["token_type"] == "Bearer"
    token = reply["access_token"]
    assert client.get(API, headers=_headers(token)).status_code == 200
    clock.offset = 1801
    expired = client.get(API, headers=_headers(token))
    assert expired.status_code == 401
    assert expired.json()["Detail"].startswith("TokenExpired: token expired at ")
    assert client.get(API, headers=_headers("nope")).status_code == 401
    assert state.snapshot()["tokens_issued"] == 2


def test_emulator_tenants_and_custom_connection(served) -> None:
    client, _ = served(tenants=("tenant-a", "tenant-b"), count=3)
    token = _token(client).json()["access_token"]
    assert client.get(API, headers=_headers(token, "tenant-b")).status_code == 200
    wrong = client.get(API, headers=_headers(token, "tenant-x"))
    assert wrong.status_code == 403 and wrong.json()["Title"] == "Forbidden"
    assert client.get(API, headers=_headers(token, None)).status_code == 403
    custom, _ = served(require_tenant_header=False, count=3)
    token = _token(custom).json()["access_token"]
    assert custom.get(API, headers=_headers(token, None)).status_code == 200


def test_emulator_paging_order_and_seed_examples_verbatim(served) -> None:
    client, state = served(count=23)
    token = _token(client).json()["access_token"]
    unpaged = client.get(API, headers=_headers(token))
    assert "pagination" not in unpaged.json()
    for text in SEED_EXAMPLES:
        assert text.encode() in unpaged.content  # served byte for byte
    ids = []
    for page in (1, 2, 3, 4):
        reply = client.get(API, params={"page": page, "pageSize": 10}, headers=_headers(token))
        body = parse_json(reply.content)
        assert body["pagination"] == {
            "page": page,
            "pageSize": 10,
            "pageCount": 3,
            "itemCount": 25,
        }
        ids += [r["CreditNoteID"] for r in body["CreditNotes"]]
        assert reply.headers["X-MinLimit-Remaining"]
        assert reply.headers["X-DayLimit-Remaining"]
        assert reply.headers["X-AppMinLimit-Remaining"]
    assert ids == [r["CreditNoteID"] for r in state.records("tenant-a")]
    assert len(set(ids)) == 25
    too_big = client.get(API, params={"page": 1, "pageSize": 1001}, headers=_headers(token))
    assert too_big.status_code == 400 and too_big.json()["Type"] == "ValidationException"
    desc = client.get(API, params={"order": "UpdatedDateUTC DESC"}, headers=_headers(token))
    assert [r["CreditNoteID"] for r in desc.json()["CreditNotes"]] == ids[::-1]
    bad = client.get(API, params={"order": "Total ASC"}, headers=_headers(token))
    assert bad.status_code == 400


def test_emulator_if_modified_since_where_and_unitdp(served) -> None:
    client, state = served(count=30)
    token = _token(client).json()["access_token"]
    records = state.records("tenant-a")
    pivot = records[15]
    ms = int(pivot["UpdatedDateUTC"][6:].split("+")[0].split(")")[0])
    second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    expected = [
        r["CreditNoteID"] for r in records if int(r["UpdatedDateUTC"][6:19]) // 1000 >= ms // 1000
    ]
    for header in (second, second + ".999", second + "Z", second + "+00:00"):
        reply = client.get(API, headers=_headers(token, **{"If-Modified-Since": header}))
        assert [r["CreditNoteID"] for r in reply.json()["CreditNotes"]] == expected, header
    where = client.get(
        API,
        params={"where": 'Status=="VOIDED" && Type=="ACCRECCREDIT"'},
        headers=_headers(token),
    )
    got = where.json()["CreditNotes"]
    assert got and all(r["Status"] == "VOIDED" and r["Type"] == "ACCRECCREDIT" for r in got)
    assert (
        client.get(API, params={"where": "Total > 3"}, headers=_headers(token)).status_code == 400
    )
    four = parse_json(client.get(API, params={"unitdp": 4}, headers=_headers(token)).content)
    two = parse_json(client.get(API, headers=_headers(token)).content)
    units4 = [ln["UnitAmount"] for r in four["CreditNotes"] for ln in r["LineItems"]]
    units2 = [ln["UnitAmount"] for r in two["CreditNotes"] for ln in r["LineItems"]]
    assert any(u.as_tuple().exponent == -4 for u in units4)
    assert units2 == [u.quantize(Decimal("0.01")) for u in units4]
    assert all(-u.as_tuple().exponent <= 2 for u in units2)


def test_emulator_minute_day_and_concurrent_limits(served) -> None:
    client, state = served(count=3, minute_limit=3, minute_window=1.0, day_limit=5)
    token = _token(client).json()["access_token"]
    replies = [client.get(API, headers=_headers(token)) for _ in range(4)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert replies[2].headers["X-MinLimit-Remaining"] == "0"
    assert replies[3].headers["X-Rate-Limit-Problem"] == "minute"
    assert int(replies[3].headers["Retry-After"]) >= 1
    time.sleep(1.05)
    replies = [client.get(API, headers=_headers(token)) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 429]
    assert replies[2].headers["X-Rate-Limit-Problem"] == "day"
    assert state.snapshot()["tenants"]["tenant-a"]["throttled"] == 2

    slow, _ = served(count=1, concurrent_limit=2, response_delay=0.5)
    token = _token(slow).json()["access_token"]
    codes: list[int] = []

    def call() -> None:
        with httpx.Client(base_url=str(slow.base_url), timeout=10) as own:
            codes.append(own.get(API, headers=_headers(token)).status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 200, 429, 429]


def test_emulator_legacy_throttle_faults_and_admin_edits(served) -> None:
    client, state = served(count=3, minute_limit=1, legacy_throttle=True)
    token = _token(client).json()["access_token"]
    assert client.get(API, headers=_headers(token)).status_code == 200
    legacy = client.get(API, headers=_headers(token))
    assert legacy.status_code == 503 and legacy.text.startswith("oauth_problem=rate%20limit")

    client, state = served(count=3)
    token = _token(client).json()["access_token"]
    state.inject("tenant-a", 1, "429-day")
    state.inject("tenant-a", 2, "503")
    state.inject("tenant-a", 3, "500")
    day = client.get(API, headers=_headers(token))
    assert day.status_code == 429 and day.headers["X-Rate-Limit-Problem"] == "day"
    assert client.get(API, headers=_headers(token)).status_code == 503
    assert client.get(API, headers=_headers(token)).status_code == 500
    assert client.get(API, headers=_headers(token)).status_code == 200
    target = state.records("tenant-a")[0]
    edited = client.post(
        "/_emulator/xero/tenant-a/credit-notes",
        json={"CreditNoteID": target["CreditNoteID"], "Reference": "edited"},
    ).json()[0]
    assert edited["Reference"] == "edited"
    latest = state.records("tenant-a")[-1]
    assert latest["CreditNoteID"] == target["CreditNoteID"]  # bumped to the newest
    assert latest["Total"] == target["Total"]
    seen = client.get("/_emulator/state").json()
    assert seen["tenants"]["tenant-a"]["calls"] == 4
    assert seen["tenants"]["tenant-a"]["throttled"] == 1


def test_emulator_edit_mid_crawl_mode_moves_served_notes_to_the_end(served) -> None:
    client, state = served(count=12, include_examples=False)
    token = _token(client).json()["access_token"]
    bad = client.post("/_emulator/xero/edit-mid-crawl", json={"per_page": -1})
    assert bad.status_code == 400
    assert client.post("/_emulator/xero/edit-mid-crawl", json={"per_page": 1}).json() == {
        "edit_mid_crawl": 1
    }
    params = {"page": "1", "pageSize": "5", "order": "UpdatedDateUTC ASC"}
    first = client.get(API, params=params, headers=_headers(token)).json()["CreditNotes"]
    assert state.mid_crawl_edits == []  # nothing served yet: nothing to edit
    second = client.get(API, params={**params, "page": "2"}, headers=_headers(token)).json()
    # Before page 2, the first note served was edited: it is now the newest, and the note
    # that was 6th (first of page 2) slid onto page 1, which this client has already read.
    assert state.mid_crawl_edits == [first[0]["CreditNoteID"]]
    assert state.records("tenant-a")[-1]["CreditNoteID"] == first[0]["CreditNoteID"]
    assert state.records("tenant-a")[-1]["Reference"] == "edited mid-crawl #1"
    ids = [n["CreditNoteID"] for n in state.records("tenant-a")]
    assert ids[4] not in {n["CreditNoteID"] for n in first + second["CreditNotes"]}
    assert client.get("/_emulator/state").json()["mid_crawl_edits"] == 1
