"""SQLAlchemy 2 engine on psycopg 3: ``DATABASE_URL`` or the embedded Postgres.

The warehouse speaks to Postgres through raw psycopg connections taken from this engine's pool
(COPY needs them); SQLAlchemy gives pooling, URL handling and pre-ping.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from connector.config import WarehouseSettings
from connector.errors import WarehouseError
from connector.warehouse.embedded import embedded_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """Where we write: the URL (with password) and a printable description (without)."""

    url: URL
    embedded: bool

    @property
    def description(self) -> str:
        """``database on host`` (socket directory when embedded), never the password."""
        host = self.url.host or str(self.url.query.get("host", "local socket"))
        return f"database {self.url.database!r} on {host}"

    @property
    def database(self) -> str:
        """The database name."""
        return self.url.database or "postgres"


def resolve_target(settings: WarehouseSettings) -> Target:
    """Turn the settings into a :class:`Target`, starting the embedded server when needed."""
    if settings.database_url is None:
        return Target(make_url(embedded_url(settings.home)), embedded=True)
    raw = settings.database_url.reveal()
    try:
        url = make_url(raw)
    except sa.exc.ArgumentError:
        raise WarehouseError("DATABASE_URL is not a valid database URL") from None
    if url.drivername in {"postgresql", "postgres", "postgresql+psycopg2"}:
        url = url.set(drivername="postgresql+psycopg")
    return Target(url, embedded=False)


def libpq_dsn(url: URL) -> str:
    """A libpq connection string for ``url`` (for psycopg.connect and child processes)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine(target: Target) -> sa.Engine:
    """Create the engine; the first connection is tested and its failure made readable."""
    engine = sa.create_engine(target.url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        raise connection_error(target, exc) from None
    return engine


def connection_error(target: Target, exc: BaseException) -> WarehouseError:
    """Wrap a connection failure: names host, database and the variable to check."""
    text = (
        str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
    )
    if target.url.password:
        text = text.replace(str(target.url.password), "***")
    where = (
        "the embedded server: `connector db stop`, then retry, or set DATABASE_URL"
        if target.embedded
        else "DATABASE_URL (host, port, database, user and password)"
    )
    return WarehouseError(f"cannot connect to Postgres {target.description}: {text}. Check {where}")


def database_hint(exc: BaseException) -> str:
    """What to do about a database error in ``exc`` or its causes; empty when nothing fits.

    Covers the usual install-time causes: tables missing (not migrated) and a missing grant.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sa.exc.DBAPIError) and seen.orig is not None:
            seen = seen.orig
        if isinstance(seen, psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName):
            return "the warehouse is not migrated: run `connector migrate`"
        if isinstance(seen, psycopg.errors.InsufficientPrivilege):
            return (
                "the connector's role lacks a grant: `connector migrate` names it "
                "(README, Warehouse permissions)"
            )
        seen = seen.__cause__ or seen.__context__
    return ""


def as_warehouse_error(exc: BaseException) -> WarehouseError | None:
    """A database error that escaped the flows as one readable :class:`WarehouseError`.

    None for anything that is not a database error.
    """
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if not isinstance(exc, psycopg.Error):
        return None
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    hint = database_hint(exc)
    return WarehouseError(f"database error: {first}" + (f"; {hint}" if hint else ""))


@contextmanager
def raw_connection(engine: sa.Engine) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """Borrow a pooled connection as a plain psycopg 3 connection (autocommit off)."""
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        try:
            yield driver
        finally:
            if not driver.closed and driver.info.transaction_status != 0:
                driver.rollback()
