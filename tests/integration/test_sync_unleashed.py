from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.config import HttpSettings, Secret, UnleashedSettings, WarehouseSettings
from connector.emulator.server import EmulatorServer
from connector.emulator.unleashed import create_unleashed_app
from connector.emulator.unleashed_state import UnleashedState
from connector.errors import PermanentSourceError
from connector.flows.unleashed import sync_unleashed
from connector.normalize.common import ms_date_to_utc
from connector.tables.unleashed import (
    ALL_UNLEASHED,
    UNLEASHED_CREDIT_NOTE_LINES,
    UNLEASHED_CREDIT_NOTES,
)
from connector.warehouse import Warehouse
from connector.warehouse.engine import Target, libpq_dsn

API_ID, API_KEY = "sync-id", "sync-key-do-not-print"
OVERLAP = timedelta(minutes=10)


@pytest.fixture
def emulator() -> Iterator[tuple[str, UnleashedState]]:
    app, state = create_unleashed_app(seed=5, count=60, api_id=API_ID, api_key=API_KEY)
    with EmulatorServer(app) as server:
        yield server.url, state


def _settings(url: str, key: str = API_KEY) -> UnleashedSettings:
    return UnleashedSettings(
        base_url=url,
        api_id=API_ID,
        api_key=Secret(key),
        client_type="tests/sync",
        http=HttpSettings(timeout=10.0, max_attempts=3, max_retry_wait=5.0),
        cursor_overlap=OVERLAP,
    )


def _sync(url: str, warehouse: Warehouse, *, page_size: int = 1000, key: str = API_KEY):
    from connector.sources.unleashed.client import UnleashedClient

    settings = _settings(url, key)
    return sync_unleashed(
        settings, warehouse, client=UnleashedClient(settings, page_size=page_size)
    )


def _ms(value: Any) -> datetime | None:
    return ms_date_to_utc(value, "x")


def _json(value: Any) -> Any:
    """A nested wire value as jsonb gives it back (numbers compared by value in _normal)."""
    return value


def _expected_header(r: dict) -> dict:
    """Staging row of a wire record, written out by hand from the vendor's field names."""
    sub = lambda obj, key: None if r.get(obj) is None else r[obj].get(key)  # noqa: E731
    return {
        "credit_number": r["CreditNumber"],
        "credit_date": _ms(r.get("CreditDate")),
        "sales_invoice_date": _ms(r.get("SalesInvoiceDate")),
        "required_delivery_date": _ms(r.get("RequiredDeliveryDate")),
        "reference": r.get("Reference"),
        "credit_status": r.get("CreditStatus"),
        "total": r.get("Total"),
        "sub_total": r.get("SubTotal"),
        "tax_total": r.get("TaxTotal"),
        "tax_rate": r.get("TaxRate"),
        "xero_tax_code": r.get("XeroTaxCode"),
        "invoice_number": r.get("InvoiceNumber"),
        "reference_number": r.get("ReferenceNumber"),
        "comments": r.get("Comments"),
        "customer_code": sub("Customer", "CustomerCode"),
        "customer_name": sub("Customer", "CustomerName"),
        "customer_guid": sub("Customer", "Guid"),
        "currency_code": sub("Currency", "CurrencyCode"),
        "warehouse_code": sub("Warehouse", "WarehouseCode"),
        "warehouse_name": sub("Warehouse", "WarehouseName"),
        "sales_order_number": sub("SalesOrder", "OrderNumber"),
        "guid": r.get("Guid"),
        "last_modified_by": r.get("LastModifiedBy"),
        "last_modified_on": _ms(r["LastModifiedOn"]),
        "created_by": r.get("CreatedBy"),
        "created_on": _ms(r.get("CreatedOn")),
        "warehouse": _json(r.get("Warehouse")),
        "customer": _json(r.get("Customer")),
        "currency": _json(r.get("Currency")),
        "tax": _json(r.get("Tax")),
        "sales_order": _json(r.get("SalesOrder")),
        "_raw": _json({k: v for k, v in r.items() if k != "CreditLines"}),
        "exchange_rate": r.get("ExchangeRate"),
        "bc_sub_total": r.get("BCSubTotal"),
        "bc_tax_total": r.get("BCTaxTotal"),
        "bc_total": r.get("BCTotal"),
    }


