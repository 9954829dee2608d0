"""Forward-only migrations: ``sql/NNNN_*.sql`` applied in order, one transaction each.

Each applied file is recorded with its SHA-256 in ``connector.schema_migrations``. A file that
changed after it was applied is an error naming it; running again applies nothing. A session
advisory lock serialises concurrent ``migrate`` calls (parallel Dagster steps, two shells).
"""

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from connector.errors import MigrationError

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x6D696772  # "migr": the advisory lock id serialising migrations

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS connector;
CREATE TABLE IF NOT EXISTS connector.schema_migrations (
    version     text PRIMARY KEY,
    filename    text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""


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


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """The migration files in ``sql_dir``, ordered by version; odd names are an error."""
    found: list[Migration] = []
    for path in sorted(sql_dir.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(path.name, "name must look like NNNN_lower_snake.sql")
        found.append(Migration(match.group(1), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(sql_dir.name, "two files share a version number")
    return found


def split_statements(sql: str) -> list[str]:
    """Split a SQL script on top-level semicolons (quotes, comments and $$ bodies respected)."""
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            buf.append(sql[i:end])
            i = end
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            buf.append(sql[i:end])
            i = end
            continue
        if ch in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:
                        end += 2
                        continue
                    break
                end += 1
            buf.append(sql[i : end + 1])
            i = end + 1
            continue
        dollar = re.match(r"\$[A-Za-z_]*\$", sql[i:])
        if dollar:
            tag = dollar.group(0)
            end = sql.find(tag, i + len(tag))
            end = n if end < 0 else end + len(tag)
            buf.append(sql[i:end])
            i = end
            continue
        if ch == ";":
            statements.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    statements.append("".join(buf))
    return [s.strip() for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    without_comments = re.sub(r"--[^\n]*|/\*.*?\*/", "", statement, flags=re.S)
    return bool(without_comments.strip())


def apply_migrations(
    conn: psycopg.Connection[tuple[object, ...]], sql_dir: Path = SQL_DIR
) -> list[str]:
    """Apply what is missing; return the filenames applied (empty when up to date).

    Raises:
        MigrationError: a file changed after it was applied, or a statement failed.
    """
    migrations = discover(sql_dir)
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(_BOOTSTRAP)
        conn.commit()
        rows = conn.execute("SELECT version, filename, checksum FROM connector.schema_migrations")
        applied = {str(v): (str(f), str(c)) for v, f, c in rows.fetchall()}
        conn.commit()
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


def _apply_one(conn: psycopg.Connection[tuple[object, ...]], migration: Migration) -> None:
    statements = split_statements(migration.sql)
    with conn.transaction():
        for number, statement in enumerate(statements, start=1):
            try:
                conn.execute(statement.encode())
            except psycopg.Error as exc:
                raise MigrationError(migration.filename, str(exc).strip(), number) from exc
        conn.execute(
            "INSERT INTO connector.schema_migrations (version, filename, checksum) "
            "VALUES (%s, %s, %s)",
            (migration.version, migration.filename, migration.checksum),
        )
    log.info("applied migration %s (%d statements)", migration.filename, len(statements))
