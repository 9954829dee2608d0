"""The export paging rule (docs/architecture.md §4, invariant 6): every document of the backlog,
whatever order the server lists in, and a server that ignores ``page`` is a failed pass.

Through ``TraedeClient.export_pages`` over ``httpx.MockTransport`` (no sockets), and on the
``ExportPaginator`` value directly.
"""

import random
from collections import Counter
from urllib.parse import parse_qs

import httpx
import pytest

from connector.config import HttpSettings, Secret, TraedeSettings
from connector.errors import ContractError, IncompletePassError
from connector.sources.traede.client import ExportOptions, TraedeClient
from connector.sources.traede.paging import ExportPaginator, PageStats, SeenIds

ORDERS = ("id", "desc", "shuffled")


def listing(total: int, order: str, first: int = 1) -> list[int]:
    ids = list(range(first, first + total))
    if order == "desc":
        return ids[::-1]
    if order == "shuffled":
        random.Random(total).shuffle(ids)
    return ids


def server(
    ids: list[int], *, cap: int | None = None, honour_page: bool = True, honour_limit: bool = True
):
    asked: list[tuple[int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        q = parse_qs(request.url.query.decode())
        page, limit = int(q["page"][0]), int(q["limit"][0])
        asked.append((page, limit))
        if not honour_limit:
            return httpx.Response(200, json={"invoices": [{"id": i} for i in ids]})
        size = min(limit, cap) if cap else limit
        start = page * size if honour_page else 0
        return httpx.Response(
            200, json={"invoices": [{"id": i} for i in ids[start : start + size]]}
        )

    return handler, asked


def export(handler, stats: PageStats | None = None) -> list[int]:
    settings = TraedeSettings(
        base_url="https://traede.test",
        api_token=Secret("t"),
        app_key=Secret("k"),
        system_id="erp",
        http=HttpSettings(max_attempts=2),
    )
    client = TraedeClient(settings, transport=httpx.MockTransport(handler), sleep=lambda _: None)
    with client:
        return [
            r["id"]
            for page in client.export_pages("invoices", ExportOptions(), stats)
            for r in page
        ]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("total", [0, 1, 59, 60, 61, 130, 1000])
def test_every_document_once_whatever_the_order(order: str, total: int) -> None:
    ids = listing(total, order)
    handler, asked = server(ids)
    stats = PageStats()
    got = export(handler, stats)
    assert got == ids  # the whole backlog, each id once, in the server's order
    assert stats.warnings == []
    assert [p for p, _ in asked] == list(range(len(asked)))  # 0, 1, 2, ... never skipping
    assert len(asked) == total // 60 + (2 if total % 60 else 1)


@pytest.mark.parametrize("order", ORDERS)
def test_a_server_that_caps_pages_is_followed_with_the_cap(order: str) -> None:
    ids = listing(95, order)
    handler, asked = server(ids, cap=20)
    stats = PageStats()
    got = export(handler, stats)
    assert sorted(got) == sorted(ids) and len(set(got)) == 95
    assert any("at most 20" in w for w in stats.warnings)
    assert asked[-1][1] == 20


@pytest.mark.parametrize("order", ORDERS)
def test_a_server_ignoring_page_is_a_failed_pass_not_a_quiet_success(order: str) -> None:
    handler, asked = server(listing(200, order), honour_page=False)
    with pytest.raises(IncompletePassError) as info:
        export(handler)
    assert isinstance(info.value, ContractError) and info.value.exit_code == 5
    assert "ignores `page`" in str(info.value) and "after 60 documents" in str(info.value)
    assert len(asked) == 2  # detected on the second page, not looped on


@pytest.mark.parametrize("order", ORDERS)
def test_a_server_ignoring_page_with_a_short_backlog_got_everything(order: str) -> None:
    ids = listing(40, order)
    handler, _ = server(ids, honour_page=False)
    assert export(handler) == ids


@pytest.mark.parametrize("order", ORDERS)
def test_a_server_sending_everything_on_every_page_got_everything(order: str) -> None:
    ids = listing(150, order)
    handler, asked = server(ids, honour_limit=False)
    stats = PageStats()
    assert export(handler, stats) == ids
    assert len(asked) == 2
    assert any("ignores paging" in w for w in stats.warnings)


def test_a_listing_that_shifts_by_one_between_pages_loses_nothing() -> None:
    """Newest first while a new document arrives: the next page starts with one already seen."""
    pager = ExportPaginator("invoices", 3)
    assert [r["id"] for r in pager.take([{"id": 9}, {"id": 8}, {"id": 7}])] == [9, 8, 7]
    shifted = pager.take([{"id": 7}, {"id": 6}, {"id": 5}])
    assert [r["id"] for r in shifted] == [7, 6, 5]  # the repeat is harmless (upserts)
    assert pager.received == 5 and not pager.done
    assert pager.take([]) == [] and pager.done


def test_pages_of_records_without_ids_end_when_they_repeat() -> None:
    pager = ExportPaginator("invoices", 2)
    bad = [{"id": "x"}, {"nope": 1}]
    assert pager.take(bad) == bad
    with pytest.raises(IncompletePassError):
        pager.take(list(bad))


def test_seen_ids_hold_any_bigint_and_stay_small() -> None:
    seen = SeenIds()
    for value in (0, 1, 2**32 + 5, 2**63 - 1, -1, -(2**63)):
        seen.add(value)
        assert value in seen
    assert 2 not in seen and -2 not in seen and "1" not in seen
    assert len(seen) == 6
    dense = SeenIds()
    for value in range(100_001, 1_100_001):
        dense.add(value)
    assert len(dense) == 1_000_000
    assert dense.size_in_bytes() < 200_000  # a Python set of the same ids takes ~34 MB


def test_wide_ids_stay_a_set_across_buffer_merges() -> None:
    """Ids beyond 32 bits (sparse, snowflake-like) go to the sorted array: 8 bytes each."""
    rng = random.Random(3)
    wide = rng.sample(range(2**33, 2**62), 200_000)
    seen = SeenIds()
    for value in wide:
        seen.add(value)
    for value in wide[:1000]:
        seen.add(value)  # adding again changes nothing
    assert len(seen) == 200_000
    assert all(value in seen for value in wide[::97])
    assert sum(value + 1 in seen for value in wide[:2000]) <= 1
    assert seen.size_in_bytes() < 200_000 * 8 + 70_000 * 60


def test_every_id_is_counted_once_in_the_stats() -> None:
    ids = listing(130, "shuffled")
    handler, _ = server(ids)
    stats = PageStats()
    got = export(handler, stats)
    assert Counter(got).most_common(1)[0][1] == 1
    assert stats.documents == 130 and stats.pages == 4
