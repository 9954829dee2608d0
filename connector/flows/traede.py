"""The TRAEDE flow (docs/architecture.md, "One document's way") for its resources, top to bottom.

load: export pages (HTTP, prefetched on a thread) -> batches -> normalize (pure) -> one
transaction per batch (staging upsert + outbox + rejects + run counters).
mark: committed outbox rows only -> mark-as-exported, <= 10 ids a call, several in flight ->
each id's outcome recorded. A resource whose load pass failed is not marked in that run, except
a pass that ended early (``IncompletePassError``): what it committed is marked and the run fails.
"""

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from connector.config import TraedeSettings
from connector.errors import ConnectorError, IncompletePassError, PermanentSourceError
from connector.flows.results import SyncResult
from connector.flows.runs import execute
from connector.flows.stages import batched, grouped, prefetch
from connector.model import NormalizedBatch, TableRows
from connector.normalize.traede import SHAPES, normalize_batch
from connector.sources.traede.client import ExportOptions, TraedeClient
from connector.sources.traede.concurrency import MarkConcurrency
from connector.sources.traede.endpoints import RESOURCES
from connector.sources.traede.filters import FilterGroup
from connector.sources.traede.paging import PageStats
from connector.warehouse import Warehouse, outbox, runs
from connector.warehouse.loader import BatchLoader
from connector.warehouse.locks import ConsumerLock

log = logging.getLogger(__name__)

SOURCE = "traede"
Progress = Callable[[str, str, int], None]  # (phase "fetch"|"mark", resource, n done)
_RECORD_FLUSH = 500


@dataclass(frozen=True)
class SyncOptions:
    """What one TRAEDE run does (CLI flags, Dagster run config)."""

    resources: tuple[str, ...] = RESOURCES
    not_exported_since: datetime | None = None
    include_non_booked: bool = False
    filter_groups: tuple[FilterGroup, ...] = ()
    mark: bool = True
    mark_concurrency: int | None = None
    retry_parked: bool = False

    def export_options(self) -> ExportOptions:
        """The subset the export endpoint sees."""
        return ExportOptions(
            not_exported_since=self.not_exported_since,
            include_non_booked=self.include_non_booked,
            filter_groups=self.filter_groups,
        )

    def describe(self) -> dict[str, Any]:
        """Options as plain values for ``connector.sync_runs.options``."""
        return {
            "resources": list(self.resources),
            "not_exported_since": self.not_exported_since,
            "include_non_booked": self.include_non_booked,
            "filters": bool(self.filter_groups),
            "mark": self.mark,
            "retry_parked": self.retry_parked,
        }


