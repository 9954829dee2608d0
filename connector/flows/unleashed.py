"""``sync_unleashed``: Unleashed credit notes into staging, incrementally by ``LastModifiedOn``.

Unleashed lists newest-modified first, so the cursor moves only after the last page, to the
maximum over all pages (``advance="at_end"``); the next run asks from that cursor minus the
overlap, and re-reads are harmless because loads are upserts on ``credit_number``.
"""

from connector.config import UnleashedSettings
from connector.flows.cursor import CursorStream, load_cursor_stream
from connector.flows.results import SyncResult
from connector.flows.runs import add_counts, execute
from connector.normalize.unleashed import normalize_credit_notes
from connector.sources.unleashed.client import UnleashedClient
from connector.tables.unleashed import UNLEASHED_CREDIT_NOTE_LINES, UNLEASHED_CREDIT_NOTES
from connector.warehouse import Warehouse, runs
from connector.warehouse.locks import ConsumerLock

SOURCE = "unleashed"
RESOURCE = "credit_notes"


def sync_unleashed(
    settings: UnleashedSettings,
    warehouse: Warehouse,
    *,
    trigger: str = "cli",
    external_run_id: str | None = None,
    client: UnleashedClient | None = None,
    full: bool = False,
) -> SyncResult:
    """Load every credit note changed since the stored cursor; never raises a ConnectorError.

    Args:
        settings: Unleashed credentials and transport knobs.
        warehouse: where the staging tables and the cursor live.
        trigger: who started the run (``cli``, ``dagster``), recorded in ``connector.sync_runs``.
        external_run_id: the orchestrator's run id, if any.
        client: a ready client (tests inject transports); closed when the sync ends.
        full: a full re-sync: read every credit note whatever the cursor says, upsert, and
            leave the cursor where a normal run would.

    Returns:
        The run's counters; ``result.error`` holds the typed error when the run failed.
    """
    # The API id is not secret, but one Unleashed account is one stream: no system id needed.
    run = runs.Run(
        source=SOURCE,
        system_id="",
        kind="sync",
        resources=(RESOURCE,),
        options={"full": True} if full else {},
        trigger=trigger,
        external_run_id=external_run_id,
    )
    result = SyncResult(source=SOURCE, run_id=run.run_id, marking=False)
    api = client or UnleashedClient(settings)
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

    def work(lock: ConsumerLock) -> None:
        load_cursor_stream(stream, warehouse, run, lock, full=full)

    def count_calls() -> None:
        add_counts(run, RESOURCE, {"api_calls": api.stats.calls, "retries": api.stats.retries})

    with api:
        return execute(warehouse, run, result, work, finalize=count_calls)
