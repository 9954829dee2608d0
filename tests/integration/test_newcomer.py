"""What a new user trips over, as they run it: a wrong base URL or DATABASE_URL fails within
seconds naming the variable, `check` names only the missing variable, a failed sync prints its
one-line reason and no empty table, and a database that is not migrated says what to run.
"""

import socket
import time

import psycopg
import pytest

from connector.warehouse import Warehouse
from tests.integration.test_cli import connector
from tests.integration.traede_support import APP_KEY, SYSTEM_ID, TOKEN

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fails_fast(args: tuple[str, ...], env: dict[str, str], variable: str, code: int) -> str:
    started = time.monotonic()
    done = connector(*args, env=env)
    took = time.monotonic() - started
    assert done.returncode == code, (done.stdout, done.stderr)
    assert took < 20, f"took {took:.0f}s"
    # It ends in one line saying why (log lines of the run may come before it).
    errors = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and done.stderr.strip().endswith(errors[0]), done.stderr
    assert variable in errors[0]
    assert "retry" not in done.stderr and "Traceback" not in done.stderr
    assert done.stdout.strip() == ""  # no empty result table before the reason
    return errors[0]


@pytest.mark.parametrize(
    ("source", "variables", "named"),
    [
        (
            "traede",
            {"TRAEDE_API_TOKEN": TOKEN, "TRAEDE_APP_KEY": APP_KEY, "TRAEDE_SYSTEM_ID": SYSTEM_ID},
            "TRAEDE_BASE_URL",
        ),
        ("xero", {"XERO_CLIENT_ID": "id", "XERO_CLIENT_SECRET": "secret"}, "XERO_TOKEN_URL"),
        ("unleashed", {"UNLEASHED_API_ID": "id", "UNLEASHED_API_KEY": "key"}, "UNLEASHED_BASE_URL"),
    ],
)
def test_refused_base_url_fails_within_seconds_naming_the_variable(
    warehouse: Warehouse, source: str, variables: dict[str, str], named: str
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    prefix = source.upper()
    env = {
        "DATABASE_URL": warehouse.dsn,
        f"{prefix}_BASE_URL": url,
        "XERO_TOKEN_URL": f"{url}/connect/token",
        **variables,
    }
    line = _fails_fast(("sync", source), env, named, 2)
    assert "refused" in line.lower()


def test_refused_database_url_fails_within_seconds_naming_the_variable() -> None:
    env = {"DATABASE_URL": f"postgresql://etl@127.0.0.1:{_closed_port()}/warehouse"}
    _fails_fast(("migrate",), env, "DATABASE_URL", 6)


def test_check_names_only_the_missing_variable(warehouse: Warehouse) -> None:
    env = {"DATABASE_URL": warehouse.dsn, "TRAEDE_API_TOKEN": TOKEN, "TRAEDE_APP_KEY": APP_KEY}
    done = connector("check", env=env)
    assert done.returncode == 2
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("✘ traede")]
    assert "TRAEDE_SYSTEM_ID" in line
    assert "TRAEDE_API_TOKEN" not in done.stdout and "TRAEDE_APP_KEY" not in done.stdout


def test_status_on_a_database_without_tables_says_to_migrate(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    db.execute(
        "DROP SCHEMA staging CASCADE; DROP SCHEMA connector CASCADE; DROP SCHEMA analytics CASCADE"
    )
    done = connector("status", env={"DATABASE_URL": warehouse.dsn})
    assert done.returncode == 6
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "connector migrate" in lines[0], done.stderr
