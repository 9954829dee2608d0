import json
import math
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.config import HttpSettings, Secret, XeroSettings
from connector.emulator.server import EmulatorServer
from connector.emulator.xero import create_xero_app
from connector.errors import DailyLimitError, PermanentSourceError
from connector.flows.xero import sync_xero
from connector.sources.xero.client import XeroClient
from connector.sources.xero.contract import format_if_modified_since
from connector.tables.xero import ALL_XERO
from connector.warehouse import Warehouse
from connector.warehouse.engine import libpq_dsn

pytestmark = pytest.mark.integration

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
CN1 = "249f15fa-f2a7-4acc-8769-0984103f2225"
CN2 = "f8021bd2-9a6a-4c19-8477-163da0b9290f"


def _instant(value):
    return None if value is None else EPOCH + timedelta(milliseconds=int(_MS.match(value)[1]))


def _day(value):
    return None if value is None else _instant(value).date()


@pytest.fixture
def emulator():
    opened = []

    def start(**kwargs):
        app, state = create_xero_app(**kwargs)
        server = EmulatorServer(app).start()
        opened.append(server)
        return server.url, state

    yield start
    for server in opened:
        server.stop()


def _settings(url, tenants=("tenant-a",), secret="xero-secret", overlap=timedelta(minutes=10)):
    return XeroSettings(
        base_url=f"{url}/api.xro/2.0",
        token_url=f"{url}/connect/token",
        client_id="xero-client",
        client_secret=Secret(secret),
        tenant_ids=tenants,
        http=HttpSettings(timeout=10.0, max_attempts=4, max_retry_wait=20.0),
        cursor_overlap=overlap,
    )


def _client(settings, **kwargs):
    return XeroClient(settings, **kwargs)


def _rows(db, table, order):
    cur = db.execute(f"SELECT * FROM staging.{table} ORDER BY {order}")
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _jsonb(db, table, column, key, value):
    row = db.execute(
        f"SELECT {column}::text FROM staging.{table} WHERE credit_note_id = %s", (value,)
    ).fetchone()
    return None if row[0] is None else json.loads(row[0], parse_float=Decimal)


def _expected_header(doc, tenant):
    contact = doc.get("Contact")
    return {
        "credit_note_id": uuid.UUID(doc["CreditNoteID"]),
        "tenant_id": tenant,
        "credit_note_number": doc.get("CreditNoteNumber"),
        "type": doc.get("Type"),
        "status": doc.get("Status"),
        "contact_id": contact.get("ContactID") if contact else None,
        "contact_name": contact.get("Name") if contact else None,
        "date": _day(doc.get("Date")),
        "due_date": _day(doc.get("DueDate")),
        "line_amount_types": doc.get("LineAmountTypes"),
        "sub_total": doc.get("SubTotal"),
        "total_tax": doc.get("TotalTax"),
        "total": doc.get("Total"),
        "cis_deduction": doc.get("CISDeduction"),
        "cis_rate": doc.get("CISRate"),
        "updated_date_utc": _instant(doc["UpdatedDateUTC"]),
        "currency_code": doc.get("CurrencyCode"),
        "currency_rate": doc.get("CurrencyRate"),
        "fully_paid_on_date": _day(doc.get("FullyPaidOnDate")),
        "reference": doc.get("Reference"),
        "sent_to_contact": doc.get("SentToContact"),
        "remaining_credit": doc.get("RemainingCredit"),
        "applied_amount": doc.get("AppliedAmount"),
        "branding_theme_id": doc.get("BrandingThemeID"),
        "has_attachments": doc.get("HasAttachments"),
        "has_errors": doc.get("HasErrors"),
        "status_attribute_string": doc.get("StatusAttributeString"),
    }


def _expected_line(doc, number, line):
    return {
        "credit_note_id": uuid.UUID(doc["CreditNoteID"]),
        "line_number": number,
        "line_item_id": line.get("LineItemID"),
        "description": line.get("Description"),
        "quantity": line.get("Quantity"),
        "unit_amount": line.get("UnitAmount"),
        "item_code": line.get("ItemCode"),
        "account_code": line.get("AccountCode"),
        "account_id": line.get("AccountID"),
        "tax_type": line.get("TaxType"),
        "tax_amount": line.get("TaxAmount"),
        "line_amount": line.get("LineAmount"),
        "discount_rate": line.get("DiscountRate"),
        "discount_amount": line.get("DiscountAmount"),
    }


