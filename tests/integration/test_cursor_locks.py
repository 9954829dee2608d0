"""One consumer per (source, tenant, resource), whatever the runs' tenant lists (invariant 5):
a Xero run configured ``A,B`` and one configured ``A`` can never both consume tenant A, and a
run of ``A`` marks a dead run of ``A,B`` abandoned (it held A's lock while alive).
"""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import psycopg
import pytest

from connector.config import HttpSettings, Secret, XeroSettings
from connector.emulator.server import EmulatorServer
from connector.emulator.xero import create_xero_app
from connector.errors import LockHeldError
from connector.flows.results import SyncResult
from connector.flows.xero import sync_xero
from connector.warehouse import Warehouse

pytestmark = pytest.mark.integration


def _settings(url: str, tenants: tuple[str, ...]) -> XeroSettings:
    return XeroSettings(
        base_url=f"{url}/api.xro/2.0",
        token_url=f"{url}/connect/token",
        client_id="xero-client",
        client_secret=Secret("xero-secret"),
        tenant_ids=tenants,
        http=HttpSettings(timeout=30.0, max_attempts=2, max_retry_wait=2.0),
        cursor_overlap=timedelta(minutes=10),
    )


def test_runs_with_overlapping_tenant_lists_never_consume_a_tenant_together(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    app, state = create_xero_app(seed=41, tenants=("t-a", "t-b"), count=20)
    inside, release = threading.Event(), threading.Event()

    def hold_first_page(tenant: str, page: int) -> None:
        # The first run's first page of tenant A waits until the test has tried the second run.
        if tenant == "t-a" and not inside.is_set():
            inside.set()
            release.wait(30)

    state.on_page = hold_first_page
    with EmulatorServer(app) as server:
        first: list[SyncResult] = []
        both = threading.Thread(
            target=lambda: first.append(sync_xero(_settings(server.url, ("t-a", "t-b")), warehouse))
        )
        both.start()
        try:
            assert inside.wait(30), "the first run never reached tenant A"
            calls_before = len(state.requests)
            second = sync_xero(_settings(server.url, ("t-a",)), warehouse)
            requests_of_second = list(state.requests)[calls_before:]
        finally:
            release.set()
            both.join(60)
        assert isinstance(second.error, LockHeldError), second.reason
        assert second.exit_code == 7
        assert "t-a" in str(second.error) and "sync from cli" in str(second.error)
        assert requests_of_second == []  # it never asked Xero for anything
        assert first and first[0].exit_code == 0, first[0].reason if first else "no result"
        # A run of tenant B alone is not held back by a finished run of A,B.
        assert sync_xero(_settings(server.url, ("t-b",)), warehouse).exit_code == 0


def test_a_run_of_one_tenant_abandons_a_dead_run_that_held_it(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    app, state = create_xero_app(seed=42, tenants=("t-a", "t-b"), count=5, response_delay=30.0)
    with EmulatorServer(app) as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("XERO_", "DATABASE_"))},
            "DATABASE_URL": warehouse.dsn,
            "XERO_BASE_URL": f"{server.url}/api.xro/2.0",
            "XERO_TOKEN_URL": f"{server.url}/connect/token",
            "XERO_CLIENT_ID": "xero-client",
            "XERO_CLIENT_SECRET": "xero-secret",
            "XERO_TENANT_IDS": "t-a,t-b",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "connector", "sync", "xero"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not state.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            assert state.requests, "the killed run never asked Xero"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        (dead,) = db.execute(
            "SELECT run_id FROM connector.sync_runs WHERE status = 'running'"
        ).fetchone()
        with state.lock:
            state.response_delay = 0.0
        result = sync_xero(_settings(server.url, ("t-a",)), warehouse)
        assert result.exit_code == 0, result.reason
        status, error = db.execute(
            "SELECT status, error FROM connector.sync_runs WHERE run_id = %s", (dead,)
        ).fetchone()
        assert status == "abandoned" and "killed or crashed" in error