def load_resource(
    client: TraedeClient,
    resource: str,
    warehouse: Warehouse,
    *,
    run: runs.Run,
    options: SyncOptions,
    lock: ConsumerLock | None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """One export pass of ``resource`` into staging, batch by batch; returns its counters."""
    shape = SHAPES[resource]
    page_stats = PageStats()
    batch_size = warehouse.settings.batch_size
    with warehouse.connect() as conn:
        loader = BatchLoader(
            conn,
            run,
            source=SOURCE,
            resource=resource,
            system_id=run.system_id,
            header=shape.header,
            children=(shape.lines,) if shape.lines is not None else (),
            enqueue_marks=True,
            lock=lock,
        )
        totals: dict[str, int] = {}
        seen = (client.stats.calls, client.stats.retries, 0)
        # Three stages overlap: a thread fetches and parses pages, another normalizes
        # batches, this one runs each batch's transaction (mostly waiting on Postgres).
        ended: list[IncompletePassError] = []
        pages = prefetch(_pass(client, resource, options.export_options(), page_stats, ended))
        batches = prefetch(
            (
                normalize_batch(resource, records, run.started_at, run.run_id)
                for records in batched(pages, batch_size)
            ),
            depth=1,
        )
        for batch in batches:
            now = (client.stats.calls, client.stats.retries, page_stats.pages)
            extra = {
                "api_calls": now[0] - seen[0],
                "retries": now[1] - seen[1],
                "pages": now[2] - seen[2],
            }
            seen = now
            _add(totals, loader.load(batch, extra=extra))
            if progress is not None:
                progress("fetch", resource, totals.get("fetched", 0))
        # Trailing calls (the probe after the last short page) belong to this pass too.
        tail = {
            "api_calls": client.stats.calls - seen[0],
            "retries": client.stats.retries - seen[1],
            "pages": page_stats.pages - seen[2],
        }
        if any(tail.values()):
            _add(totals, loader.load(NormalizedBatch(TableRows(shape.header)), extra=tail))
        for warning in page_stats.warnings:
            log.warning(warning)
    if ended:
        raise ended[0]  # after loading everything the pass received
    return totals


def _pass(
    client: TraedeClient,
    resource: str,
    options: ExportOptions,
    stats: PageStats,
    ended: list[IncompletePassError],
) -> Iterator[list[Any]]:
    """The export pass; an early end is kept in ``ended`` so the pages before it still load."""
    try:
        yield from client.export_pages(resource, options, stats)
    except IncompletePassError as exc:
        ended.append(exc)


def mark_resource(
    client: TraedeClient,
    resource: str,
    warehouse: Warehouse,
    *,
    run: runs.Run,
    concurrency: int | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Acknowledge every open outbox row of ``resource`` (committed rows only, oldest first).

    The calls are scheduled on a thread ahead (reading the outbox, sending, collecting
    outcomes); this thread records the outcomes, 500 at a time, so a write never stalls the
    calls. Rows that keep failing are parked after ``TRAEDE_MARK_MAX_ATTEMPTS`` failed runs.
    """
    settings = client.settings
    note = mark_note(settings.mark_note, run.run_id)
    start = concurrency or settings.mark_concurrency
    control = MarkConcurrency(start, max(start, settings.mark_concurrency_max))
    calls_before = client.stats.calls
    counts = {"marked": 0, "mark_failed": 0}
    with warehouse.connect() as reader, warehouse.connect() as writer:
        outbox.analyze(writer)  # the load pass just enqueued a backlog the planner never saw
        ids = outbox.iter_open(reader, source=SOURCE, resource=resource, system_id=run.system_id)
        outcomes = client.mark_exported(resource, ids, note=note, control=control)
        for group in prefetch(grouped(outcomes, _RECORD_FLUSH), depth=4):
            outbox.record(
                writer,
                group,
                source=SOURCE,
                resource=resource,
                system_id=run.system_id,
                mark_run_id=run.run_id,
                max_attempts=settings.mark_max_attempts,
            )
            for outcome in group:
                counts["marked" if outcome.acked else "mark_failed"] += 1
            if progress is not None:
                progress("mark", resource, counts["marked"] + counts["mark_failed"])
    counts["mark_calls"] = client.stats.calls - calls_before
    counts["http_429"] = control.throttled
    log.info(
        "%s/%s: marked %d, failed %d, %d call(s), %d 429(s), calls in flight up to %d",
        SOURCE, resource, counts["marked"], counts["mark_failed"], counts["mark_calls"],
        control.throttled, control.peak,
    )  # fmt: skip
    if progress is not None:
        progress("mark", resource, counts["marked"] + counts["mark_failed"])
    run.stats = run.added(resource, counts)
    return counts


def mark_note(template: str, run_id: str) -> str:
    """The note TRAEDE shows its users in each document's timeline: ``{run_id}`` filled in.

    It names the connector and the run, never the warehouse (``TRAEDE_MARK_NOTE``).
    """
    return template.replace("{run_id}", run_id)


def run_traede(
    settings: TraedeSettings,
    warehouse: Warehouse,
    options: SyncOptions,
    *,
    kind: Literal["sync", "load", "mark"] = "sync",
    trigger: str = "cli",
    external_run_id: str | None = None,
    progress: Progress | None = None,
    client: TraedeClient | None = None,
) -> SyncResult:
    """Run a TRAEDE sync (load then mark), a load only, or a mark only.

    Never raises a :class:`ConnectorError`: it lands in ``result.error`` and the run row.
    """
    run = runs.Run(
        source=SOURCE,
        system_id=settings.system_id,
        kind=kind,
        resources=options.resources,
        options=options.describe(),
        trigger=trigger,
        external_run_id=external_run_id,
    )
    result = SyncResult(source=SOURCE, run_id=run.run_id, marking=kind != "load" and options.mark)
    api = client or TraedeClient(settings)

    def work(lock: ConsumerLock) -> None:
        loaded: list[str] = []
        if kind in ("sync", "load"):
            for resource in options.resources:
                try:
                    load_resource(
                        api, resource, warehouse, run=run, options=options, lock=lock,
                        progress=progress,
                    )  # fmt: skip
                    loaded.append(resource)
                except PermanentSourceError:
                    raise
                except IncompletePassError as exc:
                    # The pass ended early: the run fails saying why, but what it committed is
                    # marked, so the next run's export starts past it instead of repeating it.
                    log.error("%s/%s: load incomplete: %s", SOURCE, resource, exc)
                    result.error = result.error or exc
                    loaded.append(resource)
                except ConnectorError as exc:
                    # One resource failing to load does not stop the others; it is not marked.
                    log.error("%s/%s: load failed: %s", SOURCE, resource, exc)
                    result.error = result.error or exc
        if kind != "load" and options.mark:
            if options.retry_parked:
                with warehouse.connect() as conn:
                    n = outbox.unpark(
                        conn, source=SOURCE, system_id=run.system_id, resources=options.resources
                    )
                log.warning("%s: %d parked mark(s) put back to pending by an operator", SOURCE, n)
            for resource in options.resources if kind == "mark" else loaded:
                lock.check()
                mark_resource(
                    api, resource, warehouse, run=run, concurrency=options.mark_concurrency,
                    progress=progress,
                )  # fmt: skip

    def count_open_marks() -> None:
        if result.marking:
            with warehouse.connect() as conn:
                counts = outbox.counts(conn, SOURCE, run.system_id)
            result.pending_marks = sum(counts.get(r, {}).get("pending", 0) for r in run.resources)
            result.parked_marks = sum(counts.get(r, {}).get("parked", 0) for r in run.resources)

    try:
        return execute(warehouse, run, result, work, finalize=count_open_marks)
    finally:
        if client is None:
            api.close()


def _add(totals: dict[str, int], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        totals[key] = totals.get(key, 0) + value
