"""COPY rows into per-session temporary tables shaped like their staging table.

The temp tables are created once per connection (``ON COMMIT DELETE ROWS``) so a batch costs
one COPY per table and no DDL. Values go through psycopg's C dumpers: Decimal stays exact,
aware datetimes keep their offset, JSON arrives as text and is parsed by Postgres.
"""

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from connector.tables.spec import TableSpec


def temp_name(spec: TableSpec) -> str:
    """The temporary table that mirrors ``spec`` in a loading session."""
    return f"_load_{spec.schema}_{spec.table}"


def ensure_temp_table(cur: psycopg.Cursor[Any], spec: TableSpec) -> sql.Identifier:
    """Create the temp table for ``spec`` if this session does not have it yet."""
    name = sql.Identifier(temp_name(spec))
    cur.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}.{} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        ).format(name, sql.Identifier(spec.schema), sql.Identifier(spec.table))
    )
    return name


def copy_rows(
    cur: psycopg.Cursor[Any],
    target: sql.Composable,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    """COPY ``rows`` (tuples in ``columns`` order) into ``target``; return the row count."""
    count = 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        target, sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count
