"""Postgres fixtures for every suite (registered by tests/conftest.py): a real Postgres (``TEST_DATABASE_URL`` or an embedded one started here,
never a skip) with a fresh migrated database per test.
"""

import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.config import WarehouseSettings
from connector.warehouse import Warehouse
from connector.warehouse.embedded import embedded_pid, embedded_url
from connector.warehouse.engine import Target, libpq_dsn
from connector.warehouse.migrations import apply_migrations

TEMPLATE = "connector_test_template"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """SQLAlchemy URL of the server's maintenance database.

    The embedded server lives in its own temporary directory (not pytest's tmp tree, which
    other pytest processes on the machine may prune) and is stopped when the session ends.
    """
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given.replace("postgresql://", "postgresql+psycopg://", 1)
        return
    home = Path(tempfile.mkdtemp(prefix="connector-test-pg-"))
    try:
        yield embedded_url(home, "postgres")
    finally:
        _stop_embedded(home)
        shutil.rmtree(home, ignore_errors=True)


def _stop_embedded(home: Path) -> None:
    pid = embedded_pid(home)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGINT)  # "fast" shutdown: roll back sessions, stop
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(libpq_dsn(make_url(url)), autocommit=True)


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str) -> str:
    """A migrated template database; each test clones it (fast, and always current)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"{TEMPLATE}_{worker}"
    with _admin(pg_server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(pg_server_url).set(database=name)
    with psycopg.connect(libpq_dsn(url)) as conn:
        apply_migrations(conn)
    return name


@pytest.fixture
def pg_url(pg_server_url: str, pg_template: str) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, migrated database for this test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with _admin(pg_server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    with _admin(pg_server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def warehouse(pg_url: str, tmp_path: Path) -> Iterator[Warehouse]:
    """A :class:`Warehouse` on the fresh test database."""
    wh = Warehouse(
        WarehouseSettings(database_url=None, home=tmp_path / "home"),
        target=Target(make_url(pg_url), embedded=False),
    )
    yield wh
    wh.dispose()


@pytest.fixture
def db(warehouse: Warehouse) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A psycopg connection (autocommit) to the test database, for assertions."""
    with warehouse.connect(autocommit=True) as conn:
        yield conn
