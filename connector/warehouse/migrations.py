"""Forward-only migrations: the packaged ``sql/NNNN_*.sql`` applied in order, one transaction each.

Each applied file is recorded with its SHA-256 in ``connector.schema_migrations``. A file that
changed after it was applied is an error naming it; running again applies nothing. A session
advisory lock serialises concurrent ``migrate`` calls (parallel Dagster steps, two shells).
"""

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

import psycopg

from connector.errors import MigrationError
from connector.warehouse.grants import (
    existing_schemas,
    missing_grants,
    only_creates_existing_schemas,
)

log = logging.getLogger(__name__)

# ``sql/`` at the repository's top is the migrations' home; ``connector/sql`` links to it so the
# wheel ships them as package data and they are found from any working directory.
SQL_DIR: Traversable = files("connector") / "sql"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x6D696772  # "migr": the advisory lock id serialising migrations

# Run only when connector.schema_migrations is missing: ``IF NOT EXISTS`` would still ask for
# CREATE on the database or the schema, which a role that owns its schemas may not have.
_BOOTSTRAP_SCHEMA = "CREATE SCHEMA connector"
_BOOTSTRAP_TABLE = """
CREATE TABLE connector.schema_migrations (
    version     text PRIMARY KEY,
    filename    text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""
_PERMISSIONS = "see README, Warehouse permissions"


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: str
    filename: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(sql_dir: Traversable = SQL_DIR) -> list[Migration]:
    """The migration files in ``sql_dir``, ordered by version.

    Raises:
        MigrationError: no migration at all (a broken install), an odd name, a repeated version.
    """
    paths = sorted(
        (p for p in sql_dir.iterdir() if p.name.endswith(".sql")) if sql_dir.is_dir() else (),
        key=lambda p: p.name,
    )
    if not paths:
        raise MigrationError(
            str(sql_dir),
            "no migrations found: the package is installed without its sql/ files; "
            "reinstall it (pip install --force-reinstall accounting-export-connector)",
        )
    found: list[Migration] = []
    for path in paths:
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(path.name, "name must look like NNNN_lower_snake.sql")
        found.append(Migration(match.group(1), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(sql_dir.name, "two files share a version number")
    return found


def apply_migrations(
    conn: psycopg.Connection[tuple[object, ...]], sql_dir: Traversable = SQL_DIR
) -> list[str]:
    """Apply what is missing; return the filenames applied (empty when up to date).

    Raises:
        MigrationError: a file changed after it was applied, a statement failed, or the role
            lacks a privilege (the message names the GRANT to run).
    """
    migrations = discover(sql_dir)
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        recorded = _applied(conn)
        applied = recorded or {}
        pending = [m for m in migrations if m.version not in applied]
        missing = missing_grants(conn, creating=bool(pending) or recorded is None)
        conn.commit()  # each file below runs in a transaction of its own
        if missing:
            role = conn.execute("SELECT current_user").fetchone()
            raise MigrationError(
                pending[0].filename if pending else "privileges",
                f"role {role[0] if role else '?'!r} lacks a privilege: a DBA must run "
                + "; ".join(missing)
                + f" ({_PERMISSIONS})",
            )
        if recorded is None:
            _bootstrap(conn)
        done: list[str] = []
        for migration in migrations:
            if migration.version in applied:
                filename, checksum = applied[migration.version]
                if checksum != migration.checksum:
                    raise MigrationError(
                        migration.filename,
                        f"was changed after it was applied (as {filename}); migrations are "
                        "forward-only: restore the file and add a new NNNN_*.sql instead",
                    )
                continue
            _apply_one(conn, migration)
            done.append(migration.filename)
        for version, (filename, _) in applied.items():
            if version not in {m.version for m in migrations}:
                log.warning("applied migration %s is not in %s (newer code?)", filename, sql_dir)
        return done
    finally:
        conn.rollback()
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        conn.commit()


def _applied(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, tuple[str, str]] | None:
    """Applied versions with (filename, checksum); None before the first run (no table)."""
    exists = conn.execute("SELECT to_regclass('connector.schema_migrations')").fetchone()
    if not exists or exists[0] is None:
        conn.commit()
        return None
    try:
        rows = conn.execute("SELECT version, filename, checksum FROM connector.schema_migrations")
        applied = {str(v): (str(f), str(c)) for v, f, c in rows.fetchall()}
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MigrationError(
            "connector.schema_migrations",
            f"{str(exc).strip()}: grant the role SELECT on it or make it the owner of schema "
            f"connector ({_PERMISSIONS})",
        ) from None
    conn.commit()
    return applied


def _bootstrap(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    with conn.transaction():
        if "connector" not in existing_schemas(conn):
            conn.execute(_BOOTSTRAP_SCHEMA)
        conn.execute(_BOOTSTRAP_TABLE)


def _apply_one(conn: psycopg.Connection[tuple[object, ...]], migration: Migration) -> None:
    # Without parameters psycopg sends the whole file as one simple-query batch, which Postgres
    # runs statement by statement; the transaction makes the file all-or-nothing.
    with conn.transaction():
        if only_creates_existing_schemas(migration.sql, existing_schemas(conn)):
            log.info("%s: its schemas exist already; recorded without running", migration.filename)
        else:
            try:
                conn.execute(migration.sql.encode())
            except psycopg.Error as exc:
                hint = f" ({_PERMISSIONS})" if _denied(exc) else ""
                raise MigrationError(
                    migration.filename, str(exc).strip() + hint, _line_of(migration.sql, exc)
                ) from exc
        conn.execute(
            "INSERT INTO connector.schema_migrations (version, filename, checksum) "
            "VALUES (%s, %s, %s)",
            (migration.version, migration.filename, migration.checksum),
        )
    log.info("applied migration %s", migration.filename)


def _denied(exc: psycopg.Error) -> bool:
    return isinstance(exc, psycopg.errors.InsufficientPrivilege)


def _line_of(sql: str, exc: psycopg.Error) -> int | None:
    """The 1-based line of the file where Postgres located the error, when it says."""
    position = exc.diag.statement_position
    if not position or not position.isdigit():
        return None
    return sql.count("\n", 0, int(position) - 1) + 1
