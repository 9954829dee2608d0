import psycopg
import pytest

from connector.errors import MigrationError
from connector.tables.traede import ALL_TRAEDE
from connector.warehouse import Warehouse
from connector.warehouse.migrations import apply_migrations, discover


def test_migrate_twice_is_a_no_op(warehouse: Warehouse, db: psycopg.Connection) -> None:
    # The template already applied everything: a second migrate applies nothing.
    assert warehouse.migrate() == []
    rows = db.execute(
        "SELECT version, checksum FROM connector.schema_migrations ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in rows] == [m.version for m in discover()]
    assert warehouse.migrate() == []


def test_migrate_fresh_database_applies_in_order(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    db.execute(
        "DROP SCHEMA staging CASCADE; DROP SCHEMA connector CASCADE; DROP SCHEMA analytics CASCADE"
    )
    applied = warehouse.migrate()
    assert applied == [m.filename for m in discover()]
    schemas = {r[0] for r in db.execute("SELECT nspname FROM pg_namespace").fetchall()}
    assert {"staging", "connector", "analytics"} <= schemas


def test_changed_applied_migration_is_an_error_naming_the_file(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    first = discover()[0]
    db.execute(
        "UPDATE connector.schema_migrations SET checksum = 'x' WHERE version = %s", (first.version,)
    )
    with pytest.raises(MigrationError) as err:
        warehouse.migrate()
    assert first.filename in str(err.value)
    assert err.value.filename == first.filename


def test_failing_statement_names_file_and_line_and_applies_nothing_of_the_file(
    warehouse: Warehouse, tmp_path
) -> None:
    for m in discover():
        (tmp_path / m.filename).write_text(m.sql)
    (tmp_path / "0901_ok.sql").write_text("CREATE TABLE connector.t_ok (a int);")
    (tmp_path / "0902_bad.sql").write_text(
        "CREATE TABLE connector.t_two (a int);\nSELECT * FROM nowhere;"
    )
    with warehouse.connect() as conn, pytest.raises(MigrationError) as err:
        apply_migrations(conn, tmp_path)
    assert err.value.filename == "0902_bad.sql"
    assert err.value.line == 2
    assert "0902_bad.sql (line 2)" in str(err.value)
    with warehouse.connect() as conn:
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'connector'")
        }
    assert "t_ok" in tables and "t_two" not in tables


def test_no_migrations_found_is_an_error_not_a_silent_no_op(warehouse: Warehouse, tmp_path) -> None:
    with warehouse.connect() as conn, pytest.raises(MigrationError) as err:
        apply_migrations(conn, tmp_path)
    assert "no migrations found" in str(err.value)


def test_migrations_are_package_data_found_from_any_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    names = [m.filename for m in discover()]
    assert names and names == sorted(names) and names[0].startswith("0001_")


def test_staging_tables_match_table_specs(db: psycopg.Connection) -> None:
    for spec in ALL_TRAEDE:
        rows = db.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (spec.schema, spec.table),
        ).fetchall()
        names = [r[0] for r in rows]
        assert names == list(spec.column_names), spec.name
        pk = db.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
            (spec.name,),
        ).fetchall()
        assert sorted(r[0] for r in pk) == sorted(spec.key)


def test_a_file_runs_as_one_batch_with_quotes_comments_and_dollar_bodies(
    warehouse: Warehouse, tmp_path
) -> None:
    for m in discover():
        (tmp_path / m.filename).write_text(m.sql)
    (tmp_path / "0903_tricky.sql").write_text(
        "CREATE TABLE connector.t_semi (a text); -- a ; comment\n"
        "INSERT INTO connector.t_semi VALUES (';'), ('it''s; fine');\n"
        "CREATE FUNCTION connector.f_semi() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n"
        "/* ; */ INSERT INTO connector.t_semi SELECT connector.f_semi()::text"
    )
    with warehouse.connect() as conn:
        assert apply_migrations(conn, tmp_path) == ["0903_tricky.sql"]
        rows = conn.execute("SELECT a FROM connector.t_semi ORDER BY a").fetchall()
    assert [r[0] for r in rows] == ["1", ";", "it's; fine"]
