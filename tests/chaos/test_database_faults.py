"""Database faults during a run: Postgres restarted (fast shutdown) mid-load and mid-marking,
the connector's connections terminated (the lock connection; every connection), and a
statement timeout that a big batch cannot meet. Each time: nothing marked that is not
committed (the emulator's ``before_mark`` hook checks it against the database), a clear
one-line typed error, and the next run recovers with the invariants intact.
"""

import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.config import WarehouseSettings
from connector.errors import ConnectorError
from connector.flows.results import EXIT_OK, SyncResult
from connector.flows.traede import SyncOptions, run_traede
from connector.warehouse import Warehouse
from connector.warehouse.engine import libpq_dsn
from tests.integration.traede_support import (
    assert_invariants,
    assert_staging_matches,
    expected_ids,
    running_traede,
)

pytestmark = [pytest.mark.chaos, pytest.mark.integration]
ALL = ("invoices", "credit_notes", "accounting_entries")
EXIT_WAREHOUSE = 6


def _sized(warehouse: Warehouse, batch_size: int) -> Warehouse:
    return Warehouse(
        WarehouseSettings(database_url=None, home=warehouse.settings.home, batch_size=batch_size),
        target=warehouse.target,
    )


def _monitor(warehouse: Warehouse) -> psycopg.Connection:
    return psycopg.connect(warehouse.dsn, autocommit=True, application_name="chaos-mon")


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never saw: {what}"
        time.sleep(0.01)


class Background:
    """``run_traede`` on a thread, so the test can break the database under it."""

    def __init__(self, fn: Callable[[], SyncResult]) -> None:
        self.result: SyncResult | None = None
        self.crash: BaseException | None = None

        def target() -> None:
            try:
                self.result = fn()
            except BaseException as exc:
                self.crash = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def join(self) -> SyncResult:
        self.thread.join(120)
        assert not self.thread.is_alive(), "the run hung after the database fault"
        assert self.crash is None, f"the run crashed instead of failing cleanly: {self.crash!r}"
        assert self.result is not None
        return self.result


def _outbox(conn: psycopg.Connection, state: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM connector.export_outbox WHERE state = %s", (state,)
    ).fetchone()
    return int(row[0]) if row else 0


