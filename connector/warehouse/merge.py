"""Temp table -> staging upsert (``INSERT ... ON CONFLICT``) and child-row replacement.

SQL is built only from the fixed identifiers of a :class:`TableSpec`, never from data. An
unchanged row (same data columns and ``_raw``) is not rewritten, so re-delivery leaves
``_loaded_at``/``_run_id`` as they were and counts as unchanged.
"""

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from connector.tables.spec import TableSpec
from connector.warehouse.copy_loader import temp_name


@dataclass(frozen=True)
class MergeCounts:
    """What an upsert did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _ident(spec: TableSpec) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(spec.schema), sql.Identifier(spec.table))


def upsert_sql(spec: TableSpec) -> sql.Composed:
    """``INSERT ... SELECT FROM temp ON CONFLICT (key) DO UPDATE ... WHERE changed``."""
    cols = spec.column_names
    non_key = [c for c in cols if c not in spec.key]
    compared = [c for c in spec.data_columns if c not in spec.key] + ["_raw"]
    col_list = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
    return sql.SQL(
        "WITH merged AS ("
        "INSERT INTO {target} AS t ({cols}) SELECT {cols} FROM {temp} "
        "ON CONFLICT ({key}) DO UPDATE SET {sets} "
        "WHERE ({old}) IS DISTINCT FROM ({new}) "
        "RETURNING (xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FROM merged"
    ).format(
        target=_ident(spec),
        cols=col_list,
        temp=sql.Identifier(temp_name(spec)),
        key=sql.SQL(", ").join(sql.Identifier(c) for c in spec.key),
        sets=sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
            for c in non_key
        ),
        old=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in compared),
        new=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in compared),
    )


def upsert(cur: psycopg.Cursor[Any], spec: TableSpec, total: int) -> MergeCounts:
    """Upsert the temp rows of ``spec`` into staging; ``total`` is how many were copied."""
    cur.execute(upsert_sql(spec))
    row = cur.fetchone()
    assert row is not None
    inserted, written = int(row[0]), int(row[1])
    return MergeCounts(inserted=inserted, updated=written - inserted, unchanged=total - written)


def replace_children_sql(child: TableSpec, parent: TableSpec) -> sql.Composed:
    """Delete the child rows of every parent in the temp header table, then insert the new ones."""
    assert child.parent_key is not None
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in child.column_names)
    return sql.SQL(
        "DELETE FROM {child} c USING {parent_temp} p WHERE c.{fk} = p.{pk}; "
        "INSERT INTO {child} ({cols}) SELECT {cols} FROM {child_temp}"
    ).format(
        child=_ident(child),
        parent_temp=sql.Identifier(temp_name(parent)),
        fk=sql.Identifier(child.parent_key),
        pk=sql.Identifier(parent.key[0]),
        cols=cols,
        child_temp=sql.Identifier(temp_name(child)),
    )


def replace_children(cur: psycopg.Cursor[Any], child: TableSpec, parent: TableSpec) -> None:
    """Replace the children of the batch's parents as a set (invariant 2)."""
    cur.execute(replace_children_sql(child, parent))
