"""Thin Dagster wiring over the connector library (DESIGN.md §4): ``definitions.defs``."""

from dagster_defs.definitions import defs

__all__ = ["defs"]
