"""``connector demo``: the emulators and the embedded Postgres, a whole sync, then a summary.

Nothing here is special-cased for the demo: it runs the same ``run_traede`` as
``connector sync traede``, against an emulator served over real HTTP on 127.0.0.1.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from connector.config import Secret, TraedeSettings, WarehouseSettings
from connector.console import console, print_result, progress_bars
from connector.emulator.server import EmulatorServer
from connector.emulator.traede import create_traede_app
from connector.flows.traede import SyncOptions, run_traede
from connector.tables.traede import ALL_TRAEDE
from connector.tables.unleashed import ALL_UNLEASHED
from connector.tables.xero import ALL_XERO
from connector.warehouse import Warehouse
from connector.warehouse import outbox as outbox_rows

DEMO_TOKEN = "demo-token"  # the emulator's own credentials, not a real secret
DEMO_APP_KEY = "demo-app-key"
DEMO_SYSTEM_ID = "demo-erp"


@dataclass
class DemoServers:
    """Base URLs of the running emulators and the env a child process needs to reach them."""

    traede_url: str
    env: dict[str, str]


@contextmanager
def demo_servers(seed: int, invoices: int) -> Iterator[DemoServers]:
    """Start the emulators (a few thousand documents) on free loopback ports."""
    with ExitStack() as stack:
        app, _ = create_traede_app(
            seed=seed,
            invoices=invoices,
            credit_notes=max(1, invoices // 5),
            accounting_entries=invoices,
            token=DEMO_TOKEN,
            app_key=DEMO_APP_KEY,
        )
        traede = stack.enter_context(EmulatorServer(app))
        env = {
            "TRAEDE_BASE_URL": traede.url,
            "TRAEDE_API_TOKEN": DEMO_TOKEN,
            "TRAEDE_APP_KEY": DEMO_APP_KEY,
            "TRAEDE_SYSTEM_ID": DEMO_SYSTEM_ID,
        }
        env.update(_extra_sources(stack, seed))
        yield DemoServers(traede_url=traede.url, env=env)


def _extra_sources(stack: ExitStack, seed: int) -> dict[str, str]:
    """Xero and Unleashed emulators, when those sources are installed."""
    env: dict[str, str] = {}
    try:
        from connector.emulator.unleashed import create_unleashed_app
        from connector.emulator.xero import create_xero_app
    except ImportError:
        return env
    xero_app, _ = create_xero_app(
        seed=seed, tenants=("demo-tenant",), count=300, client_id="demo-client",
        client_secret="demo-secret",
    )  # fmt: skip
    xero = stack.enter_context(EmulatorServer(xero_app))
    env.update(
        XERO_BASE_URL=f"{xero.url}/api.xro/2.0",
        XERO_TOKEN_URL=f"{xero.url}/connect/token",
        XERO_CLIENT_ID="demo-client",
        XERO_CLIENT_SECRET="demo-secret",
        XERO_TENANT_IDS="demo-tenant",
    )
    unleashed_app, _ = create_unleashed_app(
        seed=seed, count=300, api_id="demo-id", api_key="demo-key"
    )
    unleashed = stack.enter_context(EmulatorServer(unleashed_app))
    env.update(
        UNLEASHED_BASE_URL=unleashed.url,
        UNLEASHED_API_ID="demo-id",
        UNLEASHED_API_KEY="demo-key",
        UNLEASHED_CLIENT_TYPE="demo/connector",
    )
    return env


def run_demo(seed: int = 7, invoices: int = 3000) -> int:
    """Run the demo; returns the exit code of the TRAEDE sync."""
    started = time.monotonic()
    wh = Warehouse(WarehouseSettings.from_env())
    console.print(
        f"[bold]warehouse[/]: {wh.description}" + (" (embedded)" if wh.target.embedded else "")
    )
    with demo_servers(seed, invoices) as servers:
        console.print(f"[bold]TRAEDE emulator[/]: {servers.traede_url}")
        settings = TraedeSettings(
            base_url=servers.traede_url,
            api_token=Secret(DEMO_TOKEN),
            app_key=Secret(DEMO_APP_KEY),
            system_id=DEMO_SYSTEM_ID,
        )
        with progress_bars(enabled=True) as bar:
            result = run_traede(settings, wh, SyncOptions(), trigger="demo", progress=bar)
        print_result(result)
        others = _sync_other_sources(servers, wh)
    _summary(wh)
    for line in others:
        console.print(line)
    console.print(f"[bold]demo finished in {time.monotonic() - started:.1f}s[/]")
    if result.exit_code:
        console.print(f"[red]exit {result.exit_code}: {result.reason}[/]")
    return result.exit_code


def _sync_other_sources(servers: DemoServers, wh: Warehouse) -> list[str]:
    if "XERO_BASE_URL" not in servers.env:
        return []
    from connector.config import UnleashedSettings, XeroSettings

    try:
        from connector.flows.unleashed import sync_unleashed
        from connector.flows.xero import sync_xero
    except ImportError:
        return []

    lines = []
    xero = sync_xero(XeroSettings.from_env(servers.env), wh, trigger="demo")
    lines.append(f"xero: {xero.total('fetched')} credit notes fetched ({xero.status})")
    unleashed = sync_unleashed(UnleashedSettings.from_env(servers.env), wh, trigger="demo")
    lines.append(
        f"unleashed: {unleashed.total('fetched')} credit notes fetched ({unleashed.status})"
    )
    return lines


def _summary(wh: Warehouse) -> None:
    with wh.connect() as conn:
        table = Table(title="rows per staging table")
        table.add_column("table")
        table.add_column("rows", justify="right")
        names = [
            *(s.name for s in ALL_TRAEDE),
            *(s.name for s in ALL_XERO),
            *(s.name for s in ALL_UNLEASHED),
            "analytics.credit_notes",
        ]
        for name in names:
            exists = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
            if not exists or exists[0] is None:
                continue
            row = conn.execute(f"SELECT count(*) FROM {name}").fetchone()  # fixed names only
            table.add_row(name, f"{row[0] if row else 0:,}")
        console.print(table)
        marks = outbox_rows.counts(conn, "traede", DEMO_SYSTEM_ID)
        mtable = Table(title="marks (connector.export_outbox)")
        for col in ("resource", "acked", "pending", "failed"):
            mtable.add_column(col)
        for resource, states in sorted(marks.items()):
            mtable.add_row(
                resource, *(f"{states.get(s, 0):,}" for s in ("acked", "pending", "failed"))
            )
        console.print(mtable)
        rejected = conn.execute(
            "SELECT count(*) FROM connector.rejects WHERE resolved_at IS NULL"
        ).fetchone()
        console.print(f"open rejects: {rejected[0] if rejected else 0}")
        sample = conn.execute(
            "SELECT i.id, i.invoice_number, i.currency, i.total_price_after_vat, "
            "count(l.*) AS lines, i.notes FROM staging.traede_invoices i "
            "LEFT JOIN staging.traede_invoice_lines l ON l.invoice_id = i.id "
            "GROUP BY i.id ORDER BY i.id LIMIT 5"
        ).fetchall()
        stable = Table(title="sample invoices")
        for col in ("id", "number", "currency", "total incl. VAT", "lines", "notes"):
            stable.add_column(col)
        for row in sample:
            stable.add_row(*(str(v) if v is not None else "" for v in row))
        console.print(stable)


def run_demo_ui(seed: int = 7, invoices: int = 3000) -> int:
    """Start the emulators and the embedded Postgres, then ``dagster dev`` wired to them."""
    settings = WarehouseSettings.from_env()
    wh = Warehouse(settings)
    wh.migrate()
    repo = Path(__file__).resolve().parents[1]
    dagster_home = settings.home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    with demo_servers(seed, invoices) as servers:
        env = dict(os.environ)
        env.update(servers.env)
        env["DATABASE_URL"] = wh.dsn
        env["DAGSTER_HOME"] = str(dagster_home)
        console.print(f"TRAEDE emulator: {servers.traede_url}; warehouse: {wh.description}")
        console.print("Dagster UI: http://127.0.0.1:3000 (Ctrl-C to stop)")
        cmd = [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(repo / "workspace.yaml"),
            "-p",
            "3000",
        ]
        try:
            return subprocess.call(cmd, cwd=repo, env=env)
        except KeyboardInterrupt:
            return 0
