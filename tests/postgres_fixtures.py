"""Postgres fixtures for every suite (registered by tests/conftest.py): a real Postgres (``TEST_DATABASE_URL`` or an embedded one started here,
never a skip) with a fresh migrated database per test.

The connector never connects as a superuser here: ``pg_url`` (and every fixture built on it)
is the role ``connector_etl``, which holds exactly what README "Warehouse permissions"
documents: LOGIN, no SUPERUSER, no CREATEDB, no CREATEROLE, no server-file roles, and CREATE on
its database (so it creates and owns its three schemas). Only the fixtures themselves (creating
and dropping databases) use the superuser URL ``pg_server_url``.
"""

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.config import WarehouseSettings
from connector.warehouse import Warehouse
from connector.warehouse.embedded import embedded_url, stop_embedded
from connector.warehouse.engine import Target, libpq_dsn
from connector.warehouse.migrations import apply_migrations

TEMPLATE = "connector_test_template"
ETL_ROLE = "connector_etl"
ETL_PASSWORD = "connector-etl-test"  # a test server's throwaway role (TEST_DATABASE_URL: md5/scram)


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
        stop_embedded(home)
        shutil.rmtree(home, ignore_errors=True)


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(libpq_dsn(make_url(url)), autocommit=True)


def create_role(server_url: str, role: str, password: str) -> None:
    """Create ``role`` with LOGIN and nothing else (no superuser, CREATEDB, CREATEROLE)."""
    # Another xdist worker (or an earlier run on TEST_DATABASE_URL) may have made it.
    exists = (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation)
    with _admin(server_url) as conn, contextlib.suppress(*exists):
        conn.execute(
            f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
            f"NOREPLICATION NOBYPASSRLS PASSWORD '{password}'"
        )


def role_url(server_url: str, database: str, role: str, password: str) -> str:
    """The SQLAlchemy URL of ``database`` on the test server, connecting as ``role``."""
    url = make_url(server_url).set(database=database, username=role, password=password)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def etl_role(pg_server_url: str) -> str:
    """The least-privileged role every test connects as (see the module docstring)."""
    create_role(pg_server_url, ETL_ROLE, ETL_PASSWORD)
    return ETL_ROLE


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str, etl_role: str) -> str:
    """A template database migrated by the ETL role; each test clones it (fast, current)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"{TEMPLATE}_{worker}"
    with _admin(pg_server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f'GRANT CREATE ON DATABASE "{name}" TO "{etl_role}"')
    url = make_url(role_url(pg_server_url, name, etl_role, ETL_PASSWORD))
    with psycopg.connect(libpq_dsn(url)) as conn:
        apply_migrations(conn)
    return name


@pytest.fixture
def pg_database(pg_server_url: str, pg_template: str, etl_role: str) -> Iterator[str]:
    """A fresh, migrated database for this test (a clone of the template), by name."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with _admin(pg_server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
        # A clone keeps the schemas' owner (the ETL role) but not database grants.
        conn.execute(f'GRANT CREATE ON DATABASE "{name}" TO "{etl_role}"')
    yield name
    with _admin(pg_server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server_url: str, pg_database: str, etl_role: str) -> str:
    """SQLAlchemy URL of this test's fresh, migrated database, as the least-privileged role."""
    return role_url(pg_server_url, pg_database, etl_role, ETL_PASSWORD)


@pytest.fixture
def pg_admin_url(pg_server_url: str, pg_database: str) -> str:
    """The same database as the server's superuser (for a test's own setup only)."""
    return make_url(pg_server_url).set(database=pg_database).render_as_string(hide_password=False)


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
