import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import httpx
import pytest

from connector.config import HttpSettings, Secret, UnleashedSettings
from connector.errors import ContractError, PermanentSourceError, TransientSourceError
from connector.sources.unleashed.client import UnleashedClient

KEY = "s3cret-key-value"


def _settings(**http: object) -> UnleashedSettings:
    return UnleashedSettings(
        base_url="https://api.example.test",
        api_id="my-api-id",
        api_key=Secret(KEY),
        client_type="acme/etl-tests",
        http=HttpSettings(**http),  # type: ignore[arg-type]
    )


def _page(number: int, pages: int, items: list[dict], size: int = 1000) -> dict:
    return {
        "Pagination": {
            "NumberOfItems": pages * max(1, len(items)),
            "PageSize": size,
            "PageNumber": number,
            "NumberOfPages": pages,
        },
        "Items": items,
    }


def _expected_signature(query: bytes) -> str:
    return base64.b64encode(hmac.new(KEY.encode(), query, hashlib.sha256).digest()).decode()


def _client(handler, **http: object) -> tuple[UnleashedClient, list[float]]:
    waits: list[float] = []
    client = UnleashedClient(
        _settings(**http), transport=httpx.MockTransport(handler), sleep=waits.append
    )
    return client, waits


def test_client_pages_through_the_path_and_signs_the_exact_query() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        number = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(200, json=_page(number, 3, [{"CreditNumber": f"CN-{number}"}]))

    client, _ = _client(handler)
    since = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    pages = list(client.credit_note_pages(since))
    assert [p[0]["CreditNumber"] for p in pages] == ["CN-1", "CN-2", "CN-3"]
    assert [r.url.path for r in seen] == ["/CreditNotes/1", "/CreditNotes/2", "/CreditNotes/3"]
    for request in seen:
        # The bytes on the wire are the bytes signed: ':' stays percent-encoded as built.
        assert request.url.query == b"modifiedSince=2025-01-02T03%3A04%3A05&pageSize=1000"
        assert request.headers["api-auth-signature"] == _expected_signature(request.url.query)
        assert request.headers["api-auth-id"] == "my-api-id"
        assert request.headers["accept"] == "application/json"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["client-type"] == "acme/etl-tests"
    assert client.stats.calls == 3 and client.stats.retries == 0


def test_client_converts_an_aware_cursor_to_utc() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.query)
        return httpx.Response(200, json=_page(1, 1, []))

    client, _ = _client(handler)
    from zoneinfo import ZoneInfo

    since = datetime(2025, 1, 2, 13, 0, tzinfo=ZoneInfo("Pacific/Auckland"))
    assert list(client.credit_note_pages(since)) == []
    assert seen == [b"modifiedSince=2025-01-02T00%3A00%3A00&pageSize=1000"]


def test_client_without_cursor_signs_page_size_only_and_stops_on_empty_page() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        number = int(request.url.path.rsplit("/", 1)[1])
        items = [{"CreditNumber": "CN-1"}] if number == 1 else []
        return httpx.Response(200, json=_page(number, 5, items))

    client, _ = _client(handler)
    assert len(list(client.credit_note_pages(None))) == 1
    assert len(seen) == 2
    assert seen[0].url.query == b"pageSize=1000"
    assert seen[0].headers["api-auth-signature"] == _expected_signature(b"pageSize=1000")


def test_client_maps_403_to_permanent_error_naming_the_variables_not_the_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"Description": "Forbidden: invalid signature"})

    client, waits = _client(handler)
    with pytest.raises(PermanentSourceError) as err:
        list(client.credit_note_pages(None))
    message = str(err.value)
    assert "UNLEASHED_API_KEY" in message and "UNLEASHED_API_ID" in message
    assert KEY not in message
    assert err.value.status == 403 and err.value.exit_code == 4
    assert waits == [] and client.stats.calls == 1


def test_client_waits_for_retry_after_on_429() -> None:
    replies = iter(
        [
            httpx.Response(429, headers={"Retry-After": "7"}, json={"Description": "slow down"}),
            httpx.Response(503, json={"Description": "busy"}),
            httpx.Response(200, json=_page(1, 1, [{"CreditNumber": "CN-1"}])),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return next(replies)

    client, waits = _client(handler)
    assert list(client.credit_note_pages(None)) == [[{"CreditNumber": "CN-1"}]]
    assert 7.0 <= waits[0] <= 7.3
    assert len(waits) == 2
    assert client.stats.calls == 3 and client.stats.retries == 2


def test_client_retries_timeouts_then_gives_up() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, waits = _client(handler, max_attempts=3)
    with pytest.raises(TransientSourceError):
        list(client.credit_note_pages(None))
    assert client.stats.calls == 3 and len(waits) == 2


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"Items": []}', "no Pagination"),
        (
            b'{"Pagination": {"NumberOfItems": 1, "PageSize": 1, "PageNumber": 1, '
            b'"NumberOfPages": 1}}',
            "no Items",
        ),
        (b'{"Pagination": {"NumberOfItems": 1}, "Items": []}', "Pagination.PageSize"),
    ],
)
def test_client_rejects_a_broken_envelope(body: bytes, problem: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    client, _ = _client(handler)
    with pytest.raises(ContractError) as err:
        list(client.credit_note_pages(None))
    assert problem in str(err.value)


def test_client_detects_a_server_repeating_page_one() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_page(1, 3, [{"CreditNumber": "CN-1"}]))

    client, _ = _client(handler)
    with pytest.raises(ContractError, match="asked for page 2"):
        list(client.credit_note_pages(None))


def test_client_parses_numbers_as_decimal_and_keeps_duplicate_keys_readable() -> None:
    body = (
        b'{"Pagination":{"NumberOfItems":1,"PageSize":1000,"PageNumber":1,"NumberOfPages":1},'
        b'"Items":[{"CreditNumber":"CN-1","Total":12.50,"Total":12.50}]}'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    client, _ = _client(handler)
    (page,) = list(client.credit_note_pages(None))
    assert str(page[0]["Total"]) == "12.50"
    assert json.dumps(page[0]["CreditNumber"]) == '"CN-1"'


def test_client_probe_asks_for_the_count_only() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_page(1, 0, [], size=0) | {"Pagination": {
            "NumberOfItems": 42, "PageSize": 0, "PageNumber": 1, "NumberOfPages": 0}})  # fmt: skip

    client, _ = _client(handler)
    assert client.probe() == "42 credit note(s) visible"
    assert seen[0].url.path == "/CreditNotes" and seen[0].url.query == b"pageSize=0"
    assert seen[0].headers["api-auth-signature"] == _expected_signature(b"pageSize=0")
