"""analytics.credit_notes: one row per source credit note across the three sources."""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest

from connector.config import HttpSettings, Secret, UnleashedSettings, XeroSettings
from connector.emulator.server import EmulatorServer
from connector.emulator.unleashed import create_unleashed_app
from connector.emulator.xero import create_xero_app
from connector.flows.traede import SyncOptions, run_traede
from connector.flows.unleashed import sync_unleashed
from connector.flows.xero import sync_xero
from connector.warehouse import Warehouse
from tests.integration.traede_support import running_traede

pytestmark = pytest.mark.integration


def _load_all(warehouse: Warehouse) -> None:
    http = HttpSettings(timeout=10.0, max_attempts=4, max_retry_wait=20.0)
    xero_app, _ = create_xero_app(seed=5, tenants=("t-1", "t-2"), count=40)
    unleashed_app, _ = create_unleashed_app(seed=5, count=35, api_id="id", api_key="key")
    with (
        running_traede(warehouse, credit_notes=30) as traede,
        EmulatorServer(xero_app) as xero,
        EmulatorServer(unleashed_app) as unleashed,
    ):
        assert (
            run_traede(
                traede.settings, warehouse, SyncOptions(resources=("credit_notes",))
            ).exit_code
            == 0
        )
        xs = XeroSettings(
            base_url=f"{xero.url}/api.xro/2.0",
            token_url=f"{xero.url}/connect/token",
            client_id="xero-client",
            client_secret=Secret("xero-secret"),
            tenant_ids=("t-1", "t-2"),
            http=http,
            cursor_overlap=timedelta(minutes=10),
        )
        assert sync_xero(xs, warehouse).exit_code == 0
        us = UnleashedSettings(
            base_url=unleashed.url, api_id="id", api_key=Secret("key"), client_type="t/t", http=http
        )
        assert sync_unleashed(us, warehouse).exit_code == 0


def test_view_has_one_row_per_source_credit_note_with_common_columns(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    _load_all(warehouse)
    counts = dict(
        db.execute("SELECT source, count(*) FROM analytics.credit_notes GROUP BY 1").fetchall()
    )
    assert counts == {
        "traede": db.execute("SELECT count(*) FROM staging.traede_credit_notes").fetchone()[0],
        "xero": db.execute("SELECT count(*) FROM staging.xero_credit_notes").fetchone()[0],
        "unleashed": db.execute("SELECT count(*) FROM staging.unleashed_credit_notes").fetchone()[
            0
        ],
    }
    assert all(n > 0 for n in counts.values())
    dupes = db.execute(
        "SELECT source, source_id FROM analytics.credit_notes GROUP BY 1, 2 HAVING count(*) > 1"
    ).fetchall()
    assert dupes == []
    columns = [
        r[0]
        for r in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'analytics' "
            "AND table_name = 'credit_notes' ORDER BY ordinal_position"
        ).fetchall()
    ]
    for needed in ("source", "source_id", "number", "status", "credit_date", "currency",
                   "subtotal", "tax", "total", "customer_id", "customer_name", "updated_at"):  # fmt: skip
        assert needed in columns
    # DELETED and VOIDED Xero notes stay, with their status
    statuses = {
        r[0] for r in db.execute("SELECT status FROM analytics.credit_notes WHERE source = 'xero'")
    }
    assert {"DELETED", "VOIDED"} <= statuses


def test_sign_convention(warehouse: Warehouse, db: psycopg.Connection) -> None:
    _load_all(warehouse)
    rows = db.execute(
        "SELECT v.direction, v.total, v.signed_total, x.type FROM analytics.credit_notes v "
        "LEFT JOIN staging.xero_credit_notes x ON v.source = 'xero' AND x.credit_note_id::text = v.source_id"
    ).fetchall()
    for direction, total, signed, xtype in rows:
        if total is None:
            continue
        if xtype == "ACCPAYCREDIT":
            assert direction == "payable" and signed == total
        else:
            assert direction == "receivable" and signed == -total
    # the view agrees with staging on money, to the last decimal
    mismatch = db.execute(
        "SELECT count(*) FROM analytics.credit_notes v JOIN staging.traede_credit_notes c "
        "ON v.source = 'traede' AND v.source_id = c.id::text WHERE v.total <> c.total_price_after_vat"
    ).fetchone()[0]
    assert mismatch == 0
    total = db.execute(
        "SELECT sum(total) FROM analytics.credit_notes WHERE source = 'unleashed'"
    ).fetchone()[0]
    assert (
        total == db.execute("SELECT sum(total) FROM staging.unleashed_credit_notes").fetchone()[0]
    )
    assert isinstance(total, Decimal)


def test_view_dates_do_not_depend_on_the_session_timezone(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    _load_all(warehouse)
    query = "SELECT source, source_id, credit_date FROM analytics.credit_notes ORDER BY 1, 2"
    db.execute("SET timezone = 'UTC'")
    utc = db.execute(query).fetchall()
    db.execute("SET timezone = 'Pacific/Kiritimati'")
    assert db.execute(query).fetchall() == utc


def test_new_money_columns_per_source(warehouse: Warehouse, db: psycopg.Connection) -> None:
    _load_all(warehouse)
    columns = [
        r[0]
        for r in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'analytics' "
            "AND table_name = 'credit_notes' ORDER BY ordinal_position"
        ).fetchall()
    ]
    assert columns[14:] == [
        "exchange_rate", "base_subtotal", "base_tax", "base_total", "open_credit",
        "base_open_credit", "allocated", "refunded", "fully_allocated",
    ]  # fmt: skip
    # TRAEDE exports no rate: every new column is NULL there.
    assert db.execute(
        "SELECT count(*) FROM analytics.credit_notes WHERE source = 'traede' AND "
        "num_nonnulls(exchange_rate, base_subtotal, base_tax, base_total, open_credit, "
        "base_open_credit, allocated, refunded, fully_allocated) > 0"
    ).fetchone() == (0,)
    # Unleashed base amounts are its own BC fields, to the digit and scale.
    assert db.execute(
        "SELECT count(*) FROM analytics.credit_notes v JOIN staging.unleashed_credit_notes u "
        "ON v.source = 'unleashed' AND v.source_id = u.credit_number "
        "WHERE v.base_total::text IS DISTINCT FROM u.bc_total::text "
        "OR v.exchange_rate::text IS DISTINCT FROM u.exchange_rate::text"
    ).fetchone() == (0,)
    # Xero: every foreign note has base amounts; allocated + refunded + open = total when settled.
    rows = db.execute(
        "SELECT currency, exchange_rate, total, base_total, allocated, refunded, open_credit, "
        "fully_allocated FROM analytics.credit_notes WHERE source = 'xero' "
        "AND status IN ('AUTHORISED', 'PAID')"
    ).fetchall()
    assert {r[0] for r in rows} - {"NZD"}, "foreign currencies in the data"
    for _currency, rate, total, base, allocated, refunded, open_, full in rows:
        assert base == (total / rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert allocated + refunded + open_ == total
        assert full == (open_ == 0)
    assert any(r[5] > 0 for r in rows) and any(0 < r[4] < r[2] for r in rows)