def _assert_staging_matches(db, state, tenants):
    docs = {t: state.records(t) for t in tenants}
    headers = {str(r["credit_note_id"]): r for r in _rows(db, "xero_credit_notes", "1")}
    assert len(headers) == sum(len(d) for d in docs.values())
    lines = {}
    for row in _rows(db, "xero_credit_note_lines", "credit_note_id, line_number"):
        lines.setdefault(str(row["credit_note_id"]), []).append(row)
    for tenant, records in docs.items():
        for doc in records:
            row = headers[doc["CreditNoteID"]]
            for column, value in _expected_header(doc, tenant).items():
                assert row[column] == value, (doc["CreditNoteID"], column)
                if isinstance(value, Decimal):
                    assert str(row[column]) == str(value), (doc["CreditNoteID"], column)
            cid = doc["CreditNoteID"]
            assert _jsonb(db, "xero_credit_notes", "allocations", "id", cid) == doc.get(
                "Allocations"
            )
            assert _jsonb(db, "xero_credit_notes", "payments", "id", cid) == doc.get("Payments")
            assert _jsonb(db, "xero_credit_notes", "contact", "id", cid) == doc.get("Contact")
            raw = _jsonb(db, "xero_credit_notes", "_raw", "id", cid)
            assert raw == {k: v for k, v in doc.items() if k != "LineItems"}
            got_lines = lines.get(cid, [])
            assert len(got_lines) == len(doc.get("LineItems") or [])
            for number, (got, line) in enumerate(
                zip(got_lines, doc.get("LineItems") or [], strict=True), start=1
            ):
                for column, value in _expected_line(doc, number, line).items():
                    assert got[column] == value, (cid, number, column)
                    if isinstance(value, Decimal):
                        assert str(got[column]) == str(value)
                assert json.loads(json.dumps(got["tracking"])) == json.loads(
                    json.dumps(line.get("Tracking"), default=str)
                )


def _cursor(db, tenant):
    row = db.execute(
        "SELECT cursor_value FROM connector.cursors WHERE source = 'xero' AND scope = %s",
        (tenant,),
    ).fetchone()
    return None if row is None else row[0]


def test_sync_xero_loads_every_tenant_exactly(emulator, warehouse, db) -> None:
    url, state = emulator(tenants=("tenant-a", "tenant-b"), count=40)
    settings = _settings(url, tenants=("tenant-a", "tenant-b"))
    result = sync_xero(settings, warehouse, client=_client(settings, page_size=10))
    assert result.error is None and result.exit_code == 0
    assert result.total("fetched") == 82
    assert result.total("rejected") == 0
    stats = result.stats["credit_notes"]
    assert stats["http_429"] == 0 and stats["api_calls"] >= 10
    _assert_staging_matches(db, state, ("tenant-a", "tenant-b"))
    statuses = {r[0] for r in db.execute("SELECT status FROM staging.xero_credit_notes")}
    assert {"DELETED", "VOIDED", "DRAFT", "SUBMITTED", "AUTHORISED", "PAID"} <= statuses
    for tenant in ("tenant-a", "tenant-b"):
        assert _cursor(db, tenant) == _instant(state.records(tenant)[-1]["UpdatedDateUTC"])
    run = db.execute("SELECT status, system_id FROM connector.sync_runs").fetchone()
    assert run == ("succeeded", "tenant-a,tenant-b")
    # The vendor's example records, every value as Xero wrote it.
    first = db.execute(
        "SELECT credit_note_number, type, status, contact_id, contact_name, date, due_date, "
        "line_amount_types, sub_total::text, total_tax::text, total::text, updated_date_utc, "
        "currency_code, currency_rate::text, reference, remaining_credit::text, "
        "has_attachments, tenant_id FROM staging.xero_credit_notes WHERE credit_note_id = %s",
        (CN1,),
    ).fetchone()
    assert first == (
        "CN-0005",
        "ACCRECCREDIT",
        "AUTHORISED",
        "430fa14a-f945-44d3-9f97-5df5e28441b8",
        "Liam Gallagher",
        date(2019, 3, 5),
        None,
        "Exclusive",
        "30.0",
        "4.5",
        "34.5",
        datetime(2019, 3, 5, 18, 59, 6, 157000, tzinfo=UTC),
        "NZD",
        "1.0",
        "US Tour",
        "32.5",
        True,
        "tenant-a",
    )
    payments = _jsonb(db, "xero_credit_notes", "payments", "id", CN1)
    assert payments == [
        {
            "PaymentID": "6b037c9b-2e5d-4905-84d3-eabfb3438242",
            "Date": "/Date(1552521600000+0000)/",
            "Amount": Decimal("2.0"),
            "Reference": "Too much",
            "CurrencyRate": Decimal("1.0"),
            "HasAccount": False,
            "HasValidationErrors": False,
        }
    ]
    second = db.execute(
        "SELECT credit_note_number, type, status, date, sub_total::text, total_tax::text, "
        "total::text, remaining_credit::text, reference, has_attachments, updated_date_utc "
        "FROM staging.xero_credit_notes WHERE credit_note_id = %s",
        (CN2,),
    ).fetchone()
    assert second == (
        "",
        "ACCPAYCREDIT",
        "DRAFT",
        date(2019, 1, 5),
        "40.0",
        "6.0",
        "46.0",
        "46.0",
        "",
        False,
        datetime(2019, 3, 5, 19, 1, 46, 153000, tzinfo=UTC),
    )
    # Long FX rates survive exactly; negative and zero epochs are dates, not errors.
    rates = {r[0] for r in db.execute("SELECT currency_rate::text FROM staging.xero_credit_notes")}
    assert "0.471183298765432101" in rates
    dates = {r[0] for r in db.execute("SELECT date FROM staging.xero_credit_notes")}
    assert {date(1969, 12, 31), date(1970, 1, 1)} <= dates
    # Running again re-reads the overlap only and changes nothing.
    again = sync_xero(settings, warehouse, client=_client(settings, page_size=10))
    assert again.exit_code == 0 and again.total("inserted") == 0 and again.total("updated") == 0
    _assert_staging_matches(db, state, ("tenant-a", "tenant-b"))


