from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import orjson
import pytest

from connector.config import HttpSettings, Secret, XeroSettings
from connector.errors import (
    ContractError,
    DailyLimitError,
    PermanentSourceError,
    TransientSourceError,
)
from connector.sources.xero.client import XeroClient
from connector.sources.xero.pacing import MinutePacer

BASE = "https://xero.test/api.xro/2.0"
TOKEN_URL = "https://xero.test/connect/token"
SECRET = "s3cr3t-value"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _settings(tenants: tuple[str, ...] = ("t1",)) -> XeroSettings:
    return XeroSettings(
        base_url=BASE,
        token_url=TOKEN_URL,
        client_id="cid",
        client_secret=Secret(SECRET),
        tenant_ids=tenants,
        http=HttpSettings(max_attempts=5, max_retry_wait=60.0),
        cursor_overlap=timedelta(minutes=10),
    )


def _note(i: int) -> dict:
    return {
        "CreditNoteID": f"00000000-0000-4000-8000-{i:012d}",
        "Total": Decimal("1.10"),
        "UpdatedDateUTC": f"/Date({1700000000000 + i}+0000)/",
    }


def _page(records: list[dict], page: int = 1, size: int = 2, count: int | None = None) -> bytes:
    body: dict = {"Id": "x", "Status": "OK", "CreditNotes": records}
    if count is not None:
        body["pagination"] = {"page": page, "pageSize": size, "pageCount": count, "itemCount": 0}
    return orjson.dumps(body, default=lambda o: orjson.Fragment(str(o)))


class Server:
    """A scripted fake Xero: token endpoint plus a queue of CreditNotes replies."""

    def __init__(self, replies: list[httpx.Response]) -> None:
        self.replies = replies
        self.requests: list[httpx.Request] = []
        self.tokens = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/connect/token"):
            self.tokens += 1
            return httpx.Response(
                200, json={"access_token": f"tok{self.tokens}", "expires_in": 1800}
            )
        self.requests.append(request)
        return self.replies.pop(0)


def _client(server: Server, fake: FakeTime, **kw) -> XeroClient:
    return XeroClient(
        _settings(),
        transport=httpx.MockTransport(server),
        sleep=fake.sleep,
        clock=fake.clock,
        **kw,
    )


