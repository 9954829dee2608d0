"""The relational checks behind the Dagster asset checks (connector/warehouse/checks.py): each
passes on what a sync leaves and fails on data tampered the way it guards against.
"""

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.flows.results import EXIT_OK
from connector.flows.traede import SyncOptions, run_traede
from connector.tables.registry import stream
from connector.warehouse import Warehouse
from connector.warehouse import checks as sql_checks
from connector.warehouse.engine import libpq_dsn
from tests.integration.traede_support import SYSTEM_ID, running_traede

pytestmark = pytest.mark.integration

INVOICES = stream("traede", "invoices")
CREDIT_NOTES = stream("traede", "credit_notes")


@pytest.fixture
def synced(warehouse: Warehouse, db: psycopg.Connection) -> Iterator[psycopg.Connection]:
    with running_traede(warehouse, invoices=30, credit_notes=12) as t:
        options = SyncOptions(resources=("invoices", "credit_notes"))
        assert run_traede(t.settings, warehouse, options).exit_code == EXIT_OK
    yield db


def _missing_outbox(conn: psycopg.Connection, s=INVOICES) -> sql_checks.Orphans:
    return sql_checks.documents_without_outbox_row(
        conn, s.header, source="traede", resource=s.resource, system_id=SYSTEM_ID
    )


def _orphan_outbox(conn: psycopg.Connection, s=INVOICES) -> sql_checks.Orphans:
    return sql_checks.outbox_rows_without_document(
        conn, s.header, source="traede", resource=s.resource
    )


def _orphan_lines(conn: psycopg.Connection, s=INVOICES) -> sql_checks.Orphans:
    assert s.lines is not None
    return sql_checks.lines_without_document(conn, s.header, s.lines)


def test_every_check_passes_on_what_a_sync_leaves(synced: psycopg.Connection) -> None:
    for s in (INVOICES, CREDIT_NOTES):
        assert _missing_outbox(synced, s).count == 0
        assert _orphan_outbox(synced, s).count == 0
        assert _orphan_lines(synced, s).count == 0


def test_a_document_without_its_outbox_row_fails(synced: psycopg.Connection) -> None:
    doc_id = synced.execute("SELECT min(id) FROM staging.traede_invoices").fetchone()[0]
    synced.execute(
        "DELETE FROM connector.export_outbox WHERE resource = 'invoices' AND document_id = %s",
        (doc_id,),
    )
    found = _missing_outbox(synced)
    assert found.count == 1 and found.sample == [str(doc_id)]
    # another system id's outbox row does not count for this one
    other = sql_checks.documents_without_outbox_row(
        synced, INVOICES.header, source="traede", resource="invoices", system_id="erp-other"
    )
    assert (
        other.count == synced.execute("SELECT count(*) FROM staging.traede_invoices").fetchone()[0]
    )
    assert _missing_outbox(synced, CREDIT_NOTES).count == 0


def test_an_outbox_row_without_its_document_fails(synced: psycopg.Connection) -> None:
    doc_id = synced.execute("SELECT max(id) FROM staging.traede_credit_notes").fetchone()[0]
    synced.execute("DELETE FROM staging.traede_credit_notes WHERE id = %s", (doc_id,))
    found = _orphan_outbox(synced, CREDIT_NOTES)
    assert found.count == 1 and found.sample == [f"{SYSTEM_ID}:{doc_id}"]
    assert _orphan_outbox(synced, INVOICES).count == 0


def test_a_line_without_its_document_fails(synced: psycopg.Connection, pg_admin_url: str) -> None:
    # The foreign key holds this unless triggers are skipped, as a replica-role session or a
    # restore with --disable-triggers does: exactly what the check is there to catch. Only a
    # superuser may skip triggers, so the tampering runs as one (the check runs as the ETL role).
    with psycopg.connect(libpq_dsn(make_url(pg_admin_url)), autocommit=True) as admin:
        admin.execute("SET session_replication_role = replica")
        admin.execute(
            "INSERT INTO staging.traede_invoice_lines (invoice_id, line_number, quantity, "
            "total_price, _raw, _loaded_at, _run_id) VALUES (999999999, 1, 1, 1, '{}', now(), 'x')"
        )
    found = _orphan_lines(synced)
    assert found.count == 1 and found.sample == ["999999999 line 1"]
    assert _orphan_lines(synced, CREDIT_NOTES).count == 0
