"""Schema drift in ``connector.unmapped_keys``: source keys no staging column maps, per run.

Written by the batch loader inside each batch's transaction (so a rolled-back batch leaves no
count behind); read by ``connector status``. The Dagster check's query is in ``checks.py``.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg


@dataclass(frozen=True)
class UnmappedKey:
    """One unmapped key of one stream, over every recorded run."""

    source: str
    resource: str
    key: str
    records_last_run: int
    runs: int
    first_seen: datetime
    last_seen: datetime


def record(
    cur: psycopg.Cursor[Any], unmapped: dict[str, int], *, run_id: str, source: str, resource: str
) -> int:
    """Add a batch's counts to the run's rows; returns how many keys were written."""
    if not unmapped:
        return 0
    cur.executemany(
        "INSERT INTO connector.unmapped_keys (run_id, source, resource, key, records) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (run_id, source, resource, key) "
        "DO UPDATE SET records = connector.unmapped_keys.records + EXCLUDED.records",
        [(run_id, source, resource, key, n) for key, n in sorted(unmapped.items())],
    )
    return len(unmapped)


def summary(conn: psycopg.Connection[Any], limit: int = 50) -> list[UnmappedKey]:
    """Every unmapped key by stream: count in the latest run that saw it, runs, first/last seen."""
    rows = conn.execute(
        "SELECT DISTINCT ON (source, resource, key) source, resource, key, records, "
        "count(*) OVER w, min(seen_at) OVER w, max(seen_at) OVER w "
        "FROM connector.unmapped_keys "
        "WINDOW w AS (PARTITION BY source, resource, key) "
        "ORDER BY source, resource, key, seen_at DESC LIMIT %s",
        (limit,),
    ).fetchall()
    conn.commit()
    return [UnmappedKey(*row) for row in rows]
