"""The `connector` command as a user runs it: a real subprocess, real HTTP, real Postgres."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from connector.warehouse import Warehouse
from connector.warehouse.embedded import embedded_pid, stop_embedded
from tests.integration.traede_support import APP_KEY, SYSTEM_ID, TOKEN, running_traede

pytestmark = pytest.mark.integration


def connector(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TRAEDE_", "DATABASE_URL"))
    }
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def traede_env(url: str, warehouse: Warehouse, **extra: str) -> dict[str, str]:
    return {
        "TRAEDE_BASE_URL": url,
        "TRAEDE_API_TOKEN": TOKEN,
        "TRAEDE_APP_KEY": APP_KEY,
        "TRAEDE_SYSTEM_ID": SYSTEM_ID,
        "DATABASE_URL": warehouse.dsn,
        "CONNECTOR_MAX_RETRY_WAIT": "5",
        **extra,
    }


def test_migrate_twice_changes_nothing_the_second_time(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    db.execute(
        "DROP SCHEMA staging CASCADE; DROP SCHEMA connector CASCADE; DROP SCHEMA analytics CASCADE"
    )
    env = {"DATABASE_URL": warehouse.dsn}
    first = connector("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_schemas.sql" in first.stdout
    tables = db.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname IN ('staging','connector')"
    ).fetchone()
    second = connector("migrate", env=env)
    assert second.returncode == 0 and "up to date" in second.stdout
    assert "applied" not in second.stdout
    assert (
        db.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname IN ('staging','connector')"
        ).fetchone()
        == tables
    )


def test_sync_status_and_check_end_to_end_without_leaking_secrets(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    with running_traede(warehouse, invoices=70, credit_notes=20, accounting_entries=70) as t:
        env = traede_env(t.server.url, warehouse)
        sync = connector("-vv", "sync", "traede", env=env)
        assert sync.returncode == 0, sync.stderr
        assert "succeeded" in sync.stdout and "marked" in sync.stdout
        again = connector("sync", "traede", "--resource", "invoices", env=env)
        assert again.returncode == 0
        status = connector("status", env=env)
        assert status.returncode == 0 and "export outbox" in status.stdout
        check = connector("check", env=env)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "✔ database" in check.stdout and "✔ traede" in check.stdout
        for proc in (sync, again, status, check):
            for secret in (TOKEN, APP_KEY):
                assert secret not in proc.stdout and secret not in proc.stderr
        assert t.state.violations == []


def test_bad_credentials_exit_4_naming_the_variable_not_the_value(warehouse: Warehouse) -> None:
    with running_traede(warehouse, invoices=3) as t:
        wrong = "wrong-token-0xDEADBEEF"
        env = traede_env(t.server.url, warehouse, TRAEDE_API_TOKEN=wrong)
        proc = connector("sync", "traede", env=env)
        assert proc.returncode == 4
        assert "TRAEDE_API_TOKEN" in proc.stderr
        assert wrong not in proc.stdout + proc.stderr
        check = connector("check", env=env)
        assert check.returncode != 0 and "✘ traede" in check.stdout
        assert wrong not in check.stdout + check.stderr


def test_missing_settings_exit_2_naming_them(warehouse: Warehouse) -> None:
    proc = connector("sync", "traede", env={"DATABASE_URL": warehouse.dsn})
    assert proc.returncode == 2
    assert "TRAEDE_API_TOKEN" in proc.stderr and "TRAEDE_SYSTEM_ID" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_rejects_give_exit_8_with_one_line_reason(warehouse: Warehouse) -> None:
    with running_traede(warehouse, accounting_entries=10) as t:
        t.state.add_raw_document("accounting_entries", 999999, '{"id": 999999, "amount": "oops"}')
        proc = connector("sync", "traede", env=traede_env(t.server.url, warehouse))
        assert proc.returncode == 8
        assert "rejected" in proc.stderr.strip().splitlines()[-1]


def test_unreachable_database_names_host_and_database_not_password() -> None:
    env = {"DATABASE_URL": "postgresql://etl:pa55w0rd-x@127.0.0.1:1/finance"}
    proc = connector("migrate", env=env)
    assert proc.returncode == 6
    assert "finance" in proc.stderr and "127.0.0.1" in proc.stderr
    assert "pa55w0rd-x" not in proc.stderr + proc.stdout


def test_embedded_postgres_is_started_reused_and_its_location_printed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"CONNECTOR_HOME": str(home)}
    try:
        first = connector("migrate", env=env)
        assert first.returncode == 0, first.stderr
        assert str(home / "pgdata") in first.stderr
        pid = embedded_pid(home)
        assert pid is not None
        second = connector("migrate", env=env)
        assert second.returncode == 0 and "up to date" in second.stdout
        assert embedded_pid(home) == pid  # reused, not restarted
        status = connector("db", "status", env=env)
        assert f"running (pid {pid})" in status.stdout
        stopped = connector("db", "stop", env=env)
        assert stopped.returncode == 0 and f"stopped (pid {pid})" in stopped.stdout
        assert embedded_pid(home) is None
        assert "not running" in connector("db", "stop", env=env).stdout
        assert "stopped" in connector("db", "status", env=env).stdout
    finally:
        stop_embedded(home)  # whatever the test left running


def test_python_dash_m_and_help() -> None:
    proc = connector("--help", env={})
    assert proc.returncode == 0
    for command in ("migrate", "sync", "mark", "status", "check", "emulator", "demo"):
        assert command in proc.stdout


def test_sync_xero_and_unleashed_from_the_command_line(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    from connector.emulator.server import EmulatorServer
    from connector.emulator.unleashed import create_unleashed_app
    from connector.emulator.xero import create_xero_app

    xero_app, _ = create_xero_app(seed=2, tenants=("t-1",), count=30)
    unleashed_app, _ = create_unleashed_app(
        seed=2, count=25, api_id="cli-id", api_key="cli-key-value"
    )
    with EmulatorServer(xero_app) as xero, EmulatorServer(unleashed_app) as unleashed:
        env = {
            "DATABASE_URL": warehouse.dsn,
            "XERO_BASE_URL": f"{xero.url}/api.xro/2.0",
            "XERO_TOKEN_URL": f"{xero.url}/connect/token",
            "XERO_CLIENT_ID": "xero-client",
            "XERO_CLIENT_SECRET": "xero-secret",
            "XERO_TENANT_IDS": "t-1",
            "UNLEASHED_BASE_URL": unleashed.url,
            "UNLEASHED_API_ID": "cli-id",
            "UNLEASHED_API_KEY": "cli-key-value",
        }
        for source in ("xero", "unleashed"):
            proc = connector("sync", source, env=env)
            assert proc.returncode == 0, proc.stderr
        xero_rows = db.execute("SELECT count(*) FROM staging.xero_credit_notes").fetchone()[0]
        unleashed_rows = db.execute(
            "SELECT count(*) FROM staging.unleashed_credit_notes"
        ).fetchone()[0]
        assert xero_rows >= 30 and unleashed_rows >= 25
        check = connector("check", env=env)
        assert "✔ xero" in check.stdout and "✔ unleashed" in check.stdout
        wrong = connector("sync", "unleashed", env={**env, "UNLEASHED_API_KEY": "not-the-key-123"})
        assert wrong.returncode == 4
        assert (
            "UNLEASHED_API_KEY" in wrong.stderr
            and "not-the-key-123" not in wrong.stderr + wrong.stdout
        )
        wrong = connector("sync", "xero", env={**env, "XERO_CLIENT_SECRET": "not-the-secret-456"})
        assert wrong.returncode == 4
        assert (
            "XERO_CLIENT_SECRET" in wrong.stderr
            and "not-the-secret-456" not in wrong.stderr + wrong.stdout
        )


def test_full_resync_and_mid_crawl_modes_are_on_the_command_line() -> None:
    for source in ("xero", "unleashed"):
        assert "--full" in connector("sync", source, "--help", env={}).stdout
        assert "--edit-mid-crawl" in connector("emulator", source, "--help", env={}).stdout
    assert "--delete-mid-crawl" in connector("emulator", "unleashed", "--help", env={}).stdout
