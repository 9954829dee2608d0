"""Paging of one TRAEDE export pass, whatever order the server lists in (invariant 6).

The export pages never say how they are sorted, so nothing here compares ids by size: a
compact set of the ids received (:class:`SeenIds`) steers the pass. :class:`ExportPaginator`
is the rule as a value, fed one page at a time by ``TraedeClient.export_pages``:

- an empty page ends the pass; a short page ends it too once the next page confirms it (that
  next page, the probe, is empty or holds nothing new);
- a probe that holds new ids means the server caps pages below ``limit``: the pass goes on
  with the cap as the limit, from the offset reached;
- a page that holds nothing new after a full page means the server ignores ``page``. That is
  complete only if the server showed it sends everything at once (a page over ``limit``);
  otherwise the pass ended early and :class:`IncompletePassError` says so.
"""

import bisect
import hashlib
import heapq
import itertools
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyroaring import BitMap

from connector.errors import IncompletePassError

SYSTEM = "traede"
_ID_MIN, _ID_MAX = -(2**63), 2**63 - 1  # staging ids are bigint
_U32 = 2**32 - 1


@dataclass
class PageStats:
    """Counters of one export pass."""

    pages: int = 0
    documents: int = 0
    warnings: list[str] = field(default_factory=list)


def doc_id(record: Any) -> int | None:
    """The record's id if it can be one: an int within bigint.

    Anything else is left to normalization to reject and does not steer paging.
    """
    value = record.get("id") if isinstance(record, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and _ID_MIN <= value <= _ID_MAX:
        return value
    return None


class _WideIds:
    """Ids outside 0..2**32-1 as a sorted ``array('q')`` (8 bytes each) plus a small buffer.

    Roaring's 64-bit bitmap costs a container per distinct high part, so a million sparse
    64-bit ids (snowflake-like) would take >100 MB there; here they take ~8 MB, whatever the
    spread. The buffer is merged in (a streaming merge) once it holds ``_BUFFER`` ids or an
    eighth of the array, whichever is more, so merging costs O(n) over a pass.
    """

    _BUFFER = 1 << 16

    def __init__(self) -> None:
        self._sorted: array[int] = array("q")
        self._buffer: set[int] = set()

    def add(self, value: int) -> None:
        if value in self:
            return
        self._buffer.add(value)
        if len(self._buffer) >= max(self._BUFFER, len(self._sorted) >> 3):
            self._sorted = array("q", heapq.merge(self._sorted, sorted(self._buffer)))
            self._buffer.clear()

    def __contains__(self, value: int) -> bool:
        if value in self._buffer:
            return True
        at = bisect.bisect_left(self._sorted, value)
        return at < len(self._sorted) and self._sorted[at] == value

    def __len__(self) -> int:
        return len(self._sorted) + len(self._buffer)

    def size_in_bytes(self) -> int:
        return self._sorted.itemsize * len(self._sorted) + 60 * len(self._buffer)


class SeenIds:
    """A compact set of bigint ids: a roaring bitmap for 0..2**32-1, a sorted array otherwise.

    A million consecutive ids take about 130 kB (a Python ``set`` of them 34 MB or more).
    """

    def __init__(self) -> None:
        self._bits = BitMap()
        self._wide = _WideIds()

    def add(self, value: int) -> None:
        """Add one id (any bigint)."""
        if 0 <= value <= _U32:
            self._bits.add(value)
        else:
            self._wide.add(value)

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        return value in self._bits if 0 <= value <= _U32 else value in self._wide

    def __len__(self) -> int:
        return len(self._bits) + len(self._wide)

    def size_in_bytes(self) -> int:
        """Bytes held by the bitmap's containers and the wide ids (beyond fixed overheads)."""
        stats = self._bits.get_statistics()
        return (
            stats["n_bytes_array_containers"]
            + stats["n_bytes_run_containers"]
            + stats["n_bytes_bitset_containers"]
            + self._wide.size_in_bytes()
        )


def _fingerprint(records: list[Any]) -> bytes:
    """A digest of the page's ids (the whole record where there is no usable id)."""
    digest = hashlib.blake2b(digest_size=16)
    for record in records:
        value = doc_id(record)
        digest.update(b"i%d;" % value if value is not None else b"r" + repr(record).encode())
    return digest.digest()


class ExportPaginator:
    """The paging rule of one export pass. Read ``page``/``limit``, fetch, call :meth:`take`.

    Attributes:
        page: the 0-based page to ask for next.
        limit: the ``limit`` to ask with (lowered when the server caps pages).
        done: the pass is complete; no more requests.
        received: documents passed on at distinct positions (the offset reached).
    """

    def __init__(self, resource: str, limit: int, stats: PageStats | None = None) -> None:
        self.resource = resource
        self.limit = limit
        self.page = 0
        self.done = False
        self.received = 0
        self.seen = SeenIds()
        self.stats = stats if stats is not None else PageStats()
        self._previous: bytes | None = None
        self._short: int | None = None  # length of the short page the next request confirms
        self._oversized = False  # some page held more than ``limit``: the server sends all

    def take(self, records: list[Any]) -> list[Any]:
        """Account for the page just received; return the records to pass on (maybe none).

        Raises:
            IncompletePassError: the server ignores ``page``, so the rest of the backlog cannot
                be reached in this pass (what was passed on so far is complete and loadable).
        """
        if self.done:
            raise RuntimeError("the pass is over")
        self.stats.pages += 1
        if not records:
            self.done = True
            return []
        ids = [doc_id(r) for r in records]
        new = {i for i in ids if i is not None and i not in self.seen}
        unkeyed = ids.count(None)
        fingerprint = _fingerprint(records)
        nothing_new = not new and (unkeyed == 0 or fingerprint == self._previous)
        if self._short is not None:
            return self._confirm_short(records, nothing_new)
        if nothing_new:
            return self._repeated(len(records))
        return self._accept(records, new, unkeyed, fingerprint)

    def _accept(
        self, records: list[Any], new: set[int], unkeyed: int, fingerprint: bytes
    ) -> list[Any]:
        for value in new:
            self.seen.add(value)
        self.received += len(new) + unkeyed
        self.stats.documents += len(records)
        self._previous = fingerprint
        if len(records) > self.limit:
            self._oversized = True
            self._warn(
                f"page {self.page} had {len(records)} > limit {self.limit} documents; "
                "the server is not paging"
            )
        elif len(records) < self.limit:
            self._short = len(records)
        self.page += 1
        # Every record is passed on, also one already received (a listing that shifted):
        # loads are upserts, so a repeat is harmless and a record is never dropped.
        return records

    def _confirm_short(self, records: list[Any], nothing_new: bool) -> list[Any]:
        short, self._short = self._short, None
        assert short is not None
        if nothing_new:
            # Past the end the server repeats what it has: the short page was the end.
            self._warn(f"page {self.page} repeated documents already received; end of the pass")
            self.done = True
            return []
        # New documents after a short page: the server caps pages at ``short``. Go on with
        # that limit from the offset reached (the probe's records come again from there).
        self._warn(
            f"the server returns at most {short} documents a page although limit={self.limit} "
            f"was asked; continuing with limit={short}"
        )
        self.limit, self.page, self._previous = short, self.received // short, None
        return []

    def _repeated(self, count: int) -> list[Any]:
        if self._oversized:
            self._warn(
                f"page {self.page} repeated the {count} documents already received: the server "
                "ignores paging and sends everything on every page; the pass is complete"
            )
            self.done = True
            return []
        raise IncompletePassError(
            SYSTEM,
            f"{self.resource}.export",
            f"page {self.page} held only documents already received on earlier pages: the "
            f"server ignores `page`, so this pass stopped after {self.received} documents "
            "and more may be waiting (what was received is loaded; the next run goes on)",
        )

    def _warn(self, text: str) -> None:
        self.stats.warnings.append(f"{self.resource}: {text}")


def chunks(records: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """Cut a record stream into lists of ``size``."""
    while True:
        chunk = list(itertools.islice(records, size))
        if not chunk:
            return
        yield chunk
