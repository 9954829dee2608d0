"""Issue 14: base-currency amounts, open credit and where the credit went, end to end.

Hand-made credit notes go through the emulators over HTTP, the syncs and a database whose
timezone is not UTC; the view's numbers are compared with amounts worked out by hand below.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.config import HttpSettings, Secret, UnleashedSettings, XeroSettings
from connector.emulator.server import EmulatorServer
from connector.emulator.unleashed import create_unleashed_app
from connector.emulator.unleashed_state import UnleashedState
from connector.emulator.xero import create_xero_app
from connector.emulator.xero_state import XeroState
from connector.flows.unleashed import sync_unleashed
from connector.flows.xero import sync_xero
from connector.tables.registry import stream
from connector.warehouse import Warehouse
from connector.warehouse.checks import reconcile
from connector.warehouse.engine import libpq_dsn
from dagster_defs.definitions import build_definitions
from dagster_defs.resources import (
    TraedeApiResource,
    UnleashedApiResource,
    WarehouseResource,
    XeroApiResource,
)
from tests.integration.credit_note_fixtures import XERO_A, XERO_B, unleashed_u, xero_a, xero_b

pytestmark = pytest.mark.integration

TENANT = "tenant-a"
HTTP = HttpSettings(timeout=10.0, max_attempts=3, max_retry_wait=5.0)
D = Decimal


@dataclass
class Loaded:
    """The emulators' states and a way to sync Xero again while they still run."""

    xero: XeroState
    unleashed: UnleashedState
    resync_xero: Callable[[], int]
    resources: dict[str, Any]


@pytest.fixture
def loaded(
    warehouse: Warehouse, db: psycopg.Connection, pg_url: str, pg_admin_url: str
) -> Iterator[Loaded]:
    """Both sources synced into a database whose timezone is 14 hours ahead of UTC."""
    name = db.execute("SELECT current_database()").fetchone()[0]
    # A DBA's setting on a database the connector does not own: set as the superuser.
    with psycopg.connect(libpq_dsn(make_url(pg_admin_url)), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE \"{name}\" SET timezone = 'Pacific/Kiritimati'")
    xero_app, xero = create_xero_app(seed=3, tenants=(TENANT,), count=24)
    xero.put(TENANT, xero_a())
    xero.put(TENANT, xero_b())
    unleashed_app, unleashed = create_unleashed_app(seed=3, count=20, api_id="i", api_key="k")
    unleashed.edit("CN-00009001", unleashed_u())
    with EmulatorServer(xero_app) as xs, EmulatorServer(unleashed_app) as us:
        xero_settings = XeroSettings(
            base_url=f"{xs.url}/api.xro/2.0", token_url=f"{xs.url}/connect/token",
            client_id="xero-client", client_secret=Secret("xero-secret"), tenant_ids=(TENANT,),
            http=HTTP, cursor_overlap=timedelta(minutes=10),
        )  # fmt: skip
        assert sync_xero(xero_settings, warehouse).exit_code == 0
        unleashed_settings = UnleashedSettings(
            base_url=us.url, api_id="i", api_key=Secret("k"), client_type="t/t", http=HTTP
        )
        assert sync_unleashed(unleashed_settings, warehouse).exit_code == 0
        resources = {
            "traede": TraedeApiResource(),
            "warehouse": WarehouseResource(database_url=pg_url),
            "xero": XeroApiResource(
                base_url=xero_settings.base_url, token_url=xero_settings.token_url,
                client_id="xero-client", client_secret="xero-secret", tenant_ids=TENANT,
            ),
            "unleashed": UnleashedApiResource(
                base_url=us.url, api_id="i", api_key="k", client_type="t/t"
            ),
        }  # fmt: skip
        yield Loaded(
            xero, unleashed, lambda: sync_xero(xero_settings, warehouse).exit_code, resources
        )


