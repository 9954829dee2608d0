"""Security: the token and app key (unique random strings per test) appear in no log, CLI
output, exception text, Dagster event or metadata, or table; TLS verification is on by
default; SQL is built from fixed identifiers only (hostile field names and values land as
data); bad credentials are reported without echoing them (exit 4, naming the variables).
"""

import json
import os
import ssl
import subprocess
import sys
import uuid
from typing import Any

import dagster as dg
import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.config import Secret, TraedeSettings, WarehouseSettings
from connector.emulator.json_bytes import dumps
from connector.emulator.server import EmulatorServer
from connector.emulator.traede import create_traede_app
from connector.errors import ConnectorError, SourceError
from connector.flows.results import EXIT_OK
from connector.flows.traede import SyncOptions, run_traede
from connector.sources.traede.client import TraedeClient
from connector.warehouse import Warehouse
from connector.warehouse.engine import Target
from tests.integration.traede_support import fast_http, marked_ids, staging_ids

pytestmark = [pytest.mark.chaos, pytest.mark.integration]
SYSTEM_ID = "erp-sec"
SCHEMAS = ("staging", "connector")


def _secrets() -> tuple[str, str]:
    return f"tok-{uuid.uuid4().hex}{uuid.uuid4().hex}", f"key-{uuid.uuid4().hex}"


def _serve(token: str, app_key: str, faults: str = "", **counts: int) -> tuple[Any, Any]:
    from connector.emulator.faults import FaultPlan

    app, state = create_traede_app(
        seed=5,
        token=token,
        app_key=app_key,
        faults=FaultPlan.parse(faults) if faults else None,
        **counts,
    )
    return EmulatorServer(app), state