def _restart_postgres(admin_url: str) -> None:
    """``pg_ctl restart -m fast`` on the embedded server (pgserver's own binaries).

    The data directory is asked as the superuser: the connector's role may not read it.
    """
    with psycopg.connect(libpq_dsn(make_url(admin_url)), autocommit=True) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    pgdata = Path(str(row[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver import _commands

    user = "pgserver" if os.geteuid() == 0 else None
    log = pgdata / "log"
    args = ["-w", "-t", "60", "restart", "-m", "fast"]
    if log.exists():
        args = ["-l", str(log), *args]
    _commands.pg_ctl(args, pgdata=pgdata, user=user, timeout=90)


def _check_failed_cleanly(result: SyncResult, state) -> None:
    assert isinstance(result.error, ConnectorError), result.error
    assert result.exit_code == EXIT_WAREHOUSE, (result.exit_code, result.reason)
    assert result.reason and "\n" not in result.reason
    # The hook refuses a mark (500, nothing marked) when it cannot reach the database to
    # verify it, which a restart causes; only "marked before commit" is a real violation.
    real = [v for v in state.violations if "marked before commit" in v]
    assert real == [], real
    with state.lock:
        state.violations[:] = real


def _recovers(warehouse: Warehouse, t) -> None:
    again = run_traede(t.settings, warehouse, SyncOptions())
    assert again.exit_code == EXIT_OK, again.reason
    with warehouse.connect(autocommit=True) as db:
        for resource in ALL:
            assert_staging_matches(db, t.state, resource, expected_ids(t.state, resource))
        assert_invariants(db, t.state, ALL)
        rows = db.execute("SELECT status FROM connector.sync_runs ORDER BY started_at").fetchall()
        assert [r[0] for r in rows][-1] == "succeeded"
        assert "running" not in {r[0] for r in rows}


controllable = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")),
    reason="TEST_DATABASE_URL points to a server this test cannot restart",
)


@controllable
@pytest.mark.parametrize("phase", ["load", "mark"])
def test_postgres_restart_mid_run_fails_cleanly_and_the_next_run_recovers(
    warehouse: Warehouse, phase: str, pg_admin_url: str
) -> None:
    small = _sized(warehouse, 100)
    faults = "*.export:slow@p=1,delay=0.02" if phase == "load" else "*.mark:slow@p=1,delay=0.05"
    with running_traede(
        warehouse, invoices=600, credit_notes=100, accounting_entries=300, faults=faults
    ) as t:
        with _monitor(warehouse) as mon:
            run = Background(lambda: run_traede(t.settings, small, SyncOptions()))
            if phase == "load":
                _wait_for(lambda: _outbox(mon, "pending") >= 200, "batches committed")
            else:
                _wait_for(
                    lambda: sum(t.state.calls[k] for k in t.state.calls if ".mark" in k) > 3,
                    "marking under way",
                )
            _restart_postgres(pg_admin_url)
            mon.close()  # it was cut by the restart; closing it is all that is left to do
        result = run.join()
        _check_failed_cleanly(result, t.state)
        t.state.set_faults(None)
        _recovers(warehouse, t)


@pytest.mark.parametrize("who", ["lock connection", "every connection"])
@pytest.mark.parametrize("phase", ["load", "mark"])
def test_terminated_connections_fail_cleanly_and_the_next_run_recovers(
    warehouse: Warehouse, who: str, phase: str
) -> None:
    small = _sized(warehouse, 100)
    faults = "*.export:slow@p=1,delay=0.02" if phase == "load" else "*.mark:slow@p=1,delay=0.05"
    with running_traede(
        warehouse, invoices=600, credit_notes=100, accounting_entries=300, faults=faults
    ) as t:
        with _monitor(warehouse) as mon:
            run = Background(lambda: run_traede(t.settings, small, SyncOptions()))
            if phase == "load":
                _wait_for(lambda: _outbox(mon, "pending") >= 200, "batches committed")
            else:
                _wait_for(
                    lambda: sum(t.state.calls[k] for k in t.state.calls if ".mark" in k) > 3,
                    "marking under way",
                )
            where = (
                "application_name LIKE 'connector run %%'"
                if who == "lock connection"
                else "datname = current_database() AND application_name NOT LIKE 'chaos-%%'"
            )
            killed = mon.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND {where}"
            ).fetchall()
            assert killed, "no connector backend found to terminate"
        result = run.join()
        _check_failed_cleanly(result, t.state)
        if who == "lock connection":
            assert "lost the consumer lock" in result.reason
        t.state.set_faults(None)
        _recovers(warehouse, t)


def test_statement_timeout_rolls_the_batch_back_and_the_next_run_recovers(
    warehouse: Warehouse, pg_admin_url: str
) -> None:
    big = _sized(warehouse, 5000)
    name = warehouse.target.database
    with running_traede(warehouse, invoices=3000, accounting_entries=200) as t:
        admin = psycopg.connect(libpq_dsn(make_url(pg_admin_url)), autocommit=True)
        with _monitor(warehouse) as mon, admin:
            # A DBA's setting (the database is not the connector's own): as the superuser.
            admin.execute(f"ALTER DATABASE \"{name}\" SET statement_timeout = '30ms'")
            try:
                result = run_traede(t.settings, big, SyncOptions())
            finally:
                admin.execute(f'ALTER DATABASE "{name}" RESET statement_timeout')
            _check_failed_cleanly(result, t.state)
            assert "statement timeout" in result.reason, result.reason
            # The batch that timed out left nothing behind: no invoice row, no outbox row.
            row = mon.execute("SELECT count(*) FROM staging.traede_invoices").fetchone()
            assert row == (0,)
            assert not t.state.marks("invoices")
        _recovers(warehouse, t)
