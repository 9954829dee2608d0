"""Staging table shapes shared by ``normalize/`` (column order) and ``warehouse/`` (COPY, merge).

Pure values, no I/O. The DDL in ``sql/`` creates the same tables; an integration test compares
the two so they cannot drift apart.
"""

from dataclasses import dataclass

BOOKKEEPING = ("_raw", "_loaded_at", "_run_id")


@dataclass(frozen=True)
class Column:
    """One staging column: name and Postgres type."""

    name: str
    pg_type: str


@dataclass(frozen=True)
class TableSpec:
    """A staging table: qualified name, columns in order, and its natural key."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    parent_key: str | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        """Column names in table order (the order rows are produced in)."""
        return tuple(c.name for c in self.columns)

    @property
    def schema(self) -> str:
        """Schema part of the qualified name."""
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        """Table part of the qualified name."""
        return self.name.split(".", 1)[1]

    @property
    def data_columns(self) -> tuple[str, ...]:
        """Columns that carry source data (no bookkeeping), compared to detect changes."""
        return tuple(c.name for c in self.columns if c.name not in BOOKKEEPING)


def staging_columns(*pairs: tuple[str, str]) -> tuple[Column, ...]:
    """Columns from ``pairs`` followed by the bookkeeping columns every staging table has."""
    tail = (("_raw", "jsonb"), ("_loaded_at", "timestamptz"), ("_run_id", "text"))
    return tuple(Column(n, t) for n, t in (*pairs, *tail))