def test_sync_xero_second_run_asks_since_cursor_minus_overlap(emulator, warehouse, db) -> None:
    url, state = emulator(count=30)
    overlap = timedelta(seconds=30)
    settings = _settings(url, overlap=overlap)
    assert sync_xero(settings, warehouse).exit_code == 0
    cursor = _cursor(db, "tenant-a")
    records = state.records("tenant-a")
    state.put("tenant-a", {"CreditNoteID": records[3]["CreditNoteID"], "Reference": "changed"})
    state.put("tenant-a", {"CreditNoteID": records[9]["CreditNoteID"], "Status": "VOIDED"})
    state.requests.clear()
    result = sync_xero(settings, warehouse)
    assert result.exit_code == 0
    sent = [r["if_modified_since"] for r in state.requests]
    assert sent == [format_if_modified_since(cursor - overlap)]
    within = [r for r in records if _instant(r["UpdatedDateUTC"]) >= cursor - overlap]
    assert result.total("fetched") == 2 + len(within)
    assert result.total("updated") == 2
    _assert_staging_matches(db, state, ("tenant-a",))
    assert _cursor(db, "tenant-a") == _instant(state.records("tenant-a")[-1]["UpdatedDateUTC"])


def test_sync_xero_record_edited_during_crawl_is_loaded_in_the_same_run(
    emulator, warehouse, db
) -> None:
    url, state = emulator(count=0, include_examples=False)
    t0 = 1_750_000_000_000
    ids = [str(uuid.UUID(int=i + 1, version=4)) for i in range(10)]
    for i, cid in enumerate(ids):
        doc = {"CreditNoteID": cid, "Reference": "v1", "Total": Decimal("1.00")}
        state.put("tenant-a", doc, updated_ms=t0 + i * 1000)
    requests = []

    def during_crawl(tenant, page):
        # Before the third request, record 1 (already read) is edited the way Xero edits: its
        # UpdatedDateUTC becomes now, so it moves to the end and the rest shift left by one.
        requests.append(page)
        if len(requests) == 3:
            state.put("tenant-a", {"CreditNoteID": ids[1], "Reference": "v2"})

    state.on_page = during_crawl
    settings = _settings(url, overlap=timedelta(seconds=10))
    first = sync_xero(settings, warehouse, client=_client(settings, page_size=4))
    assert first.exit_code == 0 and len(requests) >= 3
    ref = "SELECT reference FROM staging.xero_credit_notes WHERE credit_note_id = %s"
    assert db.execute(ref, (ids[1],)).fetchone() == ("v2",)
    _assert_staging_matches(db, state, ("tenant-a",))
    assert _cursor(db, "tenant-a") == _instant(state.records("tenant-a")[-1]["UpdatedDateUTC"])


