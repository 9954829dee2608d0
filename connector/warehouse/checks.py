"""Read-only queries behind the Dagster asset checks and asset metadata.

The orchestrator holds no SQL: it calls these and turns the answers into check results. Every
function takes an open psycopg connection, runs one or two short queries and commits (so no
transaction stays open). Table and column names come from :class:`TableSpec`, never from users.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from connector.errors import WarehouseError
from connector.tables.spec import TableSpec

ANALYTICS_CREDIT_NOTES = "analytics.credit_notes"


@dataclass(frozen=True)
class RejectSummary:
    """Rejects written by the most recent load of one resource."""

    run_id: str | None
    count: int
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LineMismatch:
    """Headers whose totals differ from the sum of their lines."""

    count: int
    sample: list[str] = field(default_factory=list)


def _table(spec: TableSpec) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(spec.schema), sql.Identifier(spec.table))


def _one(
    conn: psycopg.Connection[Any], query: sql.SQL | sql.Composed, params: tuple[Any, ...] = ()
) -> Any:
    row = conn.execute(query, params).fetchone()
    conn.commit()
    return row[0] if row else None


def row_count(conn: psycopg.Connection[Any], spec: TableSpec) -> int:
    """Rows in a staging table."""
    return int(_one(conn, sql.SQL("SELECT count(*) FROM {}").format(_table(spec))) or 0)


def duplicate_keys(conn: psycopg.Connection[Any], spec: TableSpec) -> int:
    """Key values held by more than one row (0 while the table's primary key holds)."""
    key = sql.SQL(", ").join(map(sql.Identifier, spec.key))
    query = sql.SQL(
        "SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY {key} HAVING count(*) > 1) d"
    ).format(key=key, table=_table(spec))
    return int(_one(conn, query) or 0)


def _last_run_id(
    conn: psycopg.Connection[Any], source: str, resource: str, *, finished: bool
) -> str | None:
    done = "AND status IN ('succeeded', 'partial') " if finished else ""
    query = sql.SQL(
        "SELECT run_id FROM connector.sync_runs WHERE source = %s AND %s = ANY(resources) "
        "AND kind IN ('sync', 'load') " + done + "ORDER BY started_at DESC LIMIT 1"
    )
    value = _one(conn, query, (source, resource))
    return None if value is None else str(value)


def rejects_in_last_run(conn: psycopg.Connection[Any], source: str, resource: str) -> RejectSummary:
    """How many records the latest load of ``resource`` rejected, and why (by reason)."""
    run_id = _last_run_id(conn, source, resource, finished=False)
    if run_id is None:
        return RejectSummary(run_id=None, count=0)
    rows = conn.execute(
        "SELECT reason, count(*) FROM connector.rejects WHERE run_id = %s AND source = %s "
        "AND resource = %s GROUP BY reason ORDER BY count(*) DESC, reason",
        (run_id, source, resource),
    ).fetchall()
    conn.commit()
    reasons = {str(reason): int(n) for reason, n in rows}
    return RejectSummary(run_id=run_id, count=sum(reasons.values()), reasons=reasons)


def last_successful_load(
    conn: psycopg.Connection[Any], source: str, resource: str
) -> datetime | None:
    """When the latest succeeded or partial load (or sync) of ``resource`` finished."""
    query = sql.SQL(
        "SELECT max(coalesce(finished_at, started_at)) FROM connector.sync_runs "
        "WHERE source = %s AND %s = ANY(resources) AND kind IN ('sync', 'load') "
        "AND status IN ('succeeded', 'partial')"
    )
    value = _one(conn, query, (source, resource))
    return value if isinstance(value, datetime) else None


def lines_mismatch(
    conn: psycopg.Connection[Any],
    header: TableSpec,
    lines: TableSpec,
    pairs: tuple[tuple[str, str], ...],
    *,
    where: str = "",
    require_lines: bool = False,
    sample: int = 10,
) -> LineMismatch:
    """Headers where some ``header_column`` differs from the sum of its ``line_column``.

    Args:
        conn: an open connection.
        header: the document table.
        lines: its line table (``parent_key`` points at the header key).
        pairs: ``(header_column, line_column)`` pairs compared as header = Σ lines.
        where: a fixed SQL condition on the header alias ``h`` (e.g. ``h.x = 'Exclusive'``);
            only constant text from callers in this package, never user input.
        require_lines: skip headers without lines (their totals are not itemised).
        sample: how many differing ids to return.
    """
    if lines.parent_key is None:
        raise ValueError(f"{lines.name} has no parent key")
    pk = sql.Identifier(header.key[0])
    sums = sql.SQL(", ").join(
        sql.SQL("sum(l.{c}) AS {a}").format(c=sql.Identifier(lc), a=sql.Identifier(f"s_{i}"))
        for i, (_, lc) in enumerate(pairs)
    )
    differs = sql.SQL(" OR ").join(
        sql.SQL("h.{h} IS DISTINCT FROM coalesce(s.{a}, 0)").format(
            h=sql.Identifier(hc), a=sql.Identifier(f"s_{i}")
        )
        for i, (hc, _) in enumerate(pairs)
    )
    join = sql.SQL("JOIN" if require_lines else "LEFT JOIN")
    query = sql.SQL(
        "SELECT h.{pk}::text FROM {header} h {join} ("
        "SELECT l.{fk} AS k, {sums} FROM {lines} l GROUP BY l.{fk}) s ON s.k = h.{pk} "
        "WHERE ({differs}) {where} ORDER BY h.{pk}"
    ).format(
        pk=pk,
        header=_table(header),
        join=join,
        fk=sql.Identifier(lines.parent_key),
        sums=sums,
        lines=_table(lines),
        differs=differs,
        where=sql.SQL(f"AND ({where})" if where else ""),
    )
    ids = [str(r[0]) for r in conn.execute(query).fetchall()]
    conn.commit()
    return LineMismatch(count=len(ids), sample=ids[:sample])


def outbox_open(
    conn: psycopg.Connection[Any], source: str, resource: str, system_id: str
) -> dict[str, int]:
    """Outbox rows of one stream that are not acknowledged, by state (pending, failed, parked)."""
    rows = conn.execute(
        "SELECT state, count(*) FROM connector.export_outbox WHERE source = %s AND resource = %s "
        "AND system_id = %s AND state <> 'acked' GROUP BY state",
        (source, resource, system_id),
    ).fetchall()
    conn.commit()
    counts = {"pending": 0, "failed": 0, "parked": 0}
    counts.update({str(state): int(n) for state, n in rows})
    return counts


def credit_notes_by_source(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Rows of ``analytics.credit_notes`` per source.

    Raises:
        WarehouseError: the view does not exist (its migration is missing).
    """
    exists = _one(conn, sql.SQL("SELECT to_regclass(%s)"), (ANALYTICS_CREDIT_NOTES,))
    if exists is None:
        raise WarehouseError(
            f"{ANALYTICS_CREDIT_NOTES} does not exist: the migration creating it has not been "
            "applied (run `connector migrate` with the current sql/ directory)"
        )
    rows = conn.execute(
        "SELECT source, count(*) FROM analytics.credit_notes GROUP BY source ORDER BY source"
    ).fetchall()
    conn.commit()
    return {str(source): int(n) for source, n in rows}