def test_client_pages_until_short_page_with_headers_and_params() -> None:
    server = Server(
        [
            httpx.Response(200, content=_page([_note(1), _note(2)])),
            httpx.Response(200, content=_page([_note(3)])),
        ]
    )
    fake = FakeTime()
    since = datetime(2023, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    with _client(server, fake, page_size=2) as client:
        pages = list(client.credit_note_pages("t1", since))
        assert client.counters() == {"api_calls": 3, "retries": 0, "http_429": 0}
    assert [len(p) for p in pages] == [2, 1]
    assert pages[0][0]["Total"] == Decimal("1.10")
    first = server.requests[0]
    # Keyset paging: page 1 again, from the highest second received.
    second = server.requests[1]
    assert first.url.params["page"] == "1" and second.url.params["page"] == "1"
    assert second.headers["If-Modified-Since"] == "2023-11-14T22:13:20"
    assert first.url.params["pageSize"] == "2"
    assert first.url.params["unitdp"] == "4"
    assert first.url.params["order"] == "UpdatedDateUTC ASC"
    assert first.headers["If-Modified-Since"] == "2023-01-02T03:04:05"
    assert first.headers["xero-tenant-id"] == "t1"
    assert first.headers["Accept"] == "application/json"
    assert first.headers["Authorization"] == "Bearer tok1"
    assert server.tokens == 1  # the token is cached across pages
    assert fake.sleeps == []


def test_client_custom_connection_sends_no_tenant_and_no_since() -> None:
    server = Server([httpx.Response(200, content=_page([]))])
    with _client(server, FakeTime()) as client:
        assert list(client.credit_note_pages(None, None)) == []
    assert "xero-tenant-id" not in server.requests[0].headers
    assert "If-Modified-Since" not in server.requests[0].headers


def test_client_stops_at_page_count_on_full_last_page() -> None:
    server = Server([httpx.Response(200, content=_page([_note(1), _note(2)], count=1))])
    with _client(server, FakeTime(), page_size=2) as client:
        assert len(list(client.credit_note_pages("t1", None))) == 1
    assert len(server.requests) == 1


def test_client_refreshes_token_once_on_401() -> None:
    expired = httpx.Response(401, json={"Title": "Unauthorized", "Detail": "TokenExpired"})
    server = Server([expired, httpx.Response(200, content=_page([_note(1)]))])
    with _client(server, FakeTime()) as client:
        assert len(list(client.credit_note_pages("t1", None))) == 1
    assert server.tokens == 2
    assert server.requests[1].headers["Authorization"] == "Bearer tok2"


def test_client_renews_token_before_expiry() -> None:
    server = Server([httpx.Response(200, content=_page([])) for _ in range(2)])
    fake = FakeTime()
    with _client(server, fake) as client:
        list(client.credit_note_pages("t1", None))
        fake.now += 1800 - 30  # inside the last minute of the token's life
        list(client.credit_note_pages("t1", None))
    assert server.tokens == 2


def test_client_401_twice_is_permanent_with_hint() -> None:
    body = {"Title": "Unauthorized", "Detail": "AuthenticationUnsuccessful"}
    server = Server([httpx.Response(401, json=body), httpx.Response(401, json=body)])
    with _client(server, FakeTime()) as client, pytest.raises(PermanentSourceError) as err:
        list(client.credit_note_pages("t1", None))
    assert "XERO_CLIENT_ID" in str(err.value) and "XERO_CLIENT_SECRET" in str(err.value)
    assert SECRET not in str(err.value)


def test_client_403_names_tenant_variable() -> None:
    server = Server([httpx.Response(403, json={"Title": "Forbidden", "Status": 403})])
    with _client(server, FakeTime()) as client, pytest.raises(PermanentSourceError) as err:
        list(client.credit_note_pages("t1", None))
    assert "XERO_TENANT_IDS" in str(err.value)


def test_client_invalid_client_is_permanent_without_secret() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_client"})

    client = XeroClient(_settings(), transport=httpx.MockTransport(handler), sleep=FakeTime().sleep)
    with client, pytest.raises(PermanentSourceError) as err:
        list(client.credit_note_pages("t1", None))
    assert "XERO_CLIENT_SECRET" in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in repr(err.value.__dict__)


def test_client_waits_for_retry_after_on_429_minute() -> None:
    throttled = httpx.Response(429, headers={"Retry-After": "7", "X-Rate-Limit-Problem": "minute"})
    server = Server([throttled, httpx.Response(200, content=_page([_note(1)]))])
    fake = FakeTime()
    with _client(server, fake) as client:
        assert len(list(client.credit_note_pages("t1", None))) == 1
        assert client.counters() == {"api_calls": 3, "retries": 1, "http_429": 1}
    assert len(fake.sleeps) == 1 and 7.0 <= fake.sleeps[0] < 7.5


def test_client_legacy_503_throttle_is_retried() -> None:
    legacy = httpx.Response(
        503, text="oauth_problem=rate%20limit%20exceeded&oauth_problem_advice=x"
    )
    server = Server([legacy, httpx.Response(200, content=_page([]))])
    with _client(server, FakeTime()) as client:
        list(client.credit_note_pages("t1", None))
        assert client.counters()["http_429"] == 1


def test_client_day_limit_raises_at_once() -> None:
    day = httpx.Response(429, headers={"Retry-After": "40000", "X-Rate-Limit-Problem": "day"})
    server = Server([day, httpx.Response(200, content=_page([]))])
    fake = FakeTime()
    with _client(server, fake) as client, pytest.raises(DailyLimitError) as err:
        list(client.credit_note_pages("t1", None))
    assert err.value.exit_code == 10 and err.value.limit == "day"
    assert fake.sleeps == [] and len(server.requests) == 1


def test_client_gives_up_on_persistent_500() -> None:
    server = Server([httpx.Response(500, text="boom") for _ in range(5)])
    with _client(server, FakeTime()) as client, pytest.raises(TransientSourceError):
        list(client.credit_note_pages("t1", None))
    assert len(server.requests) == 5


@pytest.mark.parametrize(
    "content",
    [b"<html>nope</html>", b'{"Status":"OK"}', b'{"CreditNotes": {}}'],
)
def test_client_contract_errors(content: bytes) -> None:
    server = Server([httpx.Response(200, content=content)])
    with _client(server, FakeTime()) as client, pytest.raises(ContractError):
        list(client.credit_note_pages("t1", None))


def test_client_detects_page_loop_and_ignored_paging() -> None:
    same = _page([_note(1), _note(2)])
    # 1: page 1; 2: page 1 from that second (all in it: a crowded second); 3: newest first,
    # page 1; 4: page 2 repeats it.
    server = Server([httpx.Response(200, content=same) for _ in range(4)])
    with _client(server, FakeTime(), page_size=2) as client, pytest.raises(ContractError):
        list(client.credit_note_pages("t1", None))
    server = Server([httpx.Response(200, content=_page([_note(1), _note(2), _note(3)]))])
    with _client(server, FakeTime(), page_size=2) as client, pytest.raises(ContractError):
        list(client.credit_note_pages("t1", None))


def test_pacer_keeps_under_budget_without_real_sleep() -> None:
    fake = FakeTime()
    pacer = MinutePacer(3, 10.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(7):
        pacer.acquire()
        fake.now += 0.1
    # 7 calls at 3 per 10 s: two waits, each until the oldest call leaves the window.
    assert len(fake.sleeps) == 2
    assert all(9.0 < s <= 10.0 + pacer.margin for s in fake.sleeps)


def test_pacer_honours_server_remaining() -> None:
    fake = FakeTime()
    pacer = MinutePacer(55, 60.0, clock=fake.clock, sleep=fake.sleep)
    pacer.acquire()
    pacer.observe("0")
    fake.now += 1.0
    pacer.acquire()
    assert fake.sleeps == [59.0 + pacer.margin]  # a margin for the server counting on arrival
