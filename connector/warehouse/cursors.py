"""Client-side cursors (Xero, Unleashed) in ``connector.cursors``: one row per source and scope.

The cursor is written with :func:`advance` inside the same transaction as the rows it covers,
and never moves backwards.
"""

from datetime import datetime
from typing import Any

import psycopg


def read(conn: psycopg.Connection[Any], source: str, scope: str, resource: str) -> datetime | None:
    """The stored cursor, or None before the first run."""
    row = conn.execute(
        "SELECT cursor_value FROM connector.cursors "
        "WHERE source = %s AND scope = %s AND resource = %s",
        (source, scope, resource),
    ).fetchone()
    conn.commit()
    return None if row is None else row[0]


def advance(
    cur: psycopg.Cursor[Any],
    *,
    source: str,
    scope: str,
    resource: str,
    value: datetime,
    run_id: str,
) -> None:
    """Move the cursor forward to ``value`` (a smaller value leaves it where it is)."""
    cur.execute(
        "INSERT INTO connector.cursors (source, scope, resource, cursor_value, run_id) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source, scope, resource) DO UPDATE SET "
        "cursor_value = GREATEST(connector.cursors.cursor_value, EXCLUDED.cursor_value), "
        "run_id = EXCLUDED.run_id, updated_at = now()",
        (source, scope, resource, value, run_id),
    )


def all_cursors(conn: psycopg.Connection[Any]) -> list[tuple[str, str, str, datetime | None]]:
    """Every stored cursor (for ``connector status``)."""
    rows = conn.execute(
        "SELECT source, scope, resource, cursor_value FROM connector.cursors ORDER BY 1, 2, 3"
    ).fetchall()
    conn.commit()
    return [(str(a), str(b), str(c), d) for a, b, c, d in rows]
