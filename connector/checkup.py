"""``connector check``: settings, database and one cheap call per configured source.

Each item prints ✔ or ✘ with what is wrong and how to fix it. Secrets are never printed:
errors carry variable names and redacted URLs only.
"""

import os
from collections.abc import Callable

import click

from connector.config import (
    TraedeSettings,
    UnleashedSettings,
    WarehouseSettings,
    XeroSettings,
    source_mentioned,
)
from connector.errors import ConnectorError
from connector.sources.traede.client import TraedeClient
from connector.sources.unleashed.client import UnleashedClient
from connector.sources.xero.client import XeroClient


def _item(name: str, check: Callable[[], str]) -> bool:
    try:
        detail = check()
    except ConnectorError as exc:
        click.echo(f"✘ {name}: {str(exc).splitlines()[0]}")
        return False
    except Exception as exc:
        from connector.warehouse.engine import as_warehouse_error

        error = as_warehouse_error(exc)
        if error is None:
            raise
        click.echo(f"✘ {name}: {error}")
        return False
    click.echo(f"✔ {name}: {detail}")
    return True


def _database() -> str:
    from connector.warehouse import Warehouse
    from connector.warehouse.migrations import discover

    wh = Warehouse(WarehouseSettings.from_env())
    with wh.connect() as conn:
        row = conn.execute("SELECT current_setting('server_version')").fetchone()
        applied = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'connector' "
            "AND tablename = 'schema_migrations'"
        ).fetchone()
        done = 0
        if applied and applied[0]:
            got = conn.execute("SELECT count(*) FROM connector.schema_migrations").fetchone()
            done = int(got[0]) if got else 0
    missing = len(discover()) - done
    state = (
        "schema up to date"
        if missing <= 0
        else f"{missing} migration(s) to apply (run `connector migrate`)"
    )
    version = row[0] if row else "?"
    return f"PostgreSQL {version}, {wh.description}, {state}"


def _traede() -> str:
    settings = TraedeSettings.from_env()
    with TraedeClient(settings) as client:
        backlog = client.probe()
    return f"{settings.base_url} answers; system_id {settings.system_id!r}; {backlog}"


def _xero() -> str:
    settings = XeroSettings.from_env()
    with XeroClient(settings) as client:
        return f"{settings.base_url} answers; {client.probe()}"


def _unleashed() -> str:
    settings = UnleashedSettings.from_env()
    with UnleashedClient(settings) as client:
        return f"{settings.base_url} answers; {client.probe()}"


def run_checks() -> bool:
    """Run every check; True when all pass."""
    ok = _item("database", _database)
    env = os.environ
    configured = 0
    for source, check in (("traede", _traede), ("xero", _xero), ("unleashed", _unleashed)):
        if source_mentioned(env, source):
            # Any of its variables set means it is meant to run: the check names what is missing.
            configured += 1
            ok = _item(source, check) and ok
        else:
            click.echo(f"- {source}: not configured (set its variables to enable it; see README)")
    if not configured:
        click.echo(
            "✘ no source is configured: set TRAEDE_API_TOKEN, TRAEDE_APP_KEY, TRAEDE_SYSTEM_ID "
            "(or the variables of Xero or Unleashed)"
        )
        ok = False
    return ok
