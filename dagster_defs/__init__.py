"""Thin Dagster wiring over the connector library (docs/architecture.md §1)."""

from dagster_defs.definitions import defs

__all__ = ["defs"]
