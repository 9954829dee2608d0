"""Migration 0007 on a warehouse loaded before it: the new columns and tables are filled from
what the earlier loads kept (``_raw`` and the jsonb arrays), exactly as the normalizers would.
"""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connector.emulator.unleashed_data import VENDOR_EXAMPLE_RECORD, generate_records
from connector.emulator.xero_data import SEED_EXAMPLES, generate
from connector.jsontext import parse_json
from connector.model import TableRows
from connector.normalize.unleashed import normalize_credit_notes as unleashed_rows
from connector.normalize.xero import normalize_credit_notes as xero_rows
from connector.tables.spec import TableSpec
from connector.tables.unleashed import HEADER_BASE_CURRENCY, LINE_BASE_CURRENCY
from connector.warehouse import Warehouse
from connector.warehouse.migrations import apply_migrations, discover
from tests.integration.credit_note_fixtures import unleashed_u, xero_a

pytestmark = pytest.mark.integration

LOADED = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
ADDED = {c.name for c in (*HEADER_BASE_CURRENCY, *LINE_BASE_CURRENCY)}


def _insert(conn: psycopg.Connection, rows: TableRows, keep: set[str] | None = None) -> None:
    """Insert rows as the code before 0007 did: only the columns that existed then."""
    names = [n for n in rows.spec.column_names if n not in ADDED]
    if keep is not None:
        names = [n for n in names if n in keep]
    index = [rows.spec.column_names.index(n) for n in names]
    cols = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join(["%s"] * len(names))
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {rows.spec.name} ({cols}) VALUES ({marks})",
            [tuple(row[i] for i in index) for row in rows.rows],
        )


def _read(conn: psycopg.Connection, spec: TableSpec) -> list[tuple[Any, ...]]:
    cols = ", ".join(
        f'"{c.name}"::text' if c.pg_type in ("jsonb", "uuid") else f'"{c.name}"'
        for c in spec.columns
    )
    rows = conn.execute(f"SELECT {cols} FROM {spec.name} ORDER BY {', '.join(spec.key)}").fetchall()
    return [_plain(spec, r) for r in rows]


def _plain(spec: TableSpec, row: tuple[Any, ...]) -> tuple[Any, ...]:
    kinds = [c.pg_type for c in spec.columns]
    return tuple(
        json.loads(v, parse_float=Decimal) if k == "jsonb" and v is not None else v
        for k, v in zip(kinds, row, strict=True)
    )


def test_0007_fills_new_columns_and_tables_from_earlier_loads(
    warehouse: Warehouse, db: psycopg.Connection, tmp_path: Path
) -> None:
    db.execute(
        "DROP SCHEMA staging CASCADE; DROP SCHEMA connector CASCADE; DROP SCHEMA analytics CASCADE"
    )
    for m in discover():
        if m.version < "0007":
            (tmp_path / m.filename).write_text(m.sql)
    edited = {**xero_a(), "UpdatedDateUTC": "/Date(1710300000000+0000)/"}
    xero_records = [parse_json(t) for t in SEED_EXAMPLES] + generate(9, "t", 30) + [edited]
    unleashed_records = [parse_json(VENDOR_EXAMPLE_RECORD), *generate_records(9, 15)]
    unleashed_records.append(unleashed_u())
    xero = xero_rows(xero_records, LOADED, "run-old")
    unleashed = unleashed_rows(unleashed_records, LOADED, "run-old")
    assert xero.rejects == [] and unleashed.rejects == []
    with warehouse.connect() as conn:
        apply_migrations(conn, tmp_path)  # the warehouse as it was before 0007
        _insert(conn, xero.headers)
        _insert(conn, xero.children[0])  # lines: the only Xero child table before 0007
        _insert(conn, unleashed.headers)
        _insert(conn, unleashed.children[0])
        conn.commit()
        for m in discover():
            if m.version == "0007":
                (tmp_path / m.filename).write_text(m.sql)
        assert apply_migrations(conn, tmp_path) == ["0007_credit_note_money_and_allocations.sql"]
        for rows in (*xero.children, unleashed.headers, unleashed.children[0]):
            expected = sorted(
                (_plain(rows.spec, r) for r in rows.rows),
                key=lambda r: tuple(r[rows.spec.column_names.index(k)] for k in rows.spec.key),
            )
            assert _read(conn, rows.spec) == expected, rows.spec.name
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM staging.xero_credit_note_allocations), "
            "(SELECT count(*) FROM staging.xero_credit_note_payments), "
            "(SELECT count(*) FROM staging.xero_credit_note_line_tracking), "
            "(SELECT count(*) FROM staging.unleashed_credit_notes WHERE bc_total IS NOT NULL)"
        ).fetchone()
    assert all(n > 0 for n in counts), counts
