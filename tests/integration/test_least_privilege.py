"""Every command as a role holding exactly the grants README "Warehouse permissions" documents.

Not a superuser, no CREATEDB, no CREATEROLE, no server-file roles: either CREATE on the
database (the connector creates and owns its schemas) or schemas a DBA created owned by the
role. A role granted only USAGE and DML on schemas a DBA created is told by `connector migrate`
exactly which statement to run.
"""

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.emulator.server import EmulatorServer
from connector.emulator.unleashed import create_unleashed_app
from connector.emulator.xero import create_xero_app
from connector.warehouse.engine import libpq_dsn
from tests.integration.test_cli import connector
from tests.integration.traede_support import APP_KEY, SYSTEM_ID, TOKEN, running_traede
from tests.postgres_fixtures import ETL_PASSWORD, create_role, role_url

pytestmark = pytest.mark.integration
SERVER_FILE_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program")


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(libpq_dsn(make_url(url)), autocommit=True)


@pytest.fixture
def empty_database(pg_server_url: str, fresh_role: str) -> Iterator[str]:
    """A database with nothing in it (as a customer's new warehouse), dropped before the role."""
    name = f"lp_{uuid.uuid4().hex[:12]}"
    with _admin(pg_server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with _admin(pg_server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_role(pg_server_url: str) -> Iterator[str]:
    """A new LOGIN role with no privileges at all (dropped afterwards)."""
    role = f"lp_role_{uuid.uuid4().hex[:8]}"
    create_role(pg_server_url, role, ETL_PASSWORD)
    yield role
    with _admin(pg_server_url) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def _assert_least_privileged(server_url: str, role: str) -> None:
    with _admin(server_url) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = %s",
            (role,),
        ).fetchone()
        assert row == (False, False, False, False, False), row
        for special in SERVER_FILE_ROLES:
            member = conn.execute(
                "SELECT pg_has_role(%s, %s, 'MEMBER')", (role, special)
            ).fetchone()
            assert member == (False,), special


def _env(dsn: str, traede: str, xero: str, unleashed: str) -> dict[str, str]:
    return {
        "DATABASE_URL": dsn,
        "CONNECTOR_MAX_RETRY_WAIT": "5",
        "TRAEDE_BASE_URL": traede,
        "TRAEDE_API_TOKEN": TOKEN,
        "TRAEDE_APP_KEY": APP_KEY,
        "TRAEDE_SYSTEM_ID": SYSTEM_ID,
        "XERO_BASE_URL": f"{xero}/api.xro/2.0",
        "XERO_TOKEN_URL": f"{xero}/connect/token",
        "XERO_CLIENT_ID": "xero-client",
        "XERO_CLIENT_SECRET": "xero-secret",
        "XERO_TENANT_IDS": "tenant-a",
        "UNLEASHED_BASE_URL": unleashed,
        "UNLEASHED_API_ID": "lp-id",
        "UNLEASHED_API_KEY": "lp-key",
    }


EVERY_COMMAND = (
    ("migrate",),
    ("migrate",),
    ("sync", "traede", "--no-mark"),
    ("mark", "traede"),
    ("sync", "traede"),
    ("sync", "xero"),
    ("sync", "unleashed"),
    ("status",),
    ("check",),
)


def _every_command(dsn: str, commands: tuple[tuple[str, ...], ...] = EVERY_COMMAND) -> None:
    xero_app, _ = create_xero_app(count=20)
    unleashed_app, _ = create_unleashed_app(count=20, api_id="lp-id", api_key="lp-key")
    with (
        running_traede(None, invoices=30, credit_notes=10, accounting_entries=10) as t,
        EmulatorServer(xero_app) as xero,
        EmulatorServer(unleashed_app) as unleashed,
    ):
        env = _env(dsn, t.server.url, xero.url, unleashed.url)
        for command in commands:
            done = connector(*command, env=env)
            assert done.returncode == 0, (command, done.stdout, done.stderr)
            assert "Traceback" not in done.stderr


def test_every_command_with_create_on_the_database_only(
    pg_server_url: str, empty_database: str, fresh_role: str
) -> None:
    with _admin(make_url(pg_server_url).set(database=empty_database).render_as_string(False)) as c:
        c.execute(f'GRANT CREATE ON DATABASE "{empty_database}" TO "{fresh_role}"')
    _assert_least_privileged(pg_server_url, fresh_role)
    url = role_url(pg_server_url, empty_database, fresh_role, ETL_PASSWORD)
    _every_command(libpq_dsn(make_url(url)))
    with _admin(url) as conn:
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(nspowner) FROM pg_namespace "
            "WHERE nspname IN ('staging', 'connector', 'analytics')"
        ).fetchall()
    assert owners == [(fresh_role,)]


def test_every_command_in_schemas_a_dba_created_for_the_role(
    pg_server_url: str, empty_database: str, fresh_role: str
) -> None:
    # No CREATE on the database: the DBA made the three schemas, owned by the role.
    admin_url = make_url(pg_server_url).set(database=empty_database).render_as_string(False)
    with _admin(admin_url) as conn:
        for schema in ("staging", "connector", "analytics"):
            conn.execute(f'CREATE SCHEMA {schema} AUTHORIZATION "{fresh_role}"')
        row = conn.execute(
            "SELECT has_database_privilege(%s, current_database(), 'CREATE')", (fresh_role,)
        ).fetchone()
        assert row == (False,)
    _assert_least_privileged(pg_server_url, fresh_role)
    url = role_url(pg_server_url, empty_database, fresh_role, ETL_PASSWORD)
    # The grants are the same for every command once migrated (the test above runs them all).
    _every_command(libpq_dsn(make_url(url)), (("migrate",), ("sync", "traede"), ("status",)))


def test_migrate_names_the_missing_grant_for_usage_and_dml_only(
    pg_server_url: str, empty_database: str, fresh_role: str
) -> None:
    admin_url = make_url(pg_server_url).set(database=empty_database).render_as_string(False)
    with _admin(admin_url) as conn:
        for schema in ("staging", "connector", "analytics"):
            conn.execute(f"CREATE SCHEMA {schema}")
            conn.execute(f'GRANT USAGE ON SCHEMA {schema} TO "{fresh_role}"')
            conn.execute(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{fresh_role}"'
            )
    dsn = libpq_dsn(make_url(role_url(pg_server_url, empty_database, fresh_role, ETL_PASSWORD)))
    done = connector("migrate", env={"DATABASE_URL": dsn})
    assert done.returncode == 6, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for schema in ("analytics", "connector", "staging"):
        assert f'ALTER SCHEMA {schema} OWNER TO "{fresh_role}"' in lines[0]
    assert "Warehouse permissions" in lines[0]

    # One schema missing and no CREATE on the database: that GRANT is named too.
    with _admin(admin_url) as conn:
        conn.execute("DROP SCHEMA analytics")
    done = connector("migrate", env={"DATABASE_URL": dsn})
    assert done.returncode == 6
    assert f'GRANT CREATE ON DATABASE "{empty_database}" TO "{fresh_role}"' in done.stderr
    assert "analytics" in done.stderr

    # Granted as told, migrate goes through.
    with _admin(admin_url) as conn:
        conn.execute(f'GRANT CREATE ON DATABASE "{empty_database}" TO "{fresh_role}"')
        for schema in ("staging", "connector"):
            conn.execute(f'ALTER SCHEMA {schema} OWNER TO "{fresh_role}"')
    done = connector("migrate", env={"DATABASE_URL": dsn})
    assert done.returncode == 0, done.stderr
    assert "applied 0001_schemas.sql" in done.stdout