def _env(url: str, token: str, app_key: str, dsn: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "TRAEDE_"))}
    env.update(
        TRAEDE_BASE_URL=url,
        TRAEDE_API_TOKEN=token,
        TRAEDE_APP_KEY=app_key,
        TRAEDE_SYSTEM_ID=SYSTEM_ID,
        DATABASE_URL=dsn,
        CONNECTOR_MAX_ATTEMPTS="3",
        CONNECTOR_MAX_RETRY_WAIT="3",
        CONNECTOR_BATCH_SIZE="40",
    )
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _table_text(conn: psycopg.Connection) -> tuple[str, int]:
    """Every text, jsonb, json and array column of every table in staging and connector."""
    cols = conn.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = ANY(%s) AND (data_type IN ('text', 'jsonb', 'json', "
        "'character varying', 'ARRAY')) ORDER BY 1, 2, 3",
        (list(SCHEMAS),),
    ).fetchall()
    parts = []
    for schema, table, column in cols:
        rows = conn.execute(
            f'SELECT "{column}"::text FROM "{schema}"."{table}" WHERE "{column}" IS NOT NULL'
        ).fetchall()
        parts.extend(str(r[0]) for r in rows)
    return "\n".join(parts), len(cols)


def _leaks(text: str, *secrets: str) -> list[str]:
    found = []
    for secret in secrets:
        for piece in (secret, secret[4:20]):  # the value, and a telling part of it
            if piece in text:
                found.append(piece)
    return found


def test_secrets_appear_in_no_log_output_or_table(warehouse: Warehouse, db) -> None:
    token, app_key = _secrets()
    # Faults make the client log warnings with URLs and bodies (retries, a dropped reply).
    faults = "*.export:429@calls=2,retry_after=0;*.export:500@calls=3;*.mark:drop@calls=1"
    server, state = _serve(token, app_key, faults, invoices=120, accounting_entries=60)
    with server:
        env = _env(server.url, token, app_key, warehouse.dsn)
        outputs = [
            _cli(env, "-vv", "sync", "traede", "--no-progress"),
            _cli(env, "-vv", "mark", "traede"),
            _cli(env, "-vv", "status"),
            _cli(env, "-vv", "check"),
        ]
        assert outputs[0].returncode == EXIT_OK, outputs[0].stderr[-2000:]
        logged = "\n".join(o.stdout + o.stderr for o in outputs)
        assert "retry" in logged and "DEBUG" in logged  # the logs really were verbose
        assert _leaks(logged, token, app_key) == []
        tables, columns = _table_text(db)
        assert columns > 20 and len(tables) > 10_000
        assert _leaks(tables, token, app_key) == []
        # The staging rows carry the documents as received, never request headers.
        assert staging_ids(db, "invoices") == marked_ids(state, "invoices", SYSTEM_ID)


def test_bad_credentials_exit_4_naming_the_variables_without_echoing_them(
    warehouse: Warehouse,
) -> None:
    token, app_key = _secrets()
    wrong_token, wrong_key = _secrets()
    server, _ = _serve(token, app_key, invoices=10)
    with server:
        done = _cli(
            _env(server.url, wrong_token, wrong_key, warehouse.dsn), "-vv", "sync", "traede"
        )
    assert done.returncode == 4, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "401" in last and "TRAEDE_API_TOKEN" in last and "TRAEDE_APP_KEY" in last
    assert "Traceback" not in done.stderr
    assert _leaks(done.stdout + done.stderr, wrong_token, wrong_key, token, app_key) == []
    # A missing variable is named, its neighbours' values are not shown.
    env = _env("http://127.0.0.1:9", wrong_token, wrong_key, warehouse.dsn)
    del env["TRAEDE_APP_KEY"]
    missing = _cli(env, "sync", "traede")
    assert missing.returncode == 2 and "TRAEDE_APP_KEY" in missing.stderr
    assert _leaks(missing.stdout + missing.stderr, wrong_token) == []


def test_exception_text_and_reprs_hold_no_secret(warehouse: Warehouse) -> None:
    token, app_key = _secrets()
    wrong_token, wrong_key = _secrets()
    server, _ = _serve(token, app_key, invoices=5)
    with server:
        settings = TraedeSettings(
            base_url=server.url,
            api_token=Secret(wrong_token),
            app_key=Secret(wrong_key),
            system_id=SYSTEM_ID,
            http=fast_http(max_attempts=2),
        )
        result = run_traede(settings, warehouse, SyncOptions())
    assert isinstance(result.error, SourceError) and result.exit_code == 4
    texts = [str(result.error), repr(result.error), result.reason, repr(settings), str(settings)]
    texts += [str(result.error.__cause__ or ""), json.dumps(result.as_metadata())]
    assert _leaks("\n".join(texts), wrong_token, wrong_key) == []
    # Credentials in a URL's query are redacted in error text.
    err = SourceError("traede", "x", "boom", url=f"https://h/p?access_token={wrong_token}&a=1")
    assert wrong_token not in str(err) and "access_token=***" in str(err)
    # A database password never shows in connection errors.
    password = uuid.uuid4().hex
    url = make_url(f"postgresql+psycopg://user:{password}@127.0.0.1:9/nowhere")
    wh = Warehouse(
        WarehouseSettings(database_url=Secret(str(url)), home=warehouse.settings.home),
        target=Target(url, embedded=False),
    )
    with pytest.raises(ConnectorError) as info:
        wh.connect()
    assert password not in str(info.value) and password not in repr(info.value)
    assert password not in wh.description


def test_dagster_events_and_metadata_hold_no_secret(warehouse: Warehouse, pg_url: str) -> None:
    from dagster_defs.definitions import build_definitions
    from dagster_defs.resources import (
        TraedeApiResource,
        UnleashedApiResource,
        WarehouseResource,
        XeroApiResource,
    )

    token, app_key = _secrets()
    server, _ = _serve(token, app_key, "*.export:500@calls=1", invoices=40, credit_notes=10)
    texts: list[str] = []
    with server:
        for given_token in (token, f"wrong-{uuid.uuid4().hex}"):
            resources = {
                "traede": TraedeApiResource(
                    base_url=server.url,
                    api_token=given_token,
                    app_key=app_key,
                    system_id=SYSTEM_ID,
                ),
                "warehouse": WarehouseResource(database_url=pg_url),
                "xero": XeroApiResource(),
                "unleashed": UnleashedApiResource(),
            }
            job = build_definitions(resources).resolve_job_def("traede_sync")
            with dg.DagsterInstance.ephemeral() as instance:
                result = job.execute_in_process(instance=instance, raise_on_error=False)
                for event in result.all_events:
                    texts.append(repr(event))
                    texts.append(str(event.message))
                for record in instance.all_logs(result.run_id):
                    texts.append(record.to_json())
                for mat in result.get_asset_materialization_events():
                    texts.append(repr(mat.materialization.metadata))
                texts.append(repr(instance.get_run_by_id(result.run_id)))
            if given_token == token:
                assert result.success
            else:
                assert not result.success
            assert _leaks("\n".join(texts), given_token, app_key) == []
    assert len(texts) > 50


def test_tls_verification_is_on_by_default() -> None:
    settings = TraedeSettings.from_env(
        {"TRAEDE_API_TOKEN": "t", "TRAEDE_APP_KEY": "k", "TRAEDE_SYSTEM_ID": "s"}
    )
    assert settings.base_url.startswith("https://")
    assert settings.http.verify_tls is True
    with TraedeClient(settings) as client:
        context = client._http._transport._pool._ssl_context  # httpx's own verify setting
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    off = TraedeSettings.from_env(
        {
            "TRAEDE_API_TOKEN": "t",
            "TRAEDE_APP_KEY": "k",
            "TRAEDE_SYSTEM_ID": "s",
            "TRAEDE_VERIFY_TLS": "0",
        }
    )
    assert off.http.verify_tls is False  # only when explicitly turned off


HOSTILE_KEY = "x'); DROP TABLE staging.traede_invoices; --"
HOSTILE_VALUE = "Robert'); DROP TABLE connector.export_outbox; -- \" ; \\ $$ E'\\x00'"


def test_hostile_field_names_and_values_land_as_data(warehouse: Warehouse, db) -> None:
    token, app_key = _secrets()
    server, state = _serve(token, app_key, invoices=6, accounting_entries=4)
    base = state.document("invoices", 100001)
    entry = state.document("accounting_entries", 900001)
    assert base is not None and entry is not None
    hostile_doc = dict(
        base,
        id=100_050,
        notes=HOSTILE_VALUE,
        order_type='b2b"; DELETE FROM staging.traede_invoice_lines; --',
        meta={HOSTILE_KEY: HOSTILE_VALUE, "nested": {"$$": "';--"}},
        **{HOSTILE_KEY: 1, '"; TRUNCATE connector.sync_runs; --': "v"},
    )
    hostile_doc["lines"] = [dict(base["lines"][0], **{HOSTILE_KEY: "line"})]
    state.add_raw_document("invoices", 100_050, dumps(hostile_doc))
    state.add_raw_document(
        "accounting_entries", 900_050, dumps(dict(entry, id=900_050, text=HOSTILE_VALUE))
    )
    with server:
        settings = TraedeSettings(
            base_url=server.url,
            api_token=Secret(token),
            app_key=Secret(app_key),
            system_id=SYSTEM_ID,
            http=fast_http(),
        )
        result = run_traede(settings, warehouse, SyncOptions())
    assert result.exit_code == EXIT_OK, result.reason
    row = db.execute(
        "SELECT notes, order_type, meta, _raw FROM staging.traede_invoices WHERE id = 100050"
    ).fetchone()
    assert row is not None
    assert row[0] == HOSTILE_VALUE
    assert row[1].startswith('b2b"; DELETE')
    assert row[2][HOSTILE_KEY] == HOSTILE_VALUE
    assert row[3][HOSTILE_KEY] == 1 and '"; TRUNCATE connector.sync_runs; --' in row[3]
    line = db.execute(
        "SELECT _raw FROM staging.traede_invoice_lines WHERE invoice_id = 100050"
    ).fetchone()
    assert line is not None and line[0][HOSTILE_KEY] == "line"
    text = db.execute(
        "SELECT text FROM staging.traede_accounting_entries WHERE id = 900050"
    ).fetchone()
    assert text == (HOSTILE_VALUE,)
    # Every table is still there and whole.
    tables = {
        r[0]
        for r in db.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('staging', 'connector')"
        ).fetchall()
    }
    assert {
        "staging.traede_invoices",
        "staging.traede_invoice_lines",
        "connector.export_outbox",
        "connector.sync_runs",
    } <= tables
    assert len(staging_ids(db, "invoices")) >= 6
    assert db.execute("SELECT count(*) FROM staging.traede_invoice_lines").fetchone()[0] > 6
    assert db.execute("SELECT count(*) FROM connector.sync_runs").fetchone() == (1,)
    assert marked_ids(state, "invoices", SYSTEM_ID) == staging_ids(db, "invoices")
