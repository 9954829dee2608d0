"""Keyset paging on a modified timestamp (docs/architecture.md §4, invariant 9).

A source that lists records oldest-modified first and moves an edited record to the end (Xero,
``If-Modified-Since`` + ``order=UpdatedDateUTC ASC``) cannot be paged by page number under one
fixed lower bound: an edit during the crawl shifts every later record one slot to the left and
one falls across a page boundary unseen. :class:`KeysetPaginator` decides every request of a
pass instead: each next request asks again from page 1 with the lower bound raised to the
highest timestamp received (truncated to the second, the bound's precision). An edit can then
only move a record *later*, into a request still to come; repeats of the boundary second are
dropped here and would be absorbed by the upsert anyway.

Edge cases, each with its rule:

- A full page whose records all share the bound's second cannot raise the bound. Within that
  "crowded" second the pass falls back to page numbers (``page`` 2, 3, ... under the same
  bound). An edit there can shift a record across a page boundary again, so every record served
  from a crowded second is remembered; if one shows up later in the pass with a newer
  timestamp, the pass is *disturbed* and, once it reaches the end, reads again from that
  second (at most ``max_rewinds`` times, else a :class:`ContractError`). Until a pass with a
  crowded second has completed undisturbed, :attr:`KeysetPage.hold` tells the caller not to
  move its cursor past that second.
- A page shorter than the page size ends the pass, and so does a valid ``pageCount`` reached.
- A record older than the bound, or a page-numbered page repeating the previous one, means the
  server ignores the bound or the paging: a :class:`ContractError`, never a silent loop.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.errors import ContractError

Record = dict[str, Any]


@dataclass(frozen=True)
class PageRequest:
    """What to ask next: records modified since ``since`` (None: all), page ``page`` (1-based)."""

    since: datetime | None
    page: int


class KeysetPage(list[Record]):
    """The new records of one response (repeats dropped), and how far a cursor may move.

    ``hold`` is None when the cursor may move to the highest timestamp committed; otherwise the
    cursor must stay at or below ``hold`` until the pass has ended.
    """

    def __init__(self, records: list[Record], hold: datetime | None) -> None:
        super().__init__(records)
        self.hold = hold


def second(instant: datetime) -> datetime:
    """``instant`` truncated to the whole second (the precision of the lower bound)."""
    return instant.replace(microsecond=0)


class KeysetPaginator:
    """The paging rule of one pass; it alone decides the next request and when the pass ends.

    Args:
        since: the pass's lower bound (None: everything).
        page_size: the page size every request sends.
        key: a record's identity (e.g. its CreditNoteID).
        stamp: a record's modified instant, None when it has none readable.
        system: source name for errors.
        endpoint: endpoint name for errors.
        max_rewinds: how often a disturbed crowded second is read again before giving up.
    """

    def __init__(
        self,
        since: datetime | None,
        page_size: int,
        *,
        key: Callable[[Record], str],
        stamp: Callable[[Record], datetime | None],
        system: str,
        endpoint: str,
        max_rewinds: int = 3,
    ) -> None:
        self.page_size = page_size
        self._key, self._stamp = key, stamp
        self._system, self._endpoint = system, endpoint
        self._max_rewinds = max_rewinds
        self._since = None if since is None else second(since)
        self._page = 1
        self._done = False
        # Records served whose timestamp is at or above the bound (a next request may repeat
        # them): id -> timestamp.
        self._seen: dict[str, datetime] = {}
        self._previous_ids: tuple[str, ...] = ()
        self._crowded: datetime | None = None  # the lowest crowded second of this pass
        self._crowded_ids: dict[str, datetime] = {}
        self._disturbed = False
        self.rewinds = 0
        self.requests = 0
        self.stop_reason = ""

    @property
    def hold(self) -> datetime | None:
        """The highest cursor value that is safe before the pass ends (None: no limit)."""
        return self._crowded

    def next_request(self) -> PageRequest | None:
        """The next request of the pass, or None once the pass is complete."""
        if self._done:
            return None
        self.requests += 1
        return PageRequest(self._since, self._page)

    def receive(self, records: list[Record], page_count: int | None) -> KeysetPage:
        """Take the response to the last request; return its new records.

        Raises:
            ContractError: the server ignored the bound or the paging, or a crowded second
                kept being disturbed.
        """
        stamps = [self._stamp(r) for r in records]
        ids = tuple(self._key(r) for r in records)
        self._check(records, stamps, ids)
        fresh = [r for r, i, s in zip(records, ids, stamps, strict=True) if self._new(i, s)]
        in_crowd = self._page > 1
        full = len(records) >= self.page_size
        top = max((second(s) for s in stamps if s is not None), default=None)
        if full and (top is None or (self._since is not None and top <= self._since)):
            in_crowd = True  # a whole page in the bound's second: page numbers from here
        if in_crowd:
            crowd_second = self._since if self._since is not None else top
            if crowd_second is not None and (self._crowded is None or crowd_second < self._crowded):
                self._crowded = crowd_second
            for i, s in zip(ids, stamps, strict=True):
                if s is not None and second(s) == crowd_second:
                    self._crowded_ids[i] = s
        for i, s in zip(ids, stamps, strict=True):
            if s is not None:
                self._seen[i] = s
        hold = self._crowded
        self._advance(full, top, page_count)
        return KeysetPage(fresh, hold)

    # --- the rule -------------------------------------------------------------------------

    def _advance(self, full: bool, top: datetime | None, page_count: int | None) -> None:
        page_count_valid = isinstance(page_count, int) and page_count >= 1
        if not full:
            self._end("a short page")
        elif page_count_valid and page_count is not None and self._page >= page_count:
            self._end(f"page {self._page} of pageCount {page_count}")
        elif top is not None and (self._since is None or top > self._since):
            self._since, self._page = top, 1  # keyset: from page 1 at the highest second
            self._seen = {i: s for i, s in self._seen.items() if s >= top}
        else:
            self._page += 1  # a crowded second: page numbers under the same bound

    def _end(self, why: str) -> None:
        if self._disturbed and self._crowded is not None:
            if self.rewinds >= self._max_rewinds:
                raise ContractError(
                    self._system,
                    self._endpoint,
                    f"records modified in the crowded second {self._crowded.isoformat()} kept "
                    f"being edited while it was read ({self.rewinds} re-reads); the cursor "
                    "stays at that second, run again",
                )
            self.rewinds += 1
            self._since, self._page = self._crowded, 1
            self._crowded, self._crowded_ids, self._disturbed = None, {}, False
            self._seen = {}
            self.stop_reason = ""
            return
        self._done = True
        self._crowded = None
        self.stop_reason = why

    def _new(self, record_id: str, stamp: datetime | None) -> bool:
        if stamp is None:
            return True
        crowded = self._crowded_ids.get(record_id)
        if crowded is not None and stamp > crowded:
            # Served from a crowded second and edited since: page numbers there may have
            # stepped over a neighbour.
            self._disturbed = True
        return self._seen.get(record_id) != stamp

    def _check(
        self, records: list[Record], stamps: list[datetime | None], ids: tuple[str, ...]
    ) -> None:
        def broken(problem: str) -> ContractError:
            return ContractError(self._system, self._endpoint, problem)

        if len(records) > self.page_size:
            raise broken(
                f"a page holds {len(records)} records, more than pageSize {self.page_size}: "
                "the server ignored paging"
            )
        since = self._since
        if since is not None and any(s is not None and s < since for s in stamps):
            raise broken(f"records older than the bound {since.isoformat()}: it was ignored")
        if self._page > 1 and ids and ids == self._previous_ids:
            raise broken(f"page {self._page} repeats page {self._page - 1}: a paging loop")
        self._previous_ids = ids
