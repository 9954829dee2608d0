"""Full re-sync of the cursor sources: ``connector sync xero|unleashed --full``, the Dagster run
config ``full`` and the ``weekly_full_resync`` schedule. An edit that never bumps the modified
timestamp (docs/apis.md §2.4) is invisible to a normal run and found by a full one; the cursor
ends where a normal run leaves it.
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg
import psycopg
import pytest

from connector.emulator.server import EmulatorServer
from connector.emulator.unleashed import create_unleashed_app
from connector.emulator.xero import create_xero_app
from connector.warehouse import Warehouse
from dagster_defs.definitions import build_definitions, defs
from dagster_defs.resources import (
    TraedeApiResource,
    UnleashedApiResource,
    WarehouseResource,
    XeroApiResource,
)
from tests.integration.test_cli import connector

pytestmark = pytest.mark.integration
API_ID, API_KEY = "full-id", "full-key-value"


def _env(xero_url: str, unleashed_url: str, warehouse: Warehouse) -> dict[str, str]:
    return {
        "DATABASE_URL": warehouse.dsn,
        "XERO_BASE_URL": f"{xero_url}/api.xro/2.0",
        "XERO_TOKEN_URL": f"{xero_url}/connect/token",
        "XERO_CLIENT_ID": "xero-client",
        "XERO_CLIENT_SECRET": "xero-secret",
        "XERO_TENANT_IDS": "t-1",
        "UNLEASHED_BASE_URL": unleashed_url,
        "UNLEASHED_API_ID": API_ID,
        "UNLEASHED_API_KEY": API_KEY,
    }


def _cursors(db: psycopg.Connection) -> dict[str, Any]:
    return dict(db.execute("SELECT source, cursor_value FROM connector.cursors"))


def _silent_edits(xero: Any, unleashed: Any) -> tuple[str, str]:
    """Change one old record of each source without touching its modified timestamp."""
    note = xero.records("t-1")[2]
    same_time = {"UpdatedDateUTC": note["UpdatedDateUTC"]}
    xero.put("t-1", {"CreditNoteID": note["CreditNoteID"], "Reference": "silent", **same_time})
    old = unleashed.ordered()[-3]
    unleashed.edit(old.credit_number, {"Comments": "silent"}, modified=old.modified)
    return note["CreditNoteID"], old.credit_number


def _values(db: psycopg.Connection, xero_id: str, number: str) -> tuple[Any, Any]:
    xero = db.execute(
        "SELECT reference FROM staging.xero_credit_notes WHERE credit_note_id = %s", (xero_id,)
    ).fetchone()
    unleashed = db.execute(
        "SELECT comments FROM staging.unleashed_credit_notes WHERE credit_number = %s", (number,)
    ).fetchone()
    return xero[0], unleashed[0]


def test_full_flag_rereads_everything_and_leaves_the_cursor_where_a_normal_run_does(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    xero_app, xero = create_xero_app(seed=31, tenants=("t-1",), count=30)
    unleashed_app, unleashed = create_unleashed_app(
        seed=31, count=40, api_id=API_ID, api_key=API_KEY
    )
    with EmulatorServer(xero_app) as x, EmulatorServer(unleashed_app) as u:
        env = _env(x.url, u.url, warehouse)
        for source in ("xero", "unleashed"):
            assert connector("sync", source, env=env).returncode == 0
        cursors = _cursors(db)
        xero_id, number = _silent_edits(xero, unleashed)
        for source in ("xero", "unleashed"):
            assert connector("sync", source, env=env).returncode == 0
        assert "silent" not in _values(db, xero_id, number)  # invisible incrementally
        xero.requests.clear()
        for source in ("xero", "unleashed"):
            done = connector("sync", source, "--full", env=env)
            assert done.returncode == 0, done.stderr
        assert _values(db, xero_id, number) == ("silent", "silent")
        assert xero.requests[0]["if_modified_since"] is None  # asked for everything
        assert "modifiedSince" not in unleashed.calls[-1]["query"]
        assert _cursors(db) == cursors  # where a normal run leaves it
        runs = db.execute(
            "SELECT source, options->>'full' FROM connector.sync_runs "
            "WHERE options ? 'full' ORDER BY started_at"
        ).fetchall()
        assert runs == [("xero", "true"), ("unleashed", "true")]
        counts = db.execute(
            "SELECT (SELECT count(*) FROM staging.xero_credit_notes), "
            "(SELECT count(*) FROM staging.unleashed_credit_notes)"
        ).fetchone()
        assert counts == (len(xero.records("t-1")), len(unleashed.notes))


def test_weekly_full_resync_schedule_and_job(
    warehouse: Warehouse, db: psycopg.Connection, pg_url: str
) -> None:
    schedule = build_definitions(timezone="Europe/Copenhagen").resolve_schedule_def(
        "weekly_full_resync"
    )
    assert schedule.cron_schedule == "0 3 * * 0" and schedule.job_name == "full_resync_job"
    assert schedule.execution_timezone == "Europe/Copenhagen"
    assert defs.resolve_schedule_def("weekly_full_resync").execution_timezone == "UTC"
    sunday = datetime(2025, 3, 9, 3, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=sunday) as context:
        data = defs.resolve_schedule_def("weekly_full_resync").evaluate_tick(context)
    assert data.run_requests is not None and len(data.run_requests) == 1
    ops = data.run_requests[0].run_config["ops"]
    assert ops == {
        "xero__credit_notes": {"config": {"full": True}},
        "unleashed__credit_notes": {"config": {"full": True}},
    }
    job = defs.resolve_job_def("full_resync_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
        "xero/credit_notes",
        "unleashed/credit_notes",
    }

    xero_app, xero = create_xero_app(seed=32, tenants=("t-1",), count=20)
    unleashed_app, unleashed = create_unleashed_app(
        seed=32, count=20, api_id=API_ID, api_key=API_KEY
    )
    with EmulatorServer(xero_app) as x, EmulatorServer(unleashed_app) as u:
        resources = {
            "traede": TraedeApiResource(),
            "xero": XeroApiResource(
                base_url=f"{x.url}/api.xro/2.0",
                token_url=f"{x.url}/connect/token",
                client_id="xero-client",
                client_secret="xero-secret",
                tenant_ids="t-1",
            ),
            "unleashed": UnleashedApiResource(base_url=u.url, api_id=API_ID, api_key=API_KEY),
            "warehouse": WarehouseResource(database_url=pg_url),
        }
        built = build_definitions(resources)
        normal = built.resolve_job_def("xero_sync").execute_in_process(raise_on_error=False)
        assert normal.success
        built.resolve_job_def("unleashed_sync").execute_in_process()
        cursors = _cursors(db)
        xero_id, number = _silent_edits(xero, unleashed)
        result = built.resolve_job_def("full_resync_job").execute_in_process(raise_on_error=False)
        assert result.success
        assert _values(db, xero_id, number) == ("silent", "silent")
        assert _cursors(db) == cursors