def _view(conn: psycopg.Connection, source_id: str) -> dict:
    cur = conn.execute("SELECT * FROM analytics.credit_notes WHERE source_id = %s", (source_id,))
    names = [c.name for c in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def test_view_numbers_match_hand_computed_amounts(loaded, warehouse: Warehouse) -> None:
    with warehouse.connect(autocommit=True) as conn:
        assert conn.execute("SHOW timezone").fetchone() == ("Pacific/Kiritimati",)
        a = _view(conn, XERO_A)
        b = _view(conn, XERO_B)
        u = _view(conn, "CN-00009001")
    assert (a["credit_date"], a["currency"], a["exchange_rate"]) == (
        date(2024, 3, 1), "EUR", D("0.5634219876"),
    )  # fmt: skip
    assert (a["subtotal"], a["tax"], a["total"], a["signed_total"]) == (
        D("123.45"), D("18.52"), D("141.97"), D("-141.97"),
    )  # fmt: skip
    assert (a["base_subtotal"], a["base_tax"], a["base_total"]) == (
        D("219.11"), D("32.87"), D("251.98"),
    )  # fmt: skip
    assert (a["open_credit"], a["base_open_credit"], a["allocated"], a["refunded"]) == (
        D("61.97"), D("109.99"), D("60.00"), D("20.00"),
    )  # fmt: skip
    assert a["fully_allocated"] is False
    assert (b["base_subtotal"], b["base_tax"], b["base_total"], b["base_open_credit"]) == (
        D("85.15"), D("12.77"), D("97.92"), D("0.00"),
    )  # fmt: skip
    assert b["fully_allocated"] is True and b["allocated"] == D("57.50")
    assert (u["exchange_rate"], u["base_subtotal"], u["base_tax"], u["base_total"]) == (
        D("0.546381"), D("256.230"), D("38.430"), D("294.660"),
    )  # fmt: skip
    assert str(u["base_total"]) == "294.660"  # Unleashed's own value, scale kept
    assert u["open_credit"] is None and u["fully_allocated"] is None
    # the view keeps 0006's columns first, in order, and appends the new ones
    assert list(a)[:14] == [
        "source", "source_id", "number", "status", "direction", "credit_date", "currency",
        "subtotal", "tax", "total", "signed_total", "customer_id", "customer_name", "updated_at",
    ]  # fmt: skip


def test_allocations_payments_and_tracking_land_in_their_tables(loaded, warehouse) -> None:
    with warehouse.connect(autocommit=True) as conn:
        allocations = conn.execute(
            "SELECT position, allocation_id, amount::text, date, invoice_id, invoice_number, "
            "is_deleted FROM staging.xero_credit_note_allocations WHERE credit_note_id = %s "
            "ORDER BY position",
            (XERO_A,),
        ).fetchall()
        payments = conn.execute(
            "SELECT position, payment_id, date, amount::text, status, "
            "(updated_date_utc AT TIME ZONE 'UTC')::text "
            "FROM staging.xero_credit_note_payments WHERE credit_note_id = %s ORDER BY position",
            (XERO_A,),
        ).fetchall()
        tracking = conn.execute(
            "SELECT line_number, position, name, option FROM "
            "staging.xero_credit_note_line_tracking WHERE credit_note_id = %s ORDER BY 1, 2",
            (XERO_A,),
        ).fetchall()
        by_invoice = conn.execute(
            "SELECT invoice_number, sum(amount)::text FROM staging.xero_credit_note_allocations "
            "WHERE NOT coalesce(is_deleted, false) AND invoice_number IS NOT NULL "
            "GROUP BY 1 ORDER BY 1 LIMIT 1"
        ).fetchone()
        generated = conn.execute(
            "SELECT (SELECT count(*) FROM staging.xero_credit_note_allocations), "
            "(SELECT count(*) FROM staging.xero_credit_note_payments), "
            "(SELECT count(*) FROM staging.xero_credit_note_line_tracking)"
        ).fetchone()
    assert allocations == [
        (1, "al-1", "60.00", date(2024, 3, 10), "inv-551", "INV-0551", None),
        (2, "al-2", "5.00", date(2024, 3, 11), "inv-552", "INV-0552", True),
    ]
    # dates are the UTC day even 14 hours ahead; the +1300 is display only
    assert payments == [
        (1, "pay-1", date(2024, 3, 12), "20.00", "AUTHORISED", "2024-03-12 12:00:00.123"),
        (2, "pay-2", date(2024, 3, 13), "1.00", "DELETED", None),
    ]
    assert tracking == [(1, 1, "Region", "North"), (2, 1, "Region", "South"),
                        (2, 2, "Department", "Wholesale")]  # fmt: skip
    assert by_invoice == ("INV-0551", "60.00")
    assert all(n > 2 for n in generated), generated  # the generated notes fill them too


def test_children_are_replaced_as_a_set_with_their_credit_note(loaded, warehouse) -> None:
    changed = xero_a()
    changed["Allocations"] = changed["Allocations"][:1]
    changed["Payments"] = []
    changed["LineItems"] = changed["LineItems"][:1]
    changed["RemainingCredit"] = D("81.97")
    loaded.xero.put(TENANT, changed)
    assert loaded.resync_xero() == 0
    with warehouse.connect(autocommit=True) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM staging.xero_credit_note_allocations WHERE credit_note_id = %(id)s), "
            "(SELECT count(*) FROM staging.xero_credit_note_payments WHERE credit_note_id = %(id)s), "
            "(SELECT count(*) FROM staging.xero_credit_note_line_tracking WHERE credit_note_id = %(id)s)",
            {"id": XERO_A},
        ).fetchone()
        view = _view(conn, XERO_A)
    assert counts == (1, 0, 1)
    assert (view["refunded"], view["open_credit"]) == (D("0"), D("81.97"))


