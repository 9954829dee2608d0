"""The ``connector`` command: migrate | sync | mark | status | check | emulator | demo.

The only place that configures logging and catches :class:`ConnectorError` broadly: each
error becomes one line on stderr and the exit code of ``connector.flows.results``
(README lists them).
"""

import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

import click

from connector.config import TraedeSettings, WarehouseSettings, parse_since
from connector.emulator.commands import emulator as emulator_commands
from connector.errors import ConfigError, ConnectorError
from connector.flows.results import SyncResult
from connector.sources.traede.endpoints import RESOURCES

log = logging.getLogger("connector")


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("connector").setLevel(logging.INFO if verbose == 0 else level)
    # httpx logs every request URL at INFO; keep it quiet unless asked.
    for noisy in ("httpx", "httpcore", "pgserver", "uvicorn", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)


def fail(exc: ConnectorError) -> NoReturn:
    """Print one line for ``exc`` (with what to do) and exit with its code."""
    line = str(exc).splitlines()[0]
    if exc.__cause__ is not None and "connector migrate" not in line:
        from connector.warehouse.engine import database_hint

        hint = database_hint(exc.__cause__)
        line += f"; {hint}" if hint else ""
    click.echo(f"error: {line}", err=True)
    sys.exit(exc.exit_code)