def test_sync_xero_paces_under_small_limits_without_429(emulator, warehouse, db) -> None:
    url, state = emulator(count=118, minute_limit=10, minute_window=2.0)
    settings = _settings(url)
    client = _client(settings, page_size=10, calls_per_window=9, window=2.0)
    result = sync_xero(settings, warehouse, client=client)
    assert result.exit_code == 0 and result.total("fetched") == 120  # repeats are dropped
    assert state.snapshot()["tenants"]["tenant-a"]["throttled"] == 0
    assert result.stats["credit_notes"]["http_429"] == 0
    # Keyset paging re-asks from the highest second received; one second holds at most two
    # of these records, so each call moves at least 8 forward (pageCount saves an empty call).
    calls = state.snapshot()["tenants"]["tenant-a"]["calls"]
    assert 12 <= calls <= math.ceil(120 / 8) + 1
    assert result.total("pages") == calls


def test_sync_xero_recovers_from_injected_minute_429(emulator, warehouse, db) -> None:
    url, state = emulator(count=28)
    state.inject("tenant-a", 2, "429-minute")
    settings = _settings(url)
    result = sync_xero(settings, warehouse, client=_client(settings, page_size=10))
    assert result.exit_code == 0 and result.total("fetched") == 30
    assert result.stats["credit_notes"]["http_429"] == 1
    assert result.stats["credit_notes"]["retries"] == 1
    _assert_staging_matches(db, state, ("tenant-a",))


def test_sync_xero_day_limit_ends_cleanly_with_cursor_saved(emulator, warehouse, db) -> None:
    url, state = emulator(count=38)
    state.inject("tenant-a", 3, "429-day")
    settings = _settings(url)
    result = sync_xero(settings, warehouse, client=_client(settings, page_size=10))
    assert isinstance(result.error, DailyLimitError)
    assert result.exit_code == 10
    # Two calls went through: everything they carried is committed, the cursor right behind it.
    records = state.records("tenant-a")
    loaded = result.total("fetched")
    assert 16 <= loaded <= 20
    assert db.execute("SELECT count(*) FROM staging.xero_credit_notes").fetchone() == (loaded,)
    assert _cursor(db, "tenant-a") == _instant(records[loaded - 1]["UpdatedDateUTC"])
    status, error = db.execute("SELECT status, error FROM connector.sync_runs").fetchone()
    assert status == "failed" and "daily" in error
    resumed = sync_xero(settings, warehouse, client=_client(settings, page_size=10))
    assert resumed.exit_code == 0
    _assert_staging_matches(db, state, ("tenant-a",))


def test_sync_xero_wrong_secret_is_permanent_and_secret_free(emulator, warehouse, db) -> None:
    url, _ = emulator(count=3)
    secret = "not-the-right-secret-123"
    result = sync_xero(_settings(url, secret=secret), warehouse)
    assert isinstance(result.error, PermanentSourceError)
    assert result.exit_code == 4
    assert "XERO_CLIENT_SECRET" in str(result.error)
    assert secret not in str(result.error) and secret not in result.reason
    (error,) = db.execute("SELECT error FROM connector.sync_runs").fetchone()
    assert secret not in error and "XERO_CLIENT_SECRET" in error


def test_sync_xero_database_timezone_changes_nothing(
    emulator, warehouse: Warehouse, pg_url, db, pg_admin_url
) -> None:
    name = db.execute("SELECT current_database()").fetchone()[0]
    with psycopg.connect(libpq_dsn(make_url(pg_admin_url)), autocommit=True) as admin:
        admin.execute(
            f"ALTER DATABASE \"{name}\" SET timezone = 'Pacific/Auckland'"
        )  # a DBA's setting
    url, state = emulator(count=20)
    assert sync_xero(_settings(url), warehouse).exit_code == 0
    with warehouse.connect(autocommit=True) as conn:
        assert conn.execute("SHOW timezone").fetchone() == ("Pacific/Auckland",)
        _assert_staging_matches(conn, state, ("tenant-a",))
        row = conn.execute(
            "SELECT date::text, (updated_date_utc AT TIME ZONE 'UTC')::text "
            "FROM staging.xero_credit_notes WHERE credit_note_id = %s",
            (CN1,),
        ).fetchone()
    assert row == ("2019-03-05", "2019-03-05 18:59:06.157")


def test_xero_staging_tables_match_table_specs(db: psycopg.Connection) -> None:
    for spec in ALL_XERO:
        rows = db.execute(
            "SELECT column_name, udt_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (spec.schema, spec.table),
        ).fetchall()
        assert [r[0] for r in rows] == list(spec.column_names), spec.name
        aliases = {"integer": "int4", "boolean": "bool"}
        assert [r[1] for r in rows] == [aliases.get(c.pg_type, c.pg_type) for c in spec.columns]
        pk = db.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
            (spec.name,),
        ).fetchall()
        assert sorted(r[0] for r in pk) == sorted(spec.key)