def test_reconciliation_passes_on_emulator_data_and_names_a_tampered_document(
    loaded, warehouse, db
) -> None:
    xero, unleashed = stream("xero", "credit_notes"), stream("unleashed", "credit_notes")
    with warehouse.connect() as conn:
        assert reconcile(conn, xero.header, xero.rules).count == 0
        assert reconcile(conn, unleashed.header, unleashed.rules).count == 0
    db.execute(
        "UPDATE staging.xero_credit_notes SET total = total + 0.05 WHERE credit_note_id = %s",
        (XERO_A,),
    )
    db.execute(
        "UPDATE staging.unleashed_credit_note_lines SET line_total = 99.99 WHERE credit_number = 'CN-00009001' AND line_number = 1"
    )
    with warehouse.connect() as conn:
        found = reconcile(conn, xero.header, xero.rules)
        broken_u = reconcile(conn, unleashed.header, unleashed.rules)
    assert found.count == 2 and found.documents == 1
    assert [(b.document_id, b.rule, b.expected, b.actual, b.difference) for b in found.sample] == [
        (
            XERO_A,
            "allocations + payments + remaining = total",
            D("142.02"),
            D("141.97"),
            D("-0.05"),
        ),
        (XERO_A, "subtotal + tax = total", D("142.02"), D("141.97"), D("-0.05")),
    ]
    assert [(b.document_id, b.rule, b.difference) for b in broken_u.sample] == [
        ("CN-00009001", "lines = subtotal", D("-0.01")),
    ]


def _check_runs(loaded: Loaded) -> dict[str, dg.AssetCheckEvaluation]:
    found = {}
    for job in ("xero_sync", "unleashed_sync"):
        result = build_definitions(loaded.resources).resolve_job_def(job).execute_in_process()
        assert result.success
        for e in result.get_asset_check_evaluations():
            if e.check_name == "reconciles":
                found[e.asset_key.to_user_string()] = e
    return found


def test_dagster_reconciles_check_passes_then_lists_the_tampered_document(
    loaded, db: psycopg.Connection
) -> None:
    checks = _check_runs(loaded)
    assert set(checks) == {"xero/credit_notes", "unleashed/credit_notes"}
    assert all(e.passed for e in checks.values())
    # A note older than the sync's overlap window: the job's sync does not re-read (and repair) it.
    doc, total = db.execute(
        "SELECT credit_note_id::text, total::text FROM staging.xero_credit_notes "
        "WHERE updated_date_utc < now() - interval '1 day' AND total > 0 ORDER BY 1 LIMIT 1"
    ).fetchone()
    db.execute(
        "UPDATE staging.xero_credit_notes SET total_tax = total_tax - 0.01 "
        "WHERE credit_note_id = %s",
        (doc,),
    )
    failed = _check_runs(loaded)["xero/credit_notes"]
    assert not failed.passed
    meta = {k: getattr(v, "value", v) for k, v in failed.metadata.items()}
    assert meta["differing_documents"] == 1 and meta["breaks"] == 1
    table = meta["failures"]
    assert doc in table and "subtotal + tax = total" in table
    short = str(Decimal(total) - Decimal("0.01"))
    assert f" {total} |" in table and f" {short} |" in table and " -0.01 |" in table
