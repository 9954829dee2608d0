"""The ``traede_sync`` Dagster job end to end: the TRAEDE emulator over loopback HTTP, a real
Postgres, every load, mark and check step; then a backfill run with ``not_exported_since``.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.warehouse import Warehouse
from connector.warehouse.engine import libpq_dsn
from dagster_defs.definitions import build_definitions
from dagster_defs.resources import (
    TraedeApiResource,
    UnleashedApiResource,
    WarehouseResource,
    XeroApiResource,
)
from tests.integration.traede_support import (
    APP_KEY,
    SYSTEM_ID,
    TOKEN,
    Traede,
    assert_invariants,
    expected_ids,
    marked_ids,
    running_traede,
    staging_ids,
)

pytestmark = pytest.mark.integration

RESOURCES = ("invoices", "credit_notes", "accounting_entries")


def _resources(t: Traede, pg_url: str) -> dict[str, Any]:
    return {
        "traede": TraedeApiResource(
            base_url=t.server.url,
            api_token=TOKEN,
            app_key=APP_KEY,
            system_id=SYSTEM_ID,
            mark_concurrency=2,
        ),
        "warehouse": WarehouseResource(database_url=pg_url),
        "xero": XeroApiResource(),
        "unleashed": UnleashedApiResource(),
    }


def _run(t: Traede, pg_url: str, since: str | None = None) -> dg.ExecuteInProcessResult:
    ops: dict[str, Any] = {}
    for resource in RESOURCES:
        ops[f"traede__{resource}"] = {
            "config": {"not_exported_since": since, "include_non_booked": False}
        }
        ops[f"traede__{resource}_marked"] = {"config": {"mark_concurrency": 3}}
    job = build_definitions(_resources(t, pg_url)).resolve_job_def("traede_sync")
    return job.execute_in_process(run_config={"ops": ops}, raise_on_error=False)


def _metadata(result: dg.ExecuteInProcessResult, key: list[str]) -> dict[str, Any]:
    [event] = [
        m
        for m in result.asset_materializations_for_node("__".join(key))
        if m.asset_key == dg.AssetKey(key)
    ]
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


def _checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], bool]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e.passed
        for e in result.get_asset_check_evaluations()
    }


def test_traede_sync_job_loads_marks_and_checks(
    warehouse: Warehouse, db: psycopg.Connection, pg_url: str
) -> None:
    with running_traede(warehouse, invoices=40, credit_notes=15, accounting_entries=25) as t:
        result = _run(t, pg_url)
        assert result.success, [e.message for e in result.all_events if e.is_failure]

        for resource in RESOURCES:
            expected = set(expected_ids(t.state, resource))
            assert expected, resource
            assert staging_ids(db, resource) == expected
            assert marked_ids(t.state, resource) == expected

            loaded = _metadata(result, ["traede", resource])
            assert loaded["fetched"] == len(expected)
            assert loaded["inserted"] == len(expected)
            assert loaded["rejected"] == 0
            assert loaded["api_calls"] >= 1
            assert loaded["dagster/row_count"] == len(expected)
            assert "|" in loaded["preview"]
            schema = loaded["dagster/column_schema"]
            assert "id" in [c.name for c in schema.columns]

            marked = _metadata(result, ["traede", f"{resource}_marked"])
            assert marked["marked"] == len(expected)
            assert marked["failed"] == 0
            assert marked["calls"] >= -(-len(expected) // 10)

        checks = _checks(result)
        # 6 per resource (rejects, freshness, drift, outbox rows both ways, outbox drained),
        # and every_line_has_its_document + reconciles on the two with lines
        assert len(checks) == 22
        assert all(checks.values()), {k: v for k, v in checks.items() if not v}
        assert checks[("traede/invoices", "reconciles")]
        assert checks[("traede/credit_notes_marked", "outbox_drained")]
        assert_invariants(db, t.state, RESOURCES)

        # Nothing new: a plain re-run fetches and marks nothing.
        again = _run(t, pg_url)
        assert again.success
        assert _metadata(again, ["traede", "invoices"])["fetched"] == 0
        assert _metadata(again, ["traede", "invoices_marked"])["marked"] == 0

        # A backfill re-delivers what was exported since then and marks it again.
        first = t.state.marks("invoices", SYSTEM_ID)[SYSTEM_ID]
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        backfill = _run(t, pg_url, since=since)
        assert backfill.success
        for resource in RESOURCES:
            n = len(expected_ids(t.state, resource))
            assert _metadata(backfill, ["traede", resource])["fetched"] == n
            assert _metadata(backfill, ["traede", resource])["updated"] == 0
            assert _metadata(backfill, ["traede", f"{resource}_marked"])["marked"] == n
        remarked = t.state.marks("invoices", SYSTEM_ID)[SYSTEM_ID]
        assert all(remarked[i].at >= first[i].at for i in first)
        assert all(_checks(backfill).values())
        assert_invariants(db, t.state, RESOURCES)
        runs = db.execute(
            "SELECT kind, count(*) FROM connector.sync_runs WHERE trigger = 'dagster' "
            "AND external_run_id = %s GROUP BY kind",
            (backfill.run_id,),
        ).fetchall()
        assert dict(runs) == {"load": 3, "mark": 3}


def test_checks_fail_on_tampered_data_and_a_new_source_field(
    warehouse: Warehouse, db: psycopg.Connection, pg_url: str, pg_admin_url: str
) -> None:
    """The checks that replaced primary_key_unique, and the drift check, can fail: tamper and
    send a new field, re-run, see exactly those fail.
    """
    names = (
        "every_document_has_an_outbox_row",
        "every_outbox_row_has_its_document",
        "every_line_has_its_document",
    )
    with running_traede(warehouse, invoices=20, credit_notes=8, accounting_entries=5) as t:
        clean = _checks(_run(t, pg_url))
        assert all(clean[(f"traede/{r}", n)] for r in ("invoices", "credit_notes") for n in names)
        invoice = db.execute("SELECT min(id) FROM staging.traede_invoices").fetchone()[0]
        db.execute(
            "DELETE FROM connector.export_outbox WHERE resource = 'invoices' AND document_id = %s",
            (invoice,),
        )
        db.execute("DELETE FROM staging.traede_accounting_entries WHERE id = (SELECT min(id) "
                   "FROM staging.traede_accounting_entries)")  # fmt: skip
        # Skipping the foreign key's trigger takes a superuser (the connector's role cannot).
        with psycopg.connect(libpq_dsn(make_url(pg_admin_url)), autocommit=True) as admin:
            admin.execute("SET session_replication_role = replica")
            admin.execute(
                "INSERT INTO staging.traede_credit_note_lines (credit_note_id, line_number, "
                "quantity, total_price, _raw, _loaded_at, _run_id) "
                "VALUES (42, 1, 1, 1, '{}', now(), 'x')"
            )
        base = t.state.document("credit_notes", 500001)
        t.state.add_documents("credit_notes", [dict(base, id=510001, status="booked", rma="R1")])
        tampered = _checks(_run(t, pg_url))
    failed = {k for k, passed in tampered.items() if not passed}
    assert failed == {
        ("traede/invoices", "every_document_has_an_outbox_row"),
        ("traede/accounting_entries", "every_outbox_row_has_its_document"),
        ("traede/credit_notes", "every_line_has_its_document"),
        ("traede/credit_notes", "no_new_unmapped_source_keys"),
    }, failed


def test_traede_sync_job_fails_step_with_library_error(warehouse: Warehouse, pg_url: str) -> None:
    """A load that fails (bad token: 401) fails its step with the typed error's message,
    marks nothing and is not retried by Dagster.
    """
    with running_traede(warehouse, invoices=5) as t:
        resources = _resources(t, pg_url)
        resources["traede"] = TraedeApiResource(
            base_url=t.server.url, api_token="wrong", app_key=APP_KEY, system_id=SYSTEM_ID
        )
        job = build_definitions(resources).resolve_job_def("traede_sync")
        result = job.execute_in_process(raise_on_error=False)
        assert not result.success
        failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert failures
        messages = " ".join(str(e.step_failure_data.error) for e in failures)
        assert "PermanentSourceError" in messages
        assert "wrong" not in messages
        retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert retries == []
        assert marked_ids(t.state, "invoices") == set()