def _expected_lines(r: dict) -> list[dict]:
    rows = []
    for position, line in enumerate(r.get("CreditLines") or [], start=1):
        product = line.get("Product") or {}
        rows.append(
            {
                "credit_number": r["CreditNumber"],
                "line_number": position,
                "source_line_number": line.get("LineNumber"),
                "line_type": line.get("LineType"),
                "product_guid": product.get("Guid"),
                "product_code": product.get("ProductCode"),
                "product_description": product.get("ProductDescription"),
                "order_quantity": line.get("OrderQuantity"),
                "unit_price": line.get("UnitPrice"),
                "credit_quantity": line.get("CreditQuantity"),
                "credit_price": line.get("CreditPrice"),
                "line_total": line.get("LineTotal"),
                "comments": line.get("Comments"),
                "tax_rate": line.get("TaxRate"),
                "line_tax": line.get("LineTax"),
                "xero_tax_code": line.get("XeroTaxCode"),
                "line_tax_code": line.get("LineTaxCode"),
                "xero_sales_account": line.get("XeroSalesAccount"),
                "reason": line.get("Reason"),
                "return": line.get("Return"),
                "disassemble": line.get("Disassemble"),
                "serial_numbers": _json(line.get("SerialNumbers")),
                "pending_serial_numbers": _json(line.get("PendingSerialNumbers")),
                "batch_numbers": _json(line.get("BatchNumbers")),
                "pending_batch_numbers": _json(line.get("PendingBatchNumbers")),
                "guid": line.get("Guid"),
                "last_modified_on": _ms(line.get("LastModifiedOn")),
                "_raw": _json(line),
                "bc_unit_price": line.get("BCUnitPrice"),
                "bc_line_total": line.get("BCLineTotal"),
                "bc_line_tax": line.get("BCLineTax"),
            }
        )
    return rows


def _normal(value: Any) -> Any:
    """Compare numbers by value (jsonb may print 1.0000 as 1.0000 but json.loads gives float)."""
    if isinstance(value, float | Decimal) and not isinstance(value, bool):
        return Decimal(str(value)).normalize()
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def _staging(db: psycopg.Connection, spec) -> list[dict]:
    cols = [c for c in spec.column_names if c not in ("_loaded_at", "_run_id")]
    quoted = ", ".join(f'"{c}"' for c in cols)
    order = ", ".join(spec.key)
    rows = db.execute(f"SELECT {quoted} FROM {spec.name} ORDER BY {order}").fetchall()
    return [_normal(dict(zip(cols, row, strict=True))) for row in rows]


def _assert_staging_equals_emulator(db: psycopg.Connection, state: UnleashedState) -> None:
    records = sorted(state.records(), key=lambda r: r["CreditNumber"])
    assert _staging(db, UNLEASHED_CREDIT_NOTES) == [_normal(_expected_header(r)) for r in records]
    lines = sorted(
        (line for r in records for line in _expected_lines(r)),
        key=lambda x: (x["credit_number"], x["line_number"]),
    )
    assert _staging(db, UNLEASHED_CREDIT_NOTE_LINES) == [_normal(x) for x in lines]


def test_unleashed_tables_match_table_specs(db: psycopg.Connection) -> None:
    for spec in ALL_UNLEASHED:
        rows = db.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (spec.schema, spec.table),
        ).fetchall()
        assert [r[0] for r in rows] == list(spec.column_names), spec.name
        types = {"timestamp with time zone": "timestamptz"}
        assert [types.get(r[1], r[1]) for r in rows] == [c.pg_type for c in spec.columns]
        pk = db.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
            (spec.name,),
        ).fetchall()
        assert sorted(r[0] for r in pk) == sorted(spec.key)


def test_sync_loads_staging_equal_to_the_emulator(emulator, warehouse, db) -> None:
    url, state = emulator
    result = _sync(url, warehouse, page_size=25)
    assert result.error is None, result.reason
    assert result.exit_code == 0 and result.status == "succeeded"
    assert result.total("fetched") == 61 and result.total("inserted") == 61
    assert result.total("api_calls") == 3 and result.total("rejected") == 0
    _assert_staging_equals_emulator(db, state)
    max_modified = max(n.modified for n in state.notes.values())
    cursor = db.execute("SELECT cursor_value FROM connector.cursors WHERE source='unleashed'")
    assert cursor.fetchone()[0] == max_modified
    run = db.execute(
        "SELECT status, stats FROM connector.sync_runs WHERE run_id = %s", (result.run_id,)
    ).fetchone()
    assert run[0] == "succeeded" and run[1]["credit_notes"]["api_calls"] == 3


