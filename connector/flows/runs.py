"""A run's life, written once for every source: record it, lock its streams, work, close it.

Every flow (TRAEDE's load/mark, the cursor sources) hands :func:`execute` the work to do under
the run's consumer locks. Whatever happens, the run's row in ``connector.sync_runs`` ends with a
status and its counters, and a :class:`ConnectorError` lands in ``result.error`` instead of
escaping: the CLI and Dagster read one :class:`SyncResult`.
"""

import logging
import time
from collections.abc import Callable

import psycopg

from connector.errors import ConnectorError, WarehouseError
from connector.flows.results import SyncResult
from connector.warehouse import Warehouse, runs
from connector.warehouse.locks import ConsumerLock

log = logging.getLogger(__name__)

Work = Callable[[ConsumerLock], None]


def execute(
    warehouse: Warehouse,
    run: runs.Run,
    result: SyncResult,
    work: Work,
    *,
    finalize: Callable[[], None] | None = None,
) -> SyncResult:
    """Run ``work`` as one recorded run holding its streams' locks; never raises ours.

    Args:
        warehouse: where the run is recorded (migrated first).
        run: the run's identity and counters (``run.stats`` becomes ``result.stats``).
        result: filled with the counters, the time taken and the first error.
        work: what the run does, given the held lock (to re-check before each commit); the
            locks are those of ``run.lock_streams`` (one per tenant for Xero).
        finalize: called before the run's row is closed, even after a failure (counts the
            client's calls, the marks still open); a :class:`ConnectorError` it raises is
            kept as the run's error if there is none yet.

    Returns:
        ``result``; an unexpected exception (a bug, Ctrl-C) is re-raised after the run's row
        is closed as ``failed``.
    """
    started = time.monotonic()
    try:
        warehouse.migrate()
        with warehouse.connect() as conn:
            runs.start(conn, run)
    except (ConnectorError, psycopg.Error) as exc:
        result.error = as_connector_error(exc, "starting the run")
        result.seconds = time.monotonic() - started
        return result
    try:
        with ConsumerLock(warehouse.dsn, run) as lock:
            with warehouse.connect() as conn:
                runs.abandon_stale(conn, run)
            work(lock)
    except ConnectorError as exc:
        log.error("%s run %s failed: %s", run.source, run.short_id, exc)
        result.error = result.error or exc
    except BaseException as exc:
        _close(warehouse, run, result, started, finalize, crash=type(exc).__name__)
        raise
    _close(warehouse, run, result, started, finalize)
    return result


def _close(
    warehouse: Warehouse,
    run: runs.Run,
    result: SyncResult,
    started: float,
    finalize: Callable[[], None] | None,
    *,
    crash: str | None = None,
) -> None:
    if finalize is not None:
        try:
            finalize()
        except ConnectorError as exc:  # the database may be the thing that failed
            result.error = result.error or exc
    result.stats = run.stats
    result.seconds = time.monotonic() - started
    status = "failed" if crash else result.status
    # An unexpected exception's text is not ours to store: it may quote anything.
    error = f"unexpected error ({crash}); see the log" if crash else (result.reason or None)
    try:
        with warehouse.connect() as conn:
            runs.finish(conn, run, status, error)
    except (ConnectorError, psycopg.Error) as exc:
        problem = as_connector_error(exc, "recording the end of the run")
        log.error("could not record the end of run %s: %s", run.short_id, problem)
        if result.error is None and crash is None:
            result.error = problem


def add_counts(run: runs.Run, resource: str, counts: dict[str, int]) -> None:
    """Add ``counts`` (API calls, retries) to the run's counters of ``resource``."""
    run.stats = run.added(resource, counts)


def as_connector_error(exc: BaseException, what: str) -> ConnectorError:
    """``exc`` itself if it is ours, else a :class:`WarehouseError` saying what failed."""
    if isinstance(exc, ConnectorError):
        return exc
    error = WarehouseError(
        f"{what} failed: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}"
    )
    error.__cause__ = exc
    return error
