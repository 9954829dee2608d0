"""Rejected records (invariant 3): kept with their reason and raw payload, never acknowledged."""

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from connector.model import Reject
from connector.tables.spec import TableSpec
from connector.warehouse.copy_loader import temp_name


def write(
    cur: psycopg.Cursor[Any],
    rejects: Sequence[Reject],
    *,
    run_id: str,
    source: str,
    resource: str,
) -> int:
    """Insert the batch's rejects (few, so a plain multi-row insert)."""
    if not rejects:
        return 0
    cur.executemany(
        "INSERT INTO connector.rejects "
        "(run_id, source, resource, document_id, field, reason, raw_payload) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [(run_id, source, resource, r.document_id, r.field, r.reason, r.raw) for r in rejects],
    )
    return len(rejects)


def resolve_loaded(
    cur: psycopg.Cursor[Any], parent: TableSpec, *, source: str, resource: str
) -> None:
    """Close open rejects of documents that have now loaded (a fixed record came back)."""
    cur.execute(
        sql.SQL(
            "UPDATE connector.rejects r SET resolved_at = now() FROM {temp} h "
            "WHERE r.source = %s AND r.resource = %s AND r.resolved_at IS NULL "
            "AND r.document_id = h.{pk}::text"
        ).format(temp=sql.Identifier(temp_name(parent)), pk=sql.Identifier(parent.key[0])),
        (source, resource),
    )


def open_rejects(
    conn: psycopg.Connection[Any], source: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Unresolved rejects, newest first, one per document (with how many times it was rejected)."""
    rows = conn.execute(
        "SELECT source, resource, document_id, field, reason, run_id, rejected_at, times FROM ("
        "  SELECT *, count(*) OVER w AS times,"
        "  row_number() OVER (w ORDER BY rejected_at DESC) AS rn"
        "  FROM connector.rejects WHERE resolved_at IS NULL AND (%s::text IS NULL OR source = %s)"
        "  WINDOW w AS (PARTITION BY source, resource, coalesce(document_id, reject_id::text))"
        ") x WHERE rn = 1 ORDER BY rejected_at DESC LIMIT %s",
        (source, source, limit),
    ).fetchall()
    conn.commit()
    keys = (
        "source",
        "resource",
        "document_id",
        "field",
        "reason",
        "run_id",
        "rejected_at",
        "times",
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]
