"""The warehouse: engine, migrations, loading, outbox, rejects, cursors and run records.

The engine is the embedded Postgres when ``DATABASE_URL`` is unset. Knows no source API.
"""

from typing import Any

import psycopg
import sqlalchemy as sa

from connector.config import WarehouseSettings
from connector.errors import WarehouseError
from connector.warehouse.engine import (
    Target,
    connection_error,
    create_engine,
    libpq_dsn,
    resolve_target,
)
from connector.warehouse.migrations import apply_migrations


class Warehouse:
    """Entry point to the warehouse for the pipeline, the CLI and Dagster."""

    def __init__(
        self, settings: WarehouseSettings | None = None, *, target: Target | None = None
    ) -> None:
        self.settings = settings or WarehouseSettings.from_env()
        self.target = target or resolve_target(self.settings)
        self.dsn = libpq_dsn(self.target.url)
        self._engine: sa.Engine | None = None

    @property
    def engine(self) -> sa.Engine:
        """A pooled SQLAlchemy engine (created on first use)."""
        if self._engine is None:
            self._engine = create_engine(self.target)
        return self._engine

    @property
    def description(self) -> str:
        """Where the data goes, without the password."""
        return self.target.description

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A new psycopg connection (loading, marking and locks each use their own)."""
        try:
            return psycopg.connect(self.dsn, **kwargs)
        except psycopg.OperationalError as exc:
            raise connection_error(self.target, exc) from None

    def migrate(self) -> list[str]:
        """Apply missing migrations; return the files applied."""
        with self.connect() as conn:
            return apply_migrations(conn)

    def dispose(self) -> None:
        """Close pooled connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


__all__ = ["Warehouse", "WarehouseError"]
