"""Read-only queries behind the Dagster asset checks and asset metadata.

The orchestrator holds no SQL: it calls these and turns the answers into check results. Every
function takes an open psycopg connection, runs one or two short queries and commits (so no
transaction stays open). Table and column names come from :class:`TableSpec`, never from users.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from connector.errors import WarehouseError
from connector.tables.registry import Rule, Term
from connector.tables.spec import TableSpec

ANALYTICS_CREDIT_NOTES = "analytics.credit_notes"


@dataclass(frozen=True)
class RejectSummary:
    """Rejects written by the most recent load of one resource."""

    run_id: str | None
    count: int
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Break:
    """One document breaking one reconciliation rule: what it should be, what it is, by how much.

    ``difference`` is ``actual - expected`` (None when either side is NULL).
    """

    document_id: str
    rule: str
    expected: Decimal | None
    actual: Decimal | None
    difference: Decimal | None


@dataclass(frozen=True)
class Reconciliation:
    """The breaks of one stream's rules: how many, in how many documents, and the first few."""

    count: int
    documents: int = 0
    sample: list[Break] = field(default_factory=list)


@dataclass(frozen=True)
class Orphans:
    """Rows that break a relation between tables: how many, and the first few keys."""

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


def documents_without_outbox_row(
    conn: psycopg.Connection[Any],
    header: TableSpec,
    *,
    source: str,
    resource: str,
    system_id: str,
    sample: int = 10,
) -> Orphans:
    """Staging documents with no export-outbox row for ``system_id`` (never to be marked)."""
    query = sql.SQL(
        "SELECT h.{pk}::text FROM {header} h WHERE NOT EXISTS (SELECT 1 FROM "
        "connector.export_outbox o WHERE o.source = %s AND o.resource = %s "
        "AND o.system_id = %s AND o.document_id = h.{pk}) ORDER BY h.{pk}"
    ).format(pk=sql.Identifier(header.key[0]), header=_table(header))
    return _orphans(conn, query, (source, resource, system_id), sample)


def lines_without_document(
    conn: psycopg.Connection[Any], header: TableSpec, lines: TableSpec, *, sample: int = 10
) -> Orphans:
    """Line rows whose parent document is not in the header table (keys of the lines)."""
    if lines.parent_key is None:
        raise ValueError(f"{lines.name} has no parent key")
    query = sql.SQL(
        "SELECT l.{fk}::text || ' line ' || l.line_number FROM {lines} l WHERE NOT EXISTS "
        "(SELECT 1 FROM {header} h WHERE h.{pk} = l.{fk}) ORDER BY l.{fk}, l.line_number"
    ).format(
        fk=sql.Identifier(lines.parent_key),
        lines=_table(lines),
        header=_table(header),
        pk=sql.Identifier(header.key[0]),
    )
    return _orphans(conn, query, (), sample)


def outbox_rows_without_document(
    conn: psycopg.Connection[Any],
    header: TableSpec,
    *,
    source: str,
    resource: str,
    sample: int = 10,
) -> Orphans:
    """Export-outbox rows (any system id) whose document is not in staging."""
    query = sql.SQL(
        "SELECT o.system_id || ':' || o.document_id FROM connector.export_outbox o "
        "WHERE o.source = %s AND o.resource = %s AND NOT EXISTS "
        "(SELECT 1 FROM {header} h WHERE h.{pk} = o.document_id) "
        "ORDER BY o.system_id, o.document_id"
    ).format(header=_table(header), pk=sql.Identifier(header.key[0]))
    return _orphans(conn, query, (source, resource), sample)


def _orphans(
    conn: psycopg.Connection[Any], query: sql.Composed, params: tuple[Any, ...], sample: int
) -> Orphans:
    count = conn.execute(sql.SQL("SELECT count(*) FROM ({}) q").format(query), params).fetchone()
    first = conn.execute(sql.SQL("{} LIMIT {}").format(query, sample), params).fetchall()
    conn.commit()
    return Orphans(count=int(count[0]) if count else 0, sample=[str(r[0]) for r in first])


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


@dataclass(frozen=True)
class NewKeys:
    """Unmapped source keys the latest load saw that no earlier run of the stream had."""

    run_id: str | None
    keys: dict[str, int] = field(default_factory=dict)
    known: int = 0