def test_sync_lands_the_vendor_example_with_every_value(emulator, warehouse, db) -> None:
    url, _ = emulator
    assert _sync(url, warehouse).exit_code == 0
    db.execute("SET timezone = 'UTC'")
    row = db.execute(
        "SELECT credit_date, sales_invoice_date, required_delivery_date, reference, "
        "credit_status, total, sub_total, tax_total, tax_rate, xero_tax_code, invoice_number, "
        "reference_number, comments, customer_code, customer_name, customer_guid, currency_code, "
        "warehouse_code, warehouse_name, sales_order_number, guid, last_modified_by, "
        "last_modified_on, created_by, created_on, customer->>'CurrencyId', tax->>'Guid', "
        "_raw->>'Total', _raw ? 'CreditLines', jsonb_typeof(_raw->'Total') "
        "FROM staging.unleashed_credit_notes WHERE credit_number = 'CN-00000017'"
    ).fetchone()
    june_1 = datetime(2016, 6, 1, tzinfo=UTC)
    modified = datetime(2016, 6, 14, 1, 46, 27, 126000, tzinfo=UTC)
    assert row == (
        june_1, june_1, june_1, "Credit Note Reference", "Parked", Decimal("12.5"),
        Decimal("10.5"), Decimal("2.5"), Decimal("0.15"), "OUTPUT2", "SI-00000004/2", "",
        "some comments", "FranckBassy", "Franck Bassy", "2284b930-6472-4350-bd34-9967fee2b245",
        "NZD", "W1", "Warehouse", "SO-00000028", None, "franck@unleashedsoftware.com",
        modified, "franck@unleashedsoftware.com", modified, "110",
        "00000000-0000-0000-0000-000000000000", "12.5", False, "number",
    )  # fmt: skip
    line = db.execute(
        "SELECT line_number, source_line_number, line_type, product_code, order_quantity, "
        "unit_price, credit_quantity, credit_price, line_total, tax_rate, line_tax, reason, "
        "\"return\", disassemble, batch_numbers->0->>'Quantity', "
        "pending_batch_numbers->0->>'Quantity', serial_numbers->0->>'Identifier', guid, "
        "last_modified_on FROM staging.unleashed_credit_note_lines "
        "WHERE credit_number = 'CN-00000017'"
    ).fetchall()
    assert line == [
        (1, 1, None, "CHAIRS", Decimal("12"), Decimal("0"), Decimal("2"), Decimal("1"),
         Decimal("0"), Decimal("0.15"), Decimal("0"), "Faulty", True, True, "-1.0000",
         "1.0000", "35XRY0QFGS", "f58539b8-6afa-4fd8-864a-3bca2228066e", modified)
    ]  # fmt: skip


def test_second_run_asks_from_cursor_minus_overlap_and_fetches_only_changes(
    emulator, warehouse, db
) -> None:
    url, state = emulator
    assert _sync(url, warehouse).exit_code == 0
    cursor = max(n.modified for n in state.notes.values())
    edited = state.ordered()[30].credit_number
    state.edit(edited, {"CreditStatus": "Completed", "Comments": "changed"})
    calls_before = len(state.snapshot()["calls"])
    result = _sync(url, warehouse)
    assert result.exit_code == 0
    (call,) = state.snapshot()["calls"][calls_before:]
    since = (cursor - OVERLAP).strftime("%Y-%m-%dT%H:%M:%S").replace(":", "%3A")
    assert call["query"] == f"modifiedSince={since}&pageSize=1000"
    assert call["path"] == "/CreditNotes/1" and call["client_type"] == "tests/sync"
    expected_fetch = len(
        [n for n in state.notes.values() if n.modified >= cursor - OVERLAP - timedelta(seconds=1)]
    )
    assert result.total("fetched") == expected_fetch < 5
    assert result.total("updated") == 1
    _assert_staging_equals_emulator(db, state)
    # A third run with nothing new changes nothing.
    again = _sync(url, warehouse)
    assert again.total("inserted") == 0 and again.total("updated") == 0
    _assert_staging_equals_emulator(db, state)


