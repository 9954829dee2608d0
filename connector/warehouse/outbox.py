"""The export outbox (docs/architecture.md §4, invariants 1 and 4).

Rows are enqueued only inside the load transaction that commits their staging rows, so a mark
can never be sent for something not committed. The marker reads open rows (pending, or failed
by an earlier run), in the order they were committed, and records each id's outcome.
"""

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from connector.errors import WarehouseError
from connector.model import MarkOutcome
from connector.tables.spec import TableSpec
from connector.warehouse.copy_loader import temp_name


def enqueue(
    cur: psycopg.Cursor[Any],
    parent: TableSpec,
    *,
    source: str,
    resource: str,
    system_id: str,
    run_id: str,
) -> int:
    """Put every header in the batch's temp table on the outbox as ``pending``.

    A re-delivered document (backfill) goes back to ``pending`` even if it was acked before:
    the source says it is not exported, so it is marked again. A document still open keeps
    its attempts and its place in the queue; a parked one stays parked.
    """
    cur.execute(
        sql.SQL(
            "INSERT INTO connector.export_outbox AS o "
            "(source, resource, system_id, document_id, state, attempts, run_id) "
            "SELECT %s, %s, %s, {pk}, 'pending', 0, %s FROM {temp} "
            "ON CONFLICT (source, resource, system_id, document_id) DO UPDATE SET "
            # An open row keeps its attempts (they count across runs) and a parked row stays
            # parked: TRAEDE re-delivers it on every export because it is not marked.
            "state = CASE WHEN o.state = 'parked' THEN 'parked' ELSE 'pending' END, "
            "attempts = CASE WHEN o.state = 'acked' THEN 0 ELSE o.attempts END, "
            "failed_runs = CASE WHEN o.state = 'acked' THEN 0 ELSE o.failed_runs END, "
            "last_error = CASE WHEN o.state = 'acked' THEN NULL ELSE o.last_error END, "
            "run_id = EXCLUDED.run_id, mark_run_id = NULL, "
            "enqueued_at = now(), updated_at = now(), acked_at = NULL"
        ).format(pk=sql.Identifier(parent.key[0]), temp=sql.Identifier(temp_name(parent))),
        (source, resource, system_id, run_id),
    )
    return cur.rowcount


def analyze(conn: psycopg.Connection[Any]) -> None:
    """Refresh the outbox's planner statistics (after a bulk enqueue, before marking).

    Without them the planner still sees the outbox as it was before the load (often empty) and
    joins each batch of outcomes against the whole table: the cost of a write grows with the
    backlog. Autovacuum would analyze it eventually, but not before the marks are recorded.
    """
    try:
        conn.execute("ANALYZE connector.export_outbox")
        conn.commit()
    except psycopg.Error as exc:
        raise _failed("refreshing statistics", exc) from exc


def iter_open(
    conn: psycopg.Connection[Any],
    *,
    source: str,
    resource: str,
    system_id: str,
    chunk: int = 5000,
) -> Iterator[int]:
    """Yield the ids of open (pending or failed, not parked) outbox rows, oldest first.

    Each chunk is its own short query, so rows recorded as acked meanwhile do not disturb the
    scan and memory stays bounded by ``chunk``.
    """
    last: tuple[datetime, int] | None = None
    while True:
        try:
            rows = _open_chunk(conn, source, resource, system_id, last, chunk)
        except psycopg.Error as exc:
            raise _failed("reading open rows", exc) from exc
        if not rows:
            return
        for _, document_id in rows:
            yield int(document_id)
        last = (rows[-1][0], int(rows[-1][1]))
        if len(rows) < chunk:
            return


def _failed(what: str, exc: psycopg.Error) -> WarehouseError:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return WarehouseError(f"export outbox: {what} failed: {first}")


def _open_chunk(
    conn: psycopg.Connection[Any],
    source: str,
    resource: str,
    system_id: str,
    last: tuple[datetime, int] | None,
    chunk: int,
) -> list[tuple[Any, ...]]:
    if last is None:
        rows = conn.execute(
            "SELECT enqueued_at, document_id FROM connector.export_outbox "
            "WHERE source = %s AND resource = %s AND system_id = %s "
            "AND state <> 'acked' AND state <> 'parked' "
            "ORDER BY enqueued_at, document_id LIMIT %s",
            (source, resource, system_id, chunk),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT enqueued_at, document_id FROM connector.export_outbox "
            "WHERE source = %s AND resource = %s AND system_id = %s "
            "AND state <> 'acked' AND state <> 'parked' "
            "AND (enqueued_at, document_id) > (%s, %s) "
            "ORDER BY enqueued_at, document_id LIMIT %s",
            (source, resource, system_id, last[0], last[1], chunk),
        ).fetchall()
    conn.commit()
    return rows


