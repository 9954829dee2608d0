"""What the connector's role needs in the warehouse, checked before a migration runs.

The connector needs no superuser, no ``CREATEDB`` and no server-file roles (README, "Warehouse
permissions"): it owns its three schemas, or holds ``CREATE`` on the database once so that it
can create them, and it may create temporary tables (COPY lands in them). Checking the catalog
first turns a permission error in the middle of a file into one line naming the GRANT to run.
"""

import re

import psycopg

SCHEMAS = ("staging", "connector", "analytics")
_CREATE_SCHEMA = re.compile(r"^CREATE SCHEMA IF NOT EXISTS ([a-z_][a-z0-9_]*)$", re.IGNORECASE)
_COMMENT = re.compile(r"--[^\n]*")


def quote(name: str) -> str:
    """``name`` as a SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def existing_schemas(conn: psycopg.Connection[tuple[object, ...]]) -> set[str]:
    """Which of the connector's schemas exist."""
    rows = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (list(SCHEMAS),)
    ).fetchall()
    return {str(r[0]) for r in rows}


def missing_grants(conn: psycopg.Connection[tuple[object, ...]], *, creating: bool) -> list[str]:
    """The statements a DBA must run for the current role, empty when nothing is missing.

    Args:
        conn: a connection as the connector's role.
        creating: whether migrations are pending (they create and alter tables in the
            schemas); without pending migrations only temporary tables are needed.
    """
    row = conn.execute(
        "SELECT current_user, current_database(), "
        "has_database_privilege(current_database(), 'CREATE'), "
        "has_database_privilege(current_database(), 'TEMPORARY')"
    ).fetchone()
    assert row is not None
    role, database, db_create, temporary = (str(row[0]), str(row[1]), bool(row[2]), bool(row[3]))
    missing: list[str] = []
    if creating:
        rows = conn.execute(
            "SELECT nspname, pg_has_role(nspowner, 'USAGE'), "
            "has_schema_privilege(oid, 'CREATE'), has_schema_privilege(oid, 'USAGE') "
            "FROM pg_namespace WHERE nspname = ANY(%s)",
            (list(SCHEMAS),),
        ).fetchall()
        schemas = {str(r[0]): (bool(r[1]), bool(r[2]), bool(r[3])) for r in rows}
        if len(schemas) < len(SCHEMAS) and not db_create:
            absent = ", ".join(s for s in SCHEMAS if s not in schemas)
            missing.append(
                f"GRANT CREATE ON DATABASE {quote(database)} TO {quote(role)} "
                f"(to create schema {absent})"
            )
        for schema, (owner, create, usage) in sorted(schemas.items()):
            if not owner and not (create and usage):
                missing.append(f"ALTER SCHEMA {schema} OWNER TO {quote(role)}")
    if not temporary:
        missing.append(f"GRANT TEMPORARY ON DATABASE {quote(database)} TO {quote(role)}")
    return missing


def only_creates_existing_schemas(sql: str, existing: set[str]) -> bool:
    """Whether ``sql`` does nothing but ``CREATE SCHEMA IF NOT EXISTS`` of schemas in ``existing``.

    Postgres asks for ``CREATE`` on the database even when such a schema exists, so a file like
    ``0001_schemas.sql`` is recorded without running when a DBA created the schemas already.
    """
    statements = [s.strip() for s in _COMMENT.sub("", sql).split(";") if s.strip()]
    names = [_CREATE_SCHEMA.match(" ".join(s.split())) for s in statements]
    return bool(names) and all(m is not None and m.group(1) in existing for m in names)
