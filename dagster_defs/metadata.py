"""Materialization metadata: table schemas, row counts, previews and run counters.

Row counts and previews come from ``connector.warehouse.checks``; nothing here writes SQL.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from connector.flows.results import SyncResult
from connector.tables.spec import BOOKKEEPING, TableSpec
from connector.warehouse import Warehouse, checks

PREVIEW_ROWS = 5
CELL_CHARS = 40
LOAD_COUNTERS = (
    "fetched",
    "inserted",
    "updated",
    "unchanged",
    "lines",
    "rejected",
    "pages",
    "api_calls",
    "retries",
)


def table_schema(spec: TableSpec) -> dg.TableSchema:
    """The staging table's columns as Dagster shows them."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name=c.name, type=c.pg_type) for c in spec.columns]
    )


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A small markdown table of ``rows`` (cells cut to 40 characters)."""
    if not rows:
        return "_no rows_"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def table_metadata(warehouse: Warehouse, spec: TableSpec) -> dict[str, Any]:
    """Row count, column schema and a preview of a staging table after a load."""
    with warehouse.connect() as conn:
        rows = checks.row_count(conn, spec)
        sample = checks.preview(conn, spec, PREVIEW_ROWS)
    shown = [{k: v for k, v in row.items() if k not in BOOKKEEPING} for row in sample]
    return {
        "table": spec.name,
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(table_schema(spec)),
        "preview": dg.MetadataValue.md(markdown_table(shown)),
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
    counters: dict[str, Any] = {name: result.total(name) for name in LOAD_COUNTERS}
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
