"""The wheel as a user (or a Dagster code-location image) installs it: built from the source,
installed into a fresh virtual environment, then `connector migrate` and `connector sync traede`
run from an empty directory, with no PYTHONPATH and no checkout in sight.

Choice, for speed on a small CI machine: the new environment gets the wheel's own files from the
wheel (``pip install --no-deps``) and its third-party dependencies through a ``.pth`` line naming
this interpreter's site-packages. A ``.pth`` line only appends a directory, so the checkout's
editable-install hook (itself a ``.pth`` there) is not run, and the test asserts that
``connector`` and ``dagster_defs`` are imported from the new environment: the wheel's files are
what runs.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.warehouse.engine import libpq_dsn
from tests.integration.traede_support import (
    APP_KEY,
    SYSTEM_ID,
    TOKEN,
    expected_ids,
    running_traede,
)
from tests.postgres_fixtures import ETL_PASSWORD, role_url

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "venv", ".connector", "__pycache__", "build", "dist", "*.egg-info",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", "artifacts", "results", ".work",
)  # fmt: skip


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DATABASE_URL"}
        and not k.startswith(("TRAEDE_", "CONNECTOR_", "XERO_", "UNLEASHED_"))
    }
    env.update(extra)
    return env


def _run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture
def empty_database(pg_server_url: str, etl_role: str) -> Iterator[str]:
    """A new, empty database where the test role holds only CREATE (README's grants)."""
    name = f"wheel_{uuid.uuid4().hex[:12]}"
    admin = libpq_dsn(make_url(pg_server_url))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f'GRANT CREATE ON DATABASE "{name}" TO "{etl_role}"')
    yield libpq_dsn(make_url(role_url(pg_server_url, name, etl_role, ETL_PASSWORD)))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_wheel_migrates_and_syncs_from_an_empty_directory(
    tmp_path: Path, empty_database: str
) -> None:
    env = _clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1")
    source = tmp_path / "src"
    shutil.copytree(REPO, source, symlinks=True, ignore=_NOT_SOURCE)
    dist = tmp_path / "dist"
    # Build with the setuptools at hand when there is one (fast, no index needed); Python 3.12+
    # venvs have none, and pip then builds in isolation as `pip install` itself does.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", dist, source],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    (wheel,) = dist.glob("accounting_export_connector-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "connector/sql/0001_schemas.sql" in names
    assert "dagster_defs/definitions.py" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "sql/", "docs/"))]

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    site = Path(_run([python, "-c", "import site; print(site.getsitepackages()[0])"],
                     cwd=tmp_path, env=env).strip())  # fmt: skip
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_connector_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")

    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run(
        [python, "-c", "import connector, dagster_defs; print(connector.__file__); "
         "print(dagster_defs.__file__)"],
        cwd=empty, env=env,
    )  # fmt: skip
    for line in where.split():
        assert line.startswith(str(venv)), where

    cli = venv / "bin" / "connector"
    run_env = _clean_env(DATABASE_URL=empty_database, CONNECTOR_MAX_RETRY_WAIT="5")
    migrated = _run([cli, "migrate"], cwd=empty, env=run_env)
    assert "applied 0001_schemas.sql" in migrated
    with running_traede(None, invoices=25, credit_notes=5, accounting_entries=10) as t:
        synced = _run(
            [cli, "sync", "traede"],
            cwd=empty,
            env={
                **run_env,
                "TRAEDE_BASE_URL": t.server.url,
                "TRAEDE_API_TOKEN": TOKEN,
                "TRAEDE_APP_KEY": APP_KEY,
                "TRAEDE_SYSTEM_ID": SYSTEM_ID,
            },
        )
        expected = len(expected_ids(t.state, "invoices"))
    assert "succeeded" in synced
    assert list(empty.iterdir()) == []  # nothing written into the working directory
    with psycopg.connect(empty_database) as conn:
        row = conn.execute("SELECT count(*) FROM staging.traede_invoices").fetchone()
    assert row == (expected,)
