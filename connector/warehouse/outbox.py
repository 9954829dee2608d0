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
    the source says it is not exported, so it is marked again.
    """
    cur.execute(
        sql.SQL(
            "INSERT INTO connector.export_outbox AS o "
            "(source, resource, system_id, document_id, state, attempts, run_id) "
            "SELECT %s, %s, %s, {pk}, 'pending', 0, %s FROM {temp} "
            "ON CONFLICT (source, resource, system_id, document_id) DO UPDATE SET "
            "state = 'pending', attempts = 0, last_error = NULL, run_id = EXCLUDED.run_id, "
            "mark_run_id = NULL, enqueued_at = now(), updated_at = now(), acked_at = NULL"
        ).format(pk=sql.Identifier(parent.key[0]), temp=sql.Identifier(temp_name(parent))),
        (source, resource, system_id, run_id),
    )
    return cur.rowcount


def iter_open(
    conn: psycopg.Connection[Any],
    *,
    source: str,
    resource: str,
    system_id: str,
    chunk: int = 5000,
) -> Iterator[int]:
    """Yield the ids of open (pending or failed) outbox rows, oldest first, in keyset chunks.

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
            "WHERE source = %s AND resource = %s AND system_id = %s AND state <> 'acked' "
            "ORDER BY enqueued_at, document_id LIMIT %s",
            (source, resource, system_id, chunk),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT enqueued_at, document_id FROM connector.export_outbox "
            "WHERE source = %s AND resource = %s AND system_id = %s AND state <> 'acked' "
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
) -> None:
    """Record outcomes in one statement: acked, or failed with the error and attempts."""
    if not outcomes:
        return
    try:
        _record(conn, outcomes, source, resource, system_id, mark_run_id)
    except psycopg.Error as exc:
        raise _failed(f"recording {len(outcomes)} mark outcome(s)", exc) from exc


def _record(
    conn: psycopg.Connection[Any],
    outcomes: Sequence[MarkOutcome],
    source: str,
    resource: str,
    system_id: str,
    mark_run_id: str,
) -> None:
    with conn.transaction():
        # Losing this commit in a crash only means the ids are sent again (marks are
        # idempotent), so it need not wait for the WAL flush. Load commits stay synchronous:
        # a mark must never go out for data a crash could still take back.
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute(
            "UPDATE connector.export_outbox AS o SET "
            "state = CASE WHEN v.acked THEN 'acked' ELSE 'failed' END, "
            "attempts = o.attempts + v.attempts, last_error = v.error, mark_run_id = %s, "
            "updated_at = now(), acked_at = CASE WHEN v.acked THEN now() END "
            "FROM unnest(%s::bigint[], %s::boolean[], %s::integer[], %s::text[]) "
            "AS v(document_id, acked, attempts, error) "
            "WHERE o.source = %s AND o.resource = %s AND o.system_id = %s "
            "AND o.document_id = v.document_id AND o.state <> 'acked'",
            (
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
