"""The flow for cursor-based sources (Xero, Unleashed): DESIGN.md §1, second bullet.

Reads top to bottom: read the cursor, ask the source for what changed since (cursor minus the
overlap window), normalize each page, and commit rows + cursor in one transaction per batch.
"""

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg

from connector.errors import ConnectorError, WarehouseError
from connector.normalize.common import NormalizedBatch, TableRows
from connector.results import SyncResult
from connector.tables.spec import TableSpec
from connector.warehouse import Warehouse, cursors, runs
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
    stream: CursorStream, warehouse: Warehouse, run: Run, lock: ConsumerLock | None = None
) -> dict[str, int]:
    """Load everything changed since the stored cursor; return this stream's counters."""
    with warehouse.connect() as conn:
        stored = cursors.read(conn, stream.source, stream.scope, stream.resource)
        since = None if stored is None else stored - stream.overlap
        log.info(
            "%s/%s [%s]: fetching changes since %s (cursor %s, overlap %s)",
            stream.source, stream.resource, stream.scope or "-", since, stored, stream.overlap,
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
        for records in stream.pages(since):
            batch = stream.normalize(records, run.started_at, run.run_id)
            if batch.cursor is not None and (highest is None or batch.cursor > highest):
                highest = batch.cursor
            # Newest-first sources commit rows page by page (bounded memory) but keep the
            # cursor still until the last page: only then can nothing older be missed.
            advance_to = highest if stream.advance == "per_batch" else None
            _add(totals, loader.load(batch, cursor=advance_to, extra={"pages": 1}))
        if stream.advance == "at_end" and highest is not None:
            _add(totals, loader.load(NormalizedBatch(TableRows(stream.header)), cursor=highest))
        return totals


def _add(totals: dict[str, int], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        totals[key] = totals.get(key, 0) + value


def start_run(warehouse: Warehouse, run: Run, result: SyncResult) -> bool:
    """Migrate and record the run as running; on failure fill ``result.error``, return False."""
    try:
        warehouse.migrate()
        with warehouse.connect() as conn:
            runs.start(conn, run)
    except (ConnectorError, psycopg.Error) as exc:
        result.error = as_connector_error(exc, "starting the run")
        return False
    return True


def finish_run(
    warehouse: Warehouse,
    run: Run,
    result: SyncResult,
    started: float,
    counts: dict[str, int],
    *,
    failed: bool = False,
) -> None:
    """Add the API ``counts``, close the run's row and fill ``result``'s counters and time."""
    run.stats = run.added(run.resources[0], counts)
    result.stats = run.stats
    result.seconds = time.monotonic() - started
    status = "failed" if failed else result.status
    error = "unexpected error (see the log)" if failed else (result.reason or None)
    try:
        with warehouse.connect() as conn:
            runs.finish(conn, run, status, error)
    except (ConnectorError, psycopg.Error) as exc:
        problem = as_connector_error(exc, "recording the end of the run")
        log.error("could not record the end of run %s: %s", run.short_id, problem)
        if result.error is None and not failed:
            result.error = problem


def as_connector_error(exc: BaseException, what: str) -> ConnectorError:
    """``exc`` itself if it is ours, else a :class:`WarehouseError` saying what failed."""
    if isinstance(exc, ConnectorError):
        return exc
    error = WarehouseError(
        f"{what} failed: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}"
    )
    error.__cause__ = exc
    return error