def new_unmapped_keys(conn: psycopg.Connection[Any], source: str, resource: str) -> NewKeys:
    """Keys in ``connector.unmapped_keys`` for the latest load of ``resource`` that are new.

    ``keys`` maps each new key to the records that carried it; ``known`` counts the latest
    run's unmapped keys that earlier runs had already shown.
    """
    run_id = _last_run_id(conn, source, resource, finished=False)
    if run_id is None:
        return NewKeys(run_id=None)
    rows = conn.execute(
        "SELECT k.key, k.records, EXISTS (SELECT 1 FROM connector.unmapped_keys e "
        "JOIN connector.sync_runs r ON r.run_id = e.run_id WHERE e.source = k.source "
        "AND e.resource = k.resource AND e.key = k.key AND e.run_id <> k.run_id "
        "AND r.started_at < (SELECT started_at FROM connector.sync_runs WHERE run_id = %s)) "
        "FROM connector.unmapped_keys k WHERE k.run_id = %s AND k.source = %s "
        "AND k.resource = %s ORDER BY k.key",
        (run_id, run_id, source, resource),
    ).fetchall()
    conn.commit()
    new = {str(key): int(n) for key, n, earlier in rows if not earlier}
    return NewKeys(run_id=run_id, keys=new, known=len(rows) - len(new))


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


def _term(term: Term, header: TableSpec) -> sql.Composable:
    if isinstance(term, str):
        return sql.SQL(term)
    if term.table.parent_key is None:
        raise ValueError(f"{term.table.name} has no parent key")
    where = sql.SQL(f" AND ({term.where})" if term.where else "")
    return sql.SQL(
        "coalesce((SELECT sum(c.{col}) FROM {child} c WHERE c.{fk} = h.{pk}{where}), 0)"
    ).format(
        col=sql.Identifier(term.column),
        child=_table(term.table),
        fk=sql.Identifier(term.table.parent_key),
        pk=sql.Identifier(header.key[0]),
        where=where,
    )


def _rule_query(header: TableSpec, rule: Rule) -> sql.Composed:
    actual = sql.SQL(" + ").join(sql.SQL("({})").format(_term(t, header)) for t in rule.parts)
    conditions: list[sql.Composable] = [
        sql.SQL("({actual}) IS DISTINCT FROM ({equals})").format(
            actual=actual, equals=sql.SQL(rule.equals)
        )
    ]
    if rule.where:
        conditions.append(sql.SQL(f"({rule.where})"))
    if rule.require is not None:
        assert rule.require.parent_key is not None
        conditions.append(
            sql.SQL("EXISTS (SELECT 1 FROM {child} r WHERE r.{fk} = h.{pk})").format(
                child=_table(rule.require),
                fk=sql.Identifier(rule.require.parent_key),
                pk=sql.Identifier(header.key[0]),
            )
        )
    return sql.SQL(
        "SELECT h.{pk}::text, {name}, ({equals})::numeric, ({actual})::numeric "
        "FROM {header} h WHERE {conditions}"
    ).format(
        pk=sql.Identifier(header.key[0]),
        name=sql.Literal(rule.name),
        equals=sql.SQL(rule.equals),
        actual=actual,
        header=_table(header),
        conditions=sql.SQL(" AND ").join(conditions),
    )


def reconcile(
    conn: psycopg.Connection[Any], header: TableSpec, rules: tuple[Rule, ...], *, sample: int = 50
) -> Reconciliation:
    """Documents of ``header`` that break one of ``rules``, with the amounts and difference.

    Args:
        conn: an open connection.
        header: the document table (alias ``h`` in the rules' SQL).
        rules: what must hold per document (``Σ parts = equals``), from the stream registry.
        sample: how many breaks to return (``count`` is always the full number).
    """
    if not rules:
        return Reconciliation(count=0)
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("({})").format(_rule_query(header, rule)) for rule in rules
    )
    rows = conn.execute(sql.SQL("{} ORDER BY 1, 2").format(query)).fetchall()
    conn.commit()
    breaks = [
        Break(
            document_id=str(doc),
            rule=str(name),
            expected=expected,
            actual=actual,
            difference=None if expected is None or actual is None else actual - expected,
        )
        for doc, name, expected, actual in rows
    ]
    documents = len({b.document_id for b in breaks})
    return Reconciliation(count=len(breaks), documents=documents, sample=breaks[:sample])


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
