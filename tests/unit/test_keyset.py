"""The paging rules as values: KeysetPaginator (Xero) and ShiftGuard (Unleashed), driven by
in-memory listings that edit and delete records between requests the way the real servers do.
"""

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from connector.errors import ContractError
from connector.sources.keyset import KeysetPage, KeysetPaginator, PageRequest
from connector.sources.shift_guard import ShiftGuard

T0 = 1_700_000_000_000  # ms
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _instant(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


class Ascending:
    """Xero-like: ordered by (UpdatedDateUTC, id) ascending, bound matched to the second."""

    def __init__(self, stamps: dict[str, int]) -> None:
        self.stamps = dict(stamps)
        self.requests: list[PageRequest] = []
        self.before: Callable[[Ascending], None] = lambda _: None

    def edit(self, record_id: str) -> None:
        self.stamps[record_id] = max(self.stamps.values()) + 1  # Xero: now, the newest

    def answer(self, request: PageRequest, size: int) -> tuple[list[dict], int]:
        self.requests.append(request)
        self.before(self)
        since = None if request.since is None else (request.since - EPOCH) // timedelta(seconds=1)
        rows = sorted(
            ((ms, i) for i, ms in self.stamps.items() if since is None or ms >= since * 1000),
            reverse=request.descending,
        )
        chosen = rows[(request.page - 1) * size : request.page * size]
        records = [{"id": i, "ms": ms} for ms, i in chosen]
        return records, math.ceil(len(rows) / size)


def _pager(size: int, since: datetime | None = None) -> KeysetPaginator:
    return KeysetPaginator(
        since,
        size,
        key=lambda r: str(r["id"]),
        stamp=lambda r: _instant(r["ms"]),
        system="xero",
        endpoint="credit_notes",
    )


def _crawl(server: Ascending, pager: KeysetPaginator) -> tuple[dict[str, int], list[KeysetPage]]:
    got: dict[str, int] = {}
    pages = []
    while (request := pager.next_request()) is not None:
        records, count = server.answer(request, pager.page_size)
        page = pager.receive(records, count)
        pages.append(page)
        for r in page:
            got[r["id"]] = r["ms"]
    return got, pages


def _spread(n: int, step_ms: int = 60_000) -> dict[str, int]:
    return {f"r{i:05d}": T0 + i * step_ms for i in range(n)}


@pytest.mark.parametrize("n", [0, 1, 999, 1000, 1001, 2500, 3000])
def test_full_pass_costs_ceil_n_over_page_plus_at_most_one(n: int) -> None:
    server = Ascending(_spread(n))
    got, _ = _crawl(server, pager := _pager(1000))
    assert got == server.stamps
    assert len(server.requests) <= math.ceil(n / 1000) + 1
    assert pager.stop_reason
    # Every request after the first is page 1 from the highest second received.
    assert all(r.page == 1 for r in server.requests)


def test_edits_of_served_records_never_skip_a_neighbour() -> None:
    server = Ascending(_spread(50))
    edited: list[str] = []

    def edit_served(s: Ascending) -> None:
        if len(s.requests) > 1:  # a user edits a record this crawl has already read
            victim = sorted(s.stamps)[len(edited) * 3]
            s.edit(victim)
            edited.append(victim)

    server.before = edit_served
    got, _ = _crawl(server, _pager(10))
    assert edited and got == server.stamps  # every record, each in its latest version


def test_more_than_a_page_in_one_second_neither_loops_nor_skips() -> None:
    stamps = {f"a{i:03d}": T0 + i for i in range(25)}  # 25 records within one second
    stamps.update({f"b{i:03d}": T0 + 5_000 + i * 1000 for i in range(17)})
    server = Ascending(stamps)
    got, pages = _crawl(server, pager := _pager(10))
    assert got == stamps
    # Page 1 from the crowded second is full and cannot raise the bound: from there the pass
    # reads newest first by page number (42 records: pages 1..5), then one top-up page.
    assert server.requests[1] == PageRequest(_instant(T0), 1)
    descending = [PageRequest(_instant(T0), p, True) for p in (1, 2, 3, 4, 5, 1)]
    assert server.requests[2:] == descending
    assert "top-up" in pager.stop_reason
    # The cursor may not pass the crowded second before the pass has ended.
    assert [p.hold for p in pages] == [None] + [_instant(T0)] * 7


def test_edits_inside_a_crowded_second_never_skip_a_neighbour() -> None:
    stamps = {f"a{i:03d}": T0 + i for i in range(45)}
    stamps.update({f"b{i:03d}": T0 + 5_000 + i * 1000 for i in range(3)})
    server = Ascending(stamps)
    edited: list[str] = []

    def edit_in_crowd(s: Ascending) -> None:
        if len(s.requests) > 1:  # before every later request, edit a record already served
            victim = f"a{len(edited) * 2:03d}"
            s.edit(victim)
            edited.append(victim)

    server.before = edit_in_crowd
    got, _ = _crawl(server, _pager(10))
    assert len(edited) >= 5
    assert got == server.stamps  # every record, each in its latest version


def test_page_count_ends_a_full_last_page_and_invalid_counts_are_ignored() -> None:
    pager = _pager(2)
    assert pager.next_request() == PageRequest(None, 1)
    pager.receive([{"id": "x", "ms": T0}, {"id": "y", "ms": T0 + 5000}], 1)
    assert pager.next_request() is None and "pageCount" in pager.stop_reason
    pager = _pager(2)
    pager.next_request()
    pager.receive([{"id": "x", "ms": T0}, {"id": "y", "ms": T0 + 5000}], 0)
    assert pager.next_request() == PageRequest(_instant(T0 + 5000), 1)


def test_a_server_ignoring_the_bound_or_the_paging_is_a_contract_error() -> None:
    pager = _pager(2, since=_instant(T0 + 10_000))
    pager.next_request()
    with pytest.raises(ContractError, match="older than the bound"):
        pager.receive([{"id": "x", "ms": T0}], None)
    pager = _pager(2)
    pager.next_request()
    with pytest.raises(ContractError, match="more than pageSize"):
        pager.receive([{"id": str(i), "ms": T0} for i in range(3)], None)


class Descending:
    """Unleashed-like: newest first, pages by number; edits jump to the front."""

    def __init__(self, n: int) -> None:
        self.stamps = {f"r{i:04d}": T0 + i for i in range(n)}
        self.calls = 0
        self.before: Callable[[Descending], None] = lambda _: None

    def answer(self, page: int, size: int) -> tuple[list[str], int, int]:
        self.calls += 1
        self.before(self)
        rows = sorted(self.stamps, key=lambda i: (self.stamps[i], i), reverse=True)
        return rows[(page - 1) * size : page * size], len(rows), math.ceil(len(rows) / size)


def _path_crawl(server: Descending, size: int) -> set[str]:
    guard = ShiftGuard(size, system="unleashed", endpoint="credit_notes")
    seen: set[str] = set()
    while (page := guard.next_page()) is not None:
        items, total, pages = server.answer(page, size)
        guard.receive(len(items), total, pages)
        seen.update(items)
    return seen


def test_path_paging_steps_back_when_records_are_deleted_mid_crawl() -> None:
    server = Descending(95)
    deleted: list[str] = []

    def delete_served(s: Descending) -> None:
        if 1 < s.calls <= 4:  # deletes a record page 1 carried: the rest shift left
            victim = sorted(s.stamps, key=s.stamps.get, reverse=True)[0]
            del s.stamps[victim]
            deleted.append(victim)

    server.before = delete_served
    seen = _path_crawl(server, 10)
    assert len(deleted) == 3 and set(server.stamps) <= seen


def test_path_paging_edits_only_repeat_and_cost_no_step_back() -> None:
    server = Descending(95)

    def edit_served(s: Descending) -> None:
        oldest_served = sorted(s.stamps, key=s.stamps.get, reverse=True)[5]
        s.stamps[oldest_served] = max(s.stamps.values()) + 1

    server.before = edit_served
    guard_calls = server.calls
    seen = _path_crawl(server, 10)
    assert set(server.stamps) <= seen and server.calls - guard_calls == 10


def test_path_paging_gives_up_when_deletions_never_stop() -> None:
    server = Descending(500)
    server.before = lambda s: s.stamps.pop(max(s.stamps, key=s.stamps.get))
    with pytest.raises(ContractError, match="kept disappearing"):
        _path_crawl(server, 10)


def test_top_up_rounds_end_even_when_more_than_a_page_is_edited_per_request() -> None:
    stamps = {f"a{i:03d}": T0 + i for i in range(25)}
    server = Ascending(stamps)

    def edit_a_page_and_more(s: Ascending) -> None:
        if len(s.requests) > 2:  # from the descending phase on: 11 edits before each request
            for victim in sorted(s.stamps, key=s.stamps.get)[:11]:
                s.edit(victim)

    server.before = edit_a_page_and_more
    with pytest.raises(ContractError, match="top-up rounds"):
        _crawl(server, _pager(10))
