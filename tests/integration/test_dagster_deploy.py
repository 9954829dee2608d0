"""Production Dagster: `dagster definitions validate` on the workspace, and a Dagster instance
started on deploy/dagster.yaml (run, event-log and schedule storage in Postgres) running a
`traede_sync` run against the emulator, its run recorded in that Postgres.
"""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.warehouse.engine import libpq_dsn
from tests.integration.traede_support import APP_KEY, SYSTEM_ID, TOKEN, running_traede

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
IN_PROCESS = "execution:\n  config:\n    in_process: {}\n"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRAEDE_", "XERO_", "UNLEASHED_", "DAGSTER_")) and k != "DATABASE_URL"
    }
    env.update(DAGSTER_HOME=str(home), **extra)
    return env


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    done = subprocess.run(
        [DAGSTER, "definitions", "validate", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


@pytest.fixture
def dagster_storage_url(pg_server_url: str) -> Iterator[str]:
    """A database of Dagster's own (as deploy/dagster.yaml asks), by libpq URL."""
    name = f"dagster_{uuid.uuid4().hex[:12]}"
    admin = libpq_dsn(make_url(pg_server_url))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(pg_server_url).set(drivername="postgresql+psycopg2", database=name)
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_instance_on_deploy_yaml_runs_traede_sync(
    tmp_path: Path, dagster_storage_url: str, pg_url: str
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "deploy" / "dagster.yaml").read_text())
    config = tmp_path / "run.yaml"
    config.write_text(IN_PROCESS)
    with running_traede(None, invoices=20, credit_notes=5, accounting_entries=5) as t:
        env = _env(
            home,
            DAGSTER_PG_URL=dagster_storage_url,
            DATABASE_URL=libpq_dsn(make_url(pg_url)),
            TRAEDE_BASE_URL=t.server.url,
            TRAEDE_API_TOKEN=TOKEN,
            TRAEDE_APP_KEY=APP_KEY,
            TRAEDE_SYSTEM_ID=SYSTEM_ID,
        )
        done = subprocess.run(
            [DAGSTER, "job", "execute", "-m", "dagster_defs.definitions", "-a", "defs",
             "-j", "traede_sync", "-c", str(config)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert TOKEN not in done.stdout + done.stderr and APP_KEY not in done.stdout + done.stderr
    with psycopg.connect(libpq_dsn(make_url(dagster_storage_url))) as conn:
        runs = conn.execute("SELECT pipeline_name, status, run_body FROM runs").fetchall()
        events = conn.execute("SELECT count(*) FROM event_logs").fetchone()
        leaked = conn.execute(
            "SELECT count(*) FROM event_logs WHERE event LIKE %s OR event LIKE %s",
            (f"%{TOKEN}%", f"%{APP_KEY}%"),
        ).fetchone()
    assert [(r[0], r[1]) for r in runs] == [("traede_sync", "SUCCESS")]
    assert events is not None and events[0] > 20
    assert leaked == (0,)
    assert TOKEN not in runs[0][2] and APP_KEY not in runs[0][2]  # not in run config