def record(
    conn: psycopg.Connection[Any],
    outcomes: Sequence[MarkOutcome],
    *,
    source: str,
    resource: str,
    system_id: str,
    mark_run_id: str,
    max_attempts: int = 5,
) -> None:
    """Record outcomes in one statement: acked, or failed with the error and attempts.

    ``attempts`` counts sends; ``failed_runs`` counts the runs whose outcome for the row was a
    failure (one outcome per id per run), both summed across runs. A row that failed in
    ``max_attempts`` runs is ``parked``: not sent again until an operator puts it back
    (:func:`unpark`).
    """
    if not outcomes:
        return
    try:
        _record(conn, outcomes, source, resource, system_id, mark_run_id, max_attempts)
    except psycopg.Error as exc:
        raise _failed(f"recording {len(outcomes)} mark outcome(s)", exc) from exc


def _record(
    conn: psycopg.Connection[Any],
    outcomes: Sequence[MarkOutcome],
    source: str,
    resource: str,
    system_id: str,
    mark_run_id: str,
    max_attempts: int,
) -> None:
    with conn.transaction():
        # Losing this commit in a crash only means the ids are sent again (marks are
        # idempotent), so it need not wait for the WAL flush. Load commits stay synchronous:
        # a mark must never go out for data a crash could still take back.
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute(
            "UPDATE connector.export_outbox AS o SET "
            "state = CASE WHEN v.acked THEN 'acked' "
            "WHEN o.failed_runs + 1 >= %s THEN 'parked' ELSE 'failed' END, "
            "attempts = o.attempts + v.attempts, last_error = v.error, mark_run_id = %s, "
            "failed_runs = o.failed_runs + CASE WHEN v.acked THEN 0 ELSE 1 END, "
            "updated_at = now(), acked_at = CASE WHEN v.acked THEN now() END "
            "FROM unnest(%s::bigint[], %s::boolean[], %s::integer[], %s::text[]) "
            "AS v(document_id, acked, attempts, error) "
            "WHERE o.source = %s AND o.resource = %s AND o.system_id = %s "
            "AND o.document_id = v.document_id AND o.state IN ('pending', 'failed')",
            (
                max_attempts,
                mark_run_id,
                [o.document_id for o in outcomes],
                [o.acked for o in outcomes],
                [o.attempts for o in outcomes],
                [o.error for o in outcomes],
                source,
                resource,
                system_id,
            ),
        )


def counts(
    conn: psycopg.Connection[Any], source: str, system_id: str | None = None
) -> dict[str, dict[str, int]]:
    """Outbox rows per resource and state (``{resource: {state: n}}``)."""
    try:
        rows = _counts(conn, source, system_id)
    except psycopg.Error as exc:
        raise _failed("counting rows", exc) from exc
    result: dict[str, dict[str, int]] = {}
    for resource, state, n in rows:
        result.setdefault(str(resource), {})[str(state)] = int(n)
    return result


def _counts(
    conn: psycopg.Connection[Any], source: str, system_id: str | None
) -> list[tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT resource, state, count(*) FROM connector.export_outbox "
        "WHERE source = %s AND (%s::text IS NULL OR system_id = %s) GROUP BY resource, state",
        (source, system_id, system_id),
    ).fetchall()
    conn.commit()
    return rows


def unpark(
    conn: psycopg.Connection[Any],
    *,
    source: str,
    system_id: str,
    resources: Sequence[str],
) -> int:
    """Put parked rows back to ``pending`` with no failed runs (an operator's decision)."""
    try:
        with conn.transaction():
            cur = conn.execute(
                "UPDATE connector.export_outbox SET state = 'pending', failed_runs = 0, "
                "updated_at = now() WHERE state = 'parked' AND source = %s AND system_id = %s "
                "AND resource = ANY(%s)",
                (source, system_id, list(resources)),
            )
            return cur.rowcount
    except psycopg.Error as exc:
        raise _failed("putting parked rows back", exc) from exc


def parked(
    conn: psycopg.Connection[Any], source: str, limit: int = 10
) -> list[tuple[str, str, int, int, str | None]]:
    """The newest parked rows: (resource, system id, document id, failed runs, last error)."""
    try:
        rows = conn.execute(
            "SELECT resource, system_id, document_id, failed_runs, last_error "
            "FROM connector.export_outbox WHERE source = %s AND state = 'parked' "
            "ORDER BY updated_at DESC LIMIT %s",
            (source, limit),
        ).fetchall()
        conn.commit()
    except psycopg.Error as exc:
        raise _failed("reading parked rows", exc) from exc
    return [(str(r[0]), str(r[1]), int(r[2]), int(r[3]), r[4]) for r in rows]
