"""``sync_xero``: Xero credit notes into staging, incrementally by ``UpdatedDateUTC`` per tenant.

Xero lists oldest-modified first (``order=UpdatedDateUTC ASC``) and the client pages keyset
style (a note edited mid-crawl cannot be stepped over), so every committed page may move the
tenant's cursor (``advance="per_batch"``, never past a page's ``hold``); the next run asks
``If-Modified-Since`` cursor minus the overlap, and re-reads are harmless because loads upsert
on CreditNoteID. Each tenant is its own locked stream. A
spent daily quota (429 ``day``) stops that tenant cleanly: what was committed, and its cursor,
stays; the result carries a :class:`DailyLimitError` (exit code 10) and the next run resumes.
"""

import functools
import logging

from connector.config import XeroSettings
from connector.errors import DailyLimitError
from connector.flows.cursor import CursorStream, load_cursor_stream
from connector.flows.results import SyncResult
from connector.flows.runs import add_counts, execute
from connector.normalize.xero import normalize_credit_notes
from connector.sources.xero.client import XeroClient
from connector.tables.xero import XERO_CHILDREN, XERO_CREDIT_NOTES
from connector.warehouse import Warehouse, runs
from connector.warehouse.locks import ConsumerLock

log = logging.getLogger(__name__)

SOURCE = "xero"
RESOURCE = "credit_notes"


def sync_xero(
    settings: XeroSettings,
    warehouse: Warehouse,
    *,
    trigger: str = "cli",
    external_run_id: str | None = None,
    client: XeroClient | None = None,
    full: bool = False,
) -> SyncResult:
    """Load every credit note changed since each tenant's cursor; never raises a ConnectorError.

    Args:
        settings: Xero credentials, tenants (empty: one custom connection) and overlap.
        warehouse: where the staging tables and the cursors live.
        trigger: who started the run (``cli``, ``dagster``), recorded in ``connector.sync_runs``.
        external_run_id: the orchestrator's run id, if any.
        client: a ready client (tests inject pacing, page size or transports); closed at the end.
        full: a full re-sync: read every credit note whatever the cursors say, upsert, and
            leave each cursor where a normal run would (catches edits that never bump
            ``UpdatedDateUTC``, docs/apis.md §2.4).

    Returns:
        The run's counters; ``result.error`` holds the typed error when the run failed.
    """
    scopes: tuple[str, ...] = settings.tenant_ids or ("",)
    run = runs.Run(
        source=SOURCE,
        system_id=",".join(settings.tenant_ids),
        kind="sync",
        resources=(RESOURCE,),
        options={"full": True} if full else {},
        trigger=trigger,
        external_run_id=external_run_id,
        # One lock per tenant: runs configured "A,B" and "A" can never both consume A.
        streams=tuple((scope, RESOURCE) for scope in scopes),
    )
    result = SyncResult(source=SOURCE, run_id=run.run_id, marking=False)
    api = client or XeroClient(settings)
    before = api.counters()

    def work(lock: ConsumerLock) -> None:
        for scope in scopes:
            try:
                stream = _stream(api, settings, scope)
                load_cursor_stream(stream, warehouse, run, lock, full=full)
            except DailyLimitError as exc:
                # The quota is per tenant: record it, keep what was committed, and let the
                # other tenants use theirs.
                log.warning("xero tenant %s: %s", scope or "(custom connection)", exc)
                result.error = exc

    def count_calls() -> None:
        # A reused client has counted before this run: only this run's calls are added.
        now = api.counters()
        add_counts(run, RESOURCE, {k: v - before.get(k, 0) for k, v in now.items()})

    with api:
        return execute(
            warehouse,
            run,
            result,
            work,
            finalize=count_calls,
        )


def _stream(api: XeroClient, settings: XeroSettings, scope: str) -> CursorStream:
    return CursorStream(
        source=SOURCE,
        resource=RESOURCE,
        scope=scope,
        pages=functools.partial(api.credit_note_pages, scope or None),
        normalize=functools.partial(normalize_credit_notes, tenant_id=scope),
        header=XERO_CREDIT_NOTES,
        children=XERO_CHILDREN,
        overlap=settings.cursor_overlap,
        advance="per_batch",
    )