def test_record_edited_during_the_crawl_is_not_lost(emulator, warehouse, db) -> None:
    url, state = emulator
    # Edit a record that page 1 already served, just before page 2 is asked for: it jumps to
    # page 1 (already read), every later record shifts down by one (re-read, not missed).
    victim = state.ordered()[3].credit_number
    fired: list[int] = []

    def on_page(page: int) -> None:
        if page == 2 and not fired:
            fired.append(page)
            state.edit(victim, {"Comments": "edited mid-crawl"})

    state.on_page = on_page
    first = _sync(url, warehouse, page_size=20)
    state.on_page = None
    assert first.exit_code == 0 and fired == [2]
    count = db.execute("SELECT count(*) FROM staging.unleashed_credit_notes").fetchone()[0]
    assert count == len(state.notes)  # nothing missed by the shift
    second = _sync(url, warehouse, page_size=20)
    assert second.exit_code == 0
    comment = db.execute(
        "SELECT comments FROM staging.unleashed_credit_notes WHERE credit_number = %s", (victim,)
    ).fetchone()[0]
    assert comment == "edited mid-crawl"
    _assert_staging_equals_emulator(db, state)


def test_wrong_api_key_fails_with_exit_4_naming_the_variable(emulator, warehouse, db) -> None:
    url, state = emulator
    result = _sync(url, warehouse, key="not-the-key-9f3a")
    assert isinstance(result.error, PermanentSourceError)
    assert result.exit_code == 4 and result.status == "failed"
    assert "UNLEASHED_API_KEY" in result.reason
    assert "not-the-key-9f3a" not in str(result.error) and API_KEY not in str(result.error)
    row = db.execute(
        "SELECT status, error FROM connector.sync_runs WHERE run_id = %s", (result.run_id,)
    ).fetchone()
    assert row[0] == "failed" and "UNLEASHED_API_KEY" in row[1] and "not-the-key" not in row[1]
    assert db.execute("SELECT count(*) FROM staging.unleashed_credit_notes").fetchone()[0] == 0
    assert state.snapshot()["signature_failures"] == 1


def test_sync_retries_a_429_then_succeeds(emulator, warehouse, db) -> None:
    url, state = emulator
    state.fail_call(1, 429, retry_after=0)
    state.fail_call(2, 500)
    result = _sync(url, warehouse)
    assert result.exit_code == 0 and result.total("retries") == 2
    _assert_staging_equals_emulator(db, state)


def test_non_utc_database_timezone_changes_nothing(
    emulator, warehouse, db, pg_url, tmp_path, pg_admin_url
) -> None:
    url, state = emulator
    name = make_url(pg_url).database
    with psycopg.connect(libpq_dsn(make_url(pg_admin_url)), autocommit=True) as admin:
        admin.execute(
            f"ALTER DATABASE \"{name}\" SET timezone = 'Pacific/Auckland'"
        )  # a DBA's setting
    reconnected = Warehouse(
        WarehouseSettings(database_url=None, home=tmp_path / "h2"),
        target=Target(make_url(pg_url), embedded=False),
    )
    try:
        assert _sync(url, reconnected).exit_code == 0
        state.edit(state.ordered()[0].credit_number, {"Comments": "after tz"})
        assert _sync(url, reconnected).exit_code == 0
    finally:
        reconnected.dispose()
    with reconnected.connect(autocommit=True) as conn:
        assert conn.execute("SHOW timezone").fetchone()[0] == "Pacific/Auckland"
        _assert_staging_equals_emulator(conn, state)
        cursor = conn.execute("SELECT cursor_value FROM connector.cursors").fetchone()[0]
        assert cursor == max(n.modified for n in state.notes.values())
        june = conn.execute(
            "SELECT credit_date AT TIME ZONE 'UTC' FROM staging.unleashed_credit_notes "
            "WHERE credit_number = 'CN-00000017'"
        ).fetchone()[0]
        assert june == datetime(2016, 6, 1)  # noqa: DTZ001 - naive UTC wall time from SQL
