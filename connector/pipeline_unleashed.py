"""``sync_unleashed``: Unleashed credit notes into staging, incrementally by ``LastModifiedOn``.

Unleashed lists newest-modified first, so the cursor moves only after the last page, to the
maximum over all pages (``advance="at_end"``); the next run asks from that cursor minus the
overlap, and re-reads are harmless because loads are upserts on ``credit_number``.
"""

import logging
import time

from connector.config import UnleashedSettings
from connector.errors import ConnectorError
from connector.normalize.unleashed import normalize_credit_notes
from connector.pipeline_cursor import CursorStream, finish_run, load_cursor_stream, start_run
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
    if not start_run(warehouse, run, result):
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
        finish_run(warehouse, run, result, started, _counts(api), failed=True)
        raise
    finish_run(warehouse, run, result, started, _counts(api))
    return result


def _counts(api: UnleashedClient) -> dict[str, int]:
    return {"api_calls": api.stats.calls, "retries": api.stats.retries}
