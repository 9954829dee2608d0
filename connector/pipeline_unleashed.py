"""``sync_unleashed``: Unleashed credit notes into staging, incrementally by ``LastModifiedOn``.

Unleashed lists newest-modified first, so the cursor moves only after the last page, to the
maximum over all pages (``advance="at_end"``); the next run asks from that cursor minus the
overlap, and re-reads are harmless because loads are upserts on ``credit_number``.
"""

import logging
import time

import psycopg

from connector.config import UnleashedSettings
from connector.errors import ConnectorError, WarehouseError
from connector.normalize.unleashed import normalize_credit_notes
from connector.pipeline_cursor import CursorStream, load_cursor_stream
from connector.results import SyncResult
from connector.sources.unleashed.client import UnleashedClient
from connector.tables.unleashed import UNLEASHED_CREDIT_NOTE_LINES, UNLEASHED_CREDIT_NOTES
from connector.warehouse import Warehouse, runs
from connector.warehouse.locks import ConsumerLock

log = logging.getLogger(__name__)

SOURCE = "unleashed"
RESOURCE = "credit_notes"


def sync_unleashed(
    settings: UnleashedSettings,
    warehouse: Warehouse,
    *,
    trigger: str = "cli",
    external_run_id: str | None = None,
    client: UnleashedClient | None = None,
) -> SyncResult:
    """Load every credit note changed since the stored cursor; never raises a ConnectorError.

    Args:
        settings: Unleashed credentials and transport knobs.
        warehouse: where the staging tables and the cursor live.
        trigger: who started the run (``cli``, ``dagster``), recorded in ``connector.sync_runs``.
        external_run_id: the orchestrator's run id, if any.
        client: a ready client (tests inject transports); closed when the sync ends.

    Returns:
        The run's counters; ``result.error`` holds the typed error when the run failed.
    """
    started = time.monotonic()
    # The API id is not secret, but one Unleashed account is one stream: no system id needed.
    run = runs.Run(
        source=SOURCE,
        system_id="",
        kind="sync",
        resources=(RESOURCE,),
        trigger=trigger,
        external_run_id=external_run_id,
    )
    result = SyncResult(source=SOURCE, run_id=run.run_id, marking=False)
    try:
        warehouse.migrate()
        with warehouse.connect() as conn:
            runs.start(conn, run)
    except (ConnectorError, psycopg.Error) as exc:
        result.error = _warehouse_error(exc, "starting the run")
        result.seconds = time.monotonic() - started
        if client is not None:
            client.close()
        return result

    api = client or UnleashedClient(settings)
    try:
        with api, ConsumerLock(warehouse.dsn, run, [RESOURCE]) as lock:
            with warehouse.connect() as conn:
                runs.abandon_stale(conn, run)
            stream = CursorStream(
                source=SOURCE,
                resource=RESOURCE,
                scope="",
                pages=api.credit_note_pages,
                normalize=normalize_credit_notes,
                header=UNLEASHED_CREDIT_NOTES,
                children=(UNLEASHED_CREDIT_NOTE_LINES,),
                overlap=settings.cursor_overlap,
                advance="at_end",
            )
            load_cursor_stream(stream, warehouse, run, lock)
    except ConnectorError as exc:
        log.error("unleashed sync failed: %s", exc)
        result.error = exc
    except BaseException:
        _finish(warehouse, run, api, result, started, failed=True)
        raise
    _finish(warehouse, run, api, result, started)
    return result


def _finish(
    warehouse: Warehouse,
    run: runs.Run,
    api: UnleashedClient,
    result: SyncResult,
    started: float,
    *,
    failed: bool = False,
) -> None:
    """Add the API counters, close the run's row and fill ``result``."""
    run.stats = run.added(RESOURCE, {"api_calls": api.stats.calls, "retries": api.stats.retries})
    result.stats = run.stats
    result.seconds = time.monotonic() - started
    status = "failed" if failed else result.status
    error = "unexpected error (see the log)" if failed else (result.reason or None)
    try:
        with warehouse.connect() as conn:
            runs.finish(conn, run, status, error)
    except (ConnectorError, psycopg.Error) as exc:
        exc = _warehouse_error(exc, "recording the end of the run")
        log.error("could not record the end of run %s: %s", run.short_id, exc)
        if result.error is None and not failed:
            result.error = exc


def _warehouse_error(exc: BaseException, what: str) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        return exc
    error = WarehouseError(
        f"{what} failed: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}"
    )
    error.__cause__ = exc
    return error
