"""The flow for cursor-based sources (Xero, Unleashed): docs/architecture.md, "Cursor sources".

Reads top to bottom: read the cursor, ask the source for what changed since (cursor minus the
overlap window), normalize each page, and commit rows + cursor in one transaction per batch.
"""

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from connector.model import NormalizedBatch, TableRows
from connector.sources.keyset import KeysetPage
from connector.tables.spec import TableSpec
from connector.warehouse import Warehouse, cursors
from connector.warehouse.loader import BatchLoader
from connector.warehouse.locks import ConsumerLock
from connector.warehouse.runs import Run

log = logging.getLogger(__name__)

PageSource = Callable[[datetime | None], Iterator[list[dict[str, Any]]]]
Normalizer = Callable[[list[dict[str, Any]], datetime, str], NormalizedBatch]


@dataclass(frozen=True)
class CursorStream:
    """One cursor-tracked stream: what to call, how to normalize, where it lands.

    ``advance`` is ``per_batch`` when the source returns records oldest-first (Xero, ordered
    by UpdatedDateUTC ASC: every committed batch may move the cursor to its maximum), and
    ``at_end`` when it returns newest-first (Unleashed): the cursor may only move once every
    page is committed, to the maximum over all pages.
    """

    source: str
    resource: str
    scope: str
    pages: PageSource
    normalize: Normalizer
    header: TableSpec
    children: tuple[TableSpec, ...]
    overlap: timedelta
    advance: Literal["per_batch", "at_end"]


def load_cursor_stream(
    stream: CursorStream,
    warehouse: Warehouse,
    run: Run,
    lock: ConsumerLock | None = None,
    *,
    full: bool = False,
) -> dict[str, int]:
    """Load everything changed since the stored cursor; return this stream's counters.

    Args:
        stream: what to read and where it lands.
        warehouse: the staging tables and the cursor.
        run: the run the rows and counters belong to.
        lock: the run's consumer lock, re-checked before each commit.
        full: read everything whatever the cursor says (a full re-sync); rows are upserted and
            the cursor ends where a normal run leaves it (it never moves backwards).
    """
    with warehouse.connect() as conn:
        stored = cursors.read(conn, stream.source, stream.scope, stream.resource)
        since = None if stored is None or full else stored - stream.overlap
        log.info(
            "%s/%s [%s]: fetching %s (cursor %s, overlap %s)",
            stream.source, stream.resource, stream.scope or "-",
            "everything (full re-sync)" if full else f"changes since {since}",
            stored, stream.overlap,
        )  # fmt: skip
        loader = BatchLoader(
            conn,
            run,
            source=stream.source,
            resource=stream.resource,
            system_id=stream.scope,
            header=stream.header,
            children=stream.children,
            lock=lock,
            cursor_scope=stream.scope,
        )
        totals: dict[str, int] = {}
        highest: datetime | None = None
        committed: datetime | None = None
        for records in stream.pages(since):
            batch = stream.normalize(records, run.started_at, run.run_id)
            if batch.cursor is not None and (highest is None or batch.cursor > highest):
                highest = batch.cursor
            # Newest-first sources commit rows page by page (bounded memory) but keep the
            # cursor still until the last page: only then can nothing older be missed. A keyset
            # page may also hold the cursor below a second it has not verified yet.
            advance_to = _advance_to(
                stream, highest, records.hold if isinstance(records, KeysetPage) else None
            )
            _add(totals, loader.load(batch, cursor=advance_to, extra={"pages": 1}))
            if advance_to is not None:
                committed = advance_to
        if highest is not None and (committed is None or committed < highest):
            # The pass is complete: now the cursor may reach the highest timestamp loaded.
            _add(totals, loader.load(NormalizedBatch(TableRows(stream.header)), cursor=highest))
        return totals


def _advance_to(
    stream: CursorStream, highest: datetime | None, hold: datetime | None
) -> datetime | None:
    if stream.advance == "at_end" or highest is None:
        return None
    return highest if hold is None else min(highest, hold)


def _add(totals: dict[str, int], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        totals[key] = totals.get(key, 0) + value