def _guard(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except ConnectorError as exc:
        fail(exc)
    except Exception as exc:  # a database error past the flows: one line saying what to do
        from connector.warehouse.engine import as_warehouse_error

        error = as_warehouse_error(exc)
        if error is None:
            raise
        fail(error)


def _warehouse() -> Any:
    from connector.warehouse import Warehouse

    settings = WarehouseSettings.from_env()
    wh = Warehouse(settings)
    if wh.target.embedded:
        click.echo(f"warehouse: embedded Postgres, data in {settings.home / 'pgdata'}", err=True)
    return wh


def _parse_since(value: str | None) -> datetime | None:
    try:
        return parse_since(value, "--not-exported-since")
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


def report(result: SyncResult) -> NoReturn:
    """Print a run's counters and exit with its code (one line of reason when not 0)."""
    from connector.console import print_result

    print_result(result)
    if result.exit_code and result.error is not None:
        fail(result.error)
    if result.exit_code:
        click.echo(f"error: {result.reason}", err=True)
    sys.exit(result.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="accounting-export-connector")
def main(verbose: int) -> None:
    """Move TRAEDE, Xero and Unleashed accounting documents into Postgres staging tables."""
    _setup_logging(verbose)


@main.command()
def migrate() -> None:
    """Apply missing migrations from sql/ (a second run changes nothing)."""

    def run() -> None:
        wh = _warehouse()
        applied = wh.migrate()
        if applied:
            for name in applied:
                click.echo(f"applied {name}")
        else:
            click.echo(f"{wh.description}: up to date")

    _guard(run)


resource_option = click.option(
    "--resource",
    "resources",
    multiple=True,
    type=click.Choice(RESOURCES),
    help="Only this resource (repeatable). Default: all three.",
)


@main.group()
def sync() -> None:
    """Load a source into staging (TRAEDE: then mark what was committed)."""


@sync.command("traede")
@resource_option
@click.option(
    "--not-exported-since",
    metavar="ISO8601",
    help="Backfill: also re-deliver documents marked exported since this instant (UTC).",
)
@click.option("--include-non-booked", is_flag=True, help="Also export drafts.")
@click.option("--no-mark", is_flag=True, help="Load only; leave the outbox pending.")
@click.option("--mark-concurrency", type=click.IntRange(1, 32), help="Mark calls in flight.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a TTY).")
def sync_traede(
    resources: tuple[str, ...],
    not_exported_since: str | None,
    include_non_booked: bool,
    no_mark: bool,
    mark_concurrency: int | None,
    progress: bool | None,
) -> None:
    """Fetch the unexported backlog, load it, then mark exactly what was committed."""
    from connector.console import progress_bars
    from connector.flows.traede import SyncOptions, run_traede

    since = _parse_since(not_exported_since)
    settings = _guard(TraedeSettings.from_env)
    wh = _guard(_warehouse)
    options = SyncOptions(
        resources=resources or RESOURCES,
        not_exported_since=since,
        include_non_booked=include_non_booked,
        mark=not no_mark,
        mark_concurrency=mark_concurrency,
    )
    with progress_bars(enabled=progress) as bar:
        result = _guard(lambda: run_traede(settings, wh, options, progress=bar))
    report(result)


full_option = click.option(
    "--full",
    is_flag=True,
    help="Full re-sync: re-read everything whatever the cursor, upsert, and leave the cursor "
    "where a normal run would (catches edits that never bump the modified timestamp).",
)


@sync.command("xero")
@full_option
def sync_xero(full: bool) -> None:
    """Load Xero credit notes changed since the stored cursor (per tenant)."""
    from connector.config import XeroSettings
    from connector.flows.xero import sync_xero as run

    settings = _guard(XeroSettings.from_env)
    wh = _guard(_warehouse)
    report(_guard(lambda: run(settings, wh, full=full)))


@sync.command("unleashed")
@full_option
def sync_unleashed(full: bool) -> None:
    """Load Unleashed credit notes changed since the stored cursor."""
    from connector.config import UnleashedSettings
    from connector.flows.unleashed import sync_unleashed as run

    settings = _guard(UnleashedSettings.from_env)
    wh = _guard(_warehouse)
    report(_guard(lambda: run(settings, wh, full=full)))


@main.group()
def mark() -> None:
    """Acknowledge committed outbox rows at the source."""


@mark.command("traede")
@resource_option
@click.option("--mark-concurrency", type=click.IntRange(1, 32), help="Mark calls in flight.")
@click.option(
    "--retry-parked",
    is_flag=True,
    help="First put parked marks (failed in TRAEDE_MARK_MAX_ATTEMPTS runs) back to pending.",
)
def mark_traede(
    resources: tuple[str, ...], mark_concurrency: int | None, retry_parked: bool
) -> None:
    """Drain the outbox: pending and failed marks, oldest first (parked ones only if asked)."""
    from connector.flows.traede import SyncOptions, run_traede

    settings = _guard(TraedeSettings.from_env)
    wh = _guard(_warehouse)
    options = SyncOptions(
        resources=resources or RESOURCES,
        mark_concurrency=mark_concurrency,
        retry_parked=retry_parked,
    )
    report(_guard(lambda: run_traede(settings, wh, options, kind="mark")))


@main.command()
@click.option("--runs", "limit", default=10, show_default=True, help="How many recent runs.")
def status(limit: int) -> None:
    """Pending and failed marks, open rejects with reasons, the last runs."""
    from connector.console import print_status

    wh = _guard(_warehouse)
    _guard(lambda: print_status(wh, limit))


@main.command()
def check() -> None:
    """Validate settings, reach the database and each configured source once."""
    from connector.checkup import run_checks

    ok = run_checks()
    sys.exit(0 if ok else 2)


@main.group()
def db() -> None:
    """The embedded Postgres (used when DATABASE_URL is unset): status, stop."""


def _embedded_home() -> Any:
    settings = _guard(WarehouseSettings.from_env)
    if settings.database_url is not None:
        click.echo("DATABASE_URL is set: the connector uses that server, not the embedded one")
    return settings.home


@db.command("status")
def db_status() -> None:
    """Whether the embedded server runs, its pid and data directory."""
    from connector.warehouse.embedded import embedded_pid

    home = _embedded_home()
    pid = embedded_pid(home)
    state = f"running (pid {pid})" if pid else "stopped"
    click.echo(f"embedded Postgres: {state}, data in {home / 'pgdata'}")


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded server (the next command that needs it starts it again)."""
    from connector.warehouse.embedded import stop_embedded

    home = _embedded_home()
    pid = _guard(lambda: stop_embedded(home))
    if pid is None:
        click.echo(f"embedded Postgres: not running (data in {home / 'pgdata'})")
    else:
        click.echo(f"embedded Postgres: stopped (pid {pid}), data kept in {home / 'pgdata'}")


main.add_command(emulator_commands, name="emulator")


@main.command()
@click.option("--ui", is_flag=True, help="Open `dagster dev` wired to the emulators instead.")
@click.option("--invoices", default=3000, show_default=True)
@click.option("--seed", default=7, show_default=True)
def demo(ui: bool, invoices: int, seed: int) -> None:
    """Emulators + embedded Postgres + a whole sync, then a summary."""
    from connector.demo import run_demo, run_demo_ui

    if ui:
        sys.exit(_guard(lambda: run_demo_ui(seed=seed, invoices=invoices)))
    sys.exit(_guard(lambda: run_demo(seed=seed, invoices=invoices)))
