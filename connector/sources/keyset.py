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

- A full page whose records all share the bound's second cannot raise the bound (more records
  in one second than a page holds). Page numbers under that bound in the same ascending order
  would be exposed to the shift again, so the rest of the pass reads the listing from that
  second *newest first* (``descending``) by page number: an edit moves a record to the front,
  which only shifts the rest to the right (a repeat, never a skip; Xero never hard-deletes a
  credit note, docs/apis.md §2.4). Newest first, nothing older is known to be complete until
  the last page, so every page of that phase carries :attr:`KeysetPage.hold`: the caller's
  cursor must not pass the crowded second before the pass ends. A record edited during the
  phase went to the front (already read) with a time after every record read, so the pass
  ends with "top-up" rounds: newest first again until a page reaches the newest record read;
  a round of a single request leaves nothing behind.
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
# Top-up rounds a pass may take after its descending phase before it gives up (each further
# round needs more than a page of edits during the previous one).
MAX_TOP_UP_ROUNDS = 20


@dataclass(frozen=True)
class PageRequest:
    """What to ask next: records modified since ``since`` (None: all), page ``page``.

    Pages are 1-based; the listing is oldest first, or newest first when ``descending``.
    """

    since: datetime | None
    page: int
    descending: bool = False


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
    ) -> None:
        self.page_size = page_size
        self._key, self._stamp = key, stamp
        self._system, self._endpoint = system, endpoint
        self._since = None if since is None else second(since)
        self._page = 1
        self._descending = False
        self._newest_read: datetime | None = None  # the newest record of the descending phase
        # Top-up rounds after the descending phase: what is at or below ``_floor`` is in.
        self._floor: datetime | None = None
        self._round_requests = 0
        self._rounds = 0
        self._done = False
        # Records served at or above the bound (the next keyset request may repeat them):
        # id -> timestamp. Bounded by the records of one second plus one page.
        self._seen: dict[str, datetime] = {}
        self._previous_ids: tuple[str, ...] = ()
        self.requests = 0
        self.stop_reason = ""

    @property
    def hold(self) -> datetime | None:
        """The highest cursor value that is safe before the pass ends (None: no limit)."""
        return self._since if self._descending and not self._done else None

    def next_request(self) -> PageRequest | None:
        """The next request of the pass, or None once the pass is complete."""
        if self._done:
            return None
        self.requests += 1
        return PageRequest(self._since, self._page, self._descending)

    def receive(self, records: list[Record], page_count: int | None) -> KeysetPage:
        """Take the response to the last request; return its new records.

        Args:
            records: the response's records, in the server's order.
            page_count: the server's page count for this request, if it sent one.

        Raises:
            ContractError: the server ignored the bound or the paging.
        """
        stamps = [self._stamp(r) for r in records]
        ids = tuple(self._key(r) for r in records)
        self._check(records, stamps, ids)
        hold = self.hold
        full = len(records) >= self.page_size
        if self._descending:
            return KeysetPage(self._descending_page(records, stamps, full, page_count), hold)
        fresh = [
            r
            for r, i, s in zip(records, ids, stamps, strict=True)
            if s is None or self._seen.get(i) != s
        ]
        for i, s in zip(ids, stamps, strict=True):
            if s is not None:
                self._seen[i] = s
        top = max((second(s) for s in stamps if s is not None), default=None)
        if not full:
            self._end("a short page")
        elif page_count is not None and page_count >= 1 and self._page >= page_count:
            self._end(f"page {self._page} of pageCount {page_count}")
        elif top is not None and (self._since is None or top > self._since):
            self._since = top  # keyset: page 1 again, from the highest second received
            self._seen = {i: s for i, s in self._seen.items() if s >= top}
        else:
            # A full page inside the bound's second: newest first by page number from here.
            self._descending, self._page, self._seen = True, 1, {}
            hold = self.hold
        return KeysetPage(fresh, hold)

    # --- the rule -------------------------------------------------------------------------

    def _descending_page(
        self,
        records: list[Record],
        stamps: list[datetime | None],
        full: bool,
        page_count: int | None,
    ) -> list[Record]:
        # Newest first by page number: repeats are rare (only edits shift the listing) and are
        # left to the upsert, so memory stays bounded by the page.
        floor = self._floor
        for s in stamps:
            if s is not None and (self._newest_read is None or s > self._newest_read):
                self._newest_read = s
        last = not full or (page_count is not None and 1 <= page_count <= self._page)
        if floor is None:  # the descending phase over everything from the crowded second
            if last:
                self._top_up()
            else:
                self._page += 1
            return list(records)
        self._round_requests += 1
        fresh = [r for r, s in zip(records, stamps, strict=True) if s is None or s > floor]
        if not last and len(fresh) == len(records):
            self._page += 1  # a whole page edited during the phase: read on
        elif self._round_requests == 1:
            self._end(f"a top-up page {self._page} reaching what was read (newest first)")
        else:
            self._top_up()
        return fresh

    def _top_up(self) -> None:
        # Everything up to the newest record read is in. A record edited meanwhile went to the
        # front (already read) with a later time: read newest first again until a page reaches
        # what was read; a round of one request leaves nothing behind.
        if self._newest_read is None:
            self._end(f"the last page {self._page} (newest first)")
            return
        if self._rounds >= MAX_TOP_UP_ROUNDS:
            raise ContractError(
                self._system,
                self._endpoint,
                f"more than a page of records was edited during each of {self._rounds} top-up "
                "rounds; the cursor stays at the crowded second, run again",
            )
        self._rounds += 1
        self._floor, self._page, self._round_requests = self._newest_read, 1, 0
        self._previous_ids = ()

    def _end(self, why: str) -> None:
        self._done = True
        self.stop_reason = why

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
