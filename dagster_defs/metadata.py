"""Materialization metadata: table schemas, row counts, previews and run counters.

Row counts come from ``connector.warehouse.checks``, previews from ``connector.warehouse.frames``
(pandas over the SQLAlchemy engine); nothing here writes SQL.
"""

from typing import Any

import dagster as dg

from connector.flows.results import LOAD_KEYS, SyncResult
from connector.tables.spec import TableSpec
from connector.warehouse import Warehouse, checks
from connector.warehouse.frames import frame_markdown, preview_frame

PREVIEW_ROWS = 5


def table_schema(spec: TableSpec) -> dg.TableSchema:
    """The staging table's columns as Dagster shows them."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name=c.name, type=c.pg_type) for c in spec.columns]
    )


def table_metadata(warehouse: Warehouse, spec: TableSpec) -> dict[str, Any]:
    """Row count, column schema and a preview of a staging table after a load."""
    with warehouse.connect() as conn:
        rows = checks.row_count(conn, spec)
    sample = preview_frame(warehouse.engine, spec, PREVIEW_ROWS)
    return {
        "table": spec.name,
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(table_schema(spec)),
        "preview": dg.MetadataValue.md(frame_markdown(sample)),
    }


def run_metadata(result: SyncResult) -> dict[str, Any]:
    """Duration, connector run id and status of any run."""
    return {
        "duration_s": dg.MetadataValue.float(round(result.seconds, 3)),
        "connector_run_id": result.run_id,
        "status": result.status,
    }


def load_metadata(result: SyncResult) -> dict[str, Any]:
    """Counters of a load (or cursor sync) run."""
    counters: dict[str, Any] = {name: result.total(name) for name in LOAD_KEYS}
    return {**counters, **run_metadata(result)}


def mark_metadata(result: SyncResult) -> dict[str, Any]:
    """Counters of a mark run and what is still pending in the outbox."""
    return {
        "marked": result.total("marked"),
        "failed": result.total("mark_failed"),
        "calls": result.total("mark_calls"),
        "pending": result.pending_marks,
        **run_metadata(result),
    }
