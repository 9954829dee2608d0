"""Staging table shapes, one module per source; :mod:`connector.tables.spec` defines the types."""

from connector.tables.spec import BOOKKEEPING, Column, TableSpec

__all__ = ["BOOKKEEPING", "Column", "TableSpec"]
