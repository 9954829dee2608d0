"""Terminal output for the CLI: progress bars, run summaries, ``connector status`` (rich)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connector.flows.results import SyncResult
from connector.warehouse import Warehouse, cursors, drift, outbox, rejects, runs

console = Console(stderr=False)
err_console = Console(stderr=True)


@contextmanager
def progress_bars(enabled: bool | None = None) -> Iterator[Any]:
    """A progress callback ``(phase, resource, done)`` drawing one bar per phase and resource.

    ``enabled=None`` draws only on a terminal, so logs and CI output stay clean.
    """
    show = err_console.is_terminal if enabled is None else enabled
    if not show:
        yield None
        return
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(bar_width=None),
        TextColumn("{task.completed:>9,.0f} docs"),
        TimeElapsedColumn(),
        console=err_console,
    ) as bars:
        tasks: dict[tuple[str, str], Any] = {}

        def update(phase: str, resource: str, done: int) -> None:
            key = (phase, resource)
            if key not in tasks:
                label = "loading" if phase == "fetch" else "marking"
                tasks[key] = bars.add_task(f"{label} {resource}", total=None)
            bars.update(tasks[key], completed=done)

        yield update


def print_result(result: SyncResult) -> None:
    """A table of the run's counters: one row per counter, one column per resource.

    A failed run that counted nothing prints nothing: its one-line reason says it all.
    """
    moved = ("fetched", "inserted", "updated", "lines", "rejected", "marked", "mark_failed")
    if result.exit_code and not any(result.total(key) for key in moved):
        return
    table = Table(title=f"{result.source} run {result.run_id[:8]}: {result.status}", min_width=40)
    keys = ["fetched", "inserted", "updated", "unchanged", "lines", "rejected"]
    if result.marking:
        keys += ["marked", "mark_failed"]
    keys += ["pages", "api_calls", "retries"]
    resources = sorted(result.stats)
    table.add_column("")
    for resource in resources:
        table.add_column(resource, justify="right")
    for key in keys:
        table.add_row(key, *(f"{result.stats[r].get(key, 0):,}" for r in resources))
    console.print(table)
    console.print(f"took {result.seconds:.1f}s")


def _print_drift(keys: list[drift.UnmappedKey]) -> None:
    """Source keys no column maps (kept in ``_raw`` only), per stream."""
    table = Table(title=f"unmapped source keys, schema drift ({len(keys)} shown)")
    for col in ("source", "resource", "key", "records (last run)", "runs", "first seen"):
        table.add_column(col)
    for k in keys:
        table.add_row(
            k.source,
            k.resource,
            k.key,
            f"{k.records_last_run:,}",
            str(k.runs),
            k.first_seen.strftime("%Y-%m-%d %H:%M:%S%z"),
        )
    console.print(table)


def print_status(wh: Warehouse, limit: int) -> None:
    """Outbox states, failed marks, open rejects, unmapped source keys, cursors, last runs."""
    with wh.connect() as conn:
        table = Table(title="export outbox (TRAEDE marks)")
        states_shown = ("pending", "failed", "parked", "acked")
        for col in ("resource", *states_shown):
            table.add_column(col, justify="right" if col != "resource" else "left")
        for resource, states in sorted(outbox.counts(conn, "traede").items()):
            table.add_row(resource, *(f"{states.get(s, 0):,}" for s in states_shown))
        console.print(table)
        parked = outbox.parked(conn, "traede", limit=10)
        if parked:
            ptable = Table(
                title="parked marks (latest 10): need an operator; "
                "`connector mark traede --retry-parked` sends them again"
            )
            for col in ("resource", "system id", "id", "failed runs", "last error"):
                ptable.add_column(col)
            for row in parked:
                ptable.add_row(*(str(v) for v in row))
            console.print(ptable)
        failed = conn.execute(
            "SELECT resource, document_id, attempts, last_error FROM connector.export_outbox "
            "WHERE state = 'failed' ORDER BY updated_at DESC LIMIT 10"
        ).fetchall()
        conn.commit()
        if failed:
            ftable = Table(title="failed marks (latest 10)")
            for col in ("resource", "id", "attempts", "error"):
                ftable.add_column(col)
            for row in failed:
                ftable.add_row(*(str(v) for v in row))
            console.print(ftable)
        open_rejects = rejects.open_rejects(conn, limit=20)
        rtable = Table(title=f"open rejects ({len(open_rejects)} shown)")
        for col in ("source", "resource", "document", "times", "reason"):
            rtable.add_column(col)
        for r in open_rejects:
            rtable.add_row(
                r["source"], r["resource"], str(r["document_id"]), str(r["times"]), r["reason"]
            )
        console.print(rtable)
        _print_drift(drift.summary(conn))
        stored = cursors.all_cursors(conn)
        if stored:
            ctable = Table(title="cursors")
            for col in ("source", "scope", "resource", "cursor"):
                ctable.add_column(col)
            for source, scope, resource, value in stored:
                ctable.add_row(source, scope or "-", resource, str(value))
            console.print(ctable)
        recent = runs.recent(conn, limit)
    table = Table(title=f"last {limit} runs")
    for col in (
        "run",
        "source",
        "kind",
        "status",
        "started",
        "seconds",
        "fetched",
        "marked",
        "rejected",
    ):
        table.add_column(col)
    for r in recent:
        stats = r["stats"] or {}
        took = (
            f"{(r['finished_at'] - r['started_at']).total_seconds():.1f}"
            if r["finished_at"]
            else "-"
        )
        total = {
            k: sum(v.get(k, 0) for v in stats.values()) for k in ("fetched", "marked", "rejected")
        }
        table.add_row(
            r["run_id"][:8],
            r["source"],
            r["kind"],
            r["status"],
            r["started_at"].strftime("%Y-%m-%d %H:%M:%S%z"),
            took,
            f"{total['fetched']:,}",
            f"{total['marked']:,}",
            f"{total['rejected']:,}",
        )
    console.print(table)
