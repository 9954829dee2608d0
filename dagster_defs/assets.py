"""Assets: one per (system, document) plus the TRAEDE mark steps, made by small factories.

Each asset calls one library entry point (``run_traede``, ``sync_xero``, ``sync_unleashed``) and
turns its :class:`SyncResult` into materialization metadata. No SQL and no HTTP live here: row
counts and previews come from ``connector.warehouse.checks``.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import Field

from connector.config import parse_since
from connector.errors import ConnectorError, DailyLimitError, TransientSourceError
from connector.errors import WarehouseError as _WarehouseError
from connector.flows.results import SyncResult
from connector.flows.traede import SyncOptions, run_traede
from connector.flows.unleashed import sync_unleashed
from connector.flows.xero import sync_xero
from connector.tables.spec import BOOKKEEPING, TableSpec
from connector.tables.traede import (
    TRAEDE_ACCOUNTING_ENTRIES,
    TRAEDE_CREDIT_NOTE_LINES,
    TRAEDE_CREDIT_NOTES,
    TRAEDE_INVOICE_LINES,
    TRAEDE_INVOICES,
)
from connector.tables.unleashed import UNLEASHED_CREDIT_NOTE_LINES, UNLEASHED_CREDIT_NOTES
from connector.tables.xero import XERO_CREDIT_NOTE_LINES, XERO_CREDIT_NOTES
from connector.warehouse import Warehouse, checks
from dagster_defs.resources import (
    TraedeApiResource,
    UnleashedApiResource,
    WarehouseResource,
    XeroApiResource,
)

TRAEDE_RESOURCES = ("invoices", "credit_notes", "accounting_entries")
# resource -> (header table, line table or None)
TRAEDE_TABLES: dict[str, tuple[TableSpec, TableSpec | None]] = {
    "invoices": (TRAEDE_INVOICES, TRAEDE_INVOICE_LINES),
    "credit_notes": (TRAEDE_CREDIT_NOTES, TRAEDE_CREDIT_NOTE_LINES),
    "accounting_entries": (TRAEDE_ACCOUNTING_ENTRIES, None),
}
XERO_TABLES = (XERO_CREDIT_NOTES, XERO_CREDIT_NOTE_LINES)
UNLEASHED_TABLES = (UNLEASHED_CREDIT_NOTES, UNLEASHED_CREDIT_NOTE_LINES)

XERO_KEY = dg.AssetKey(["xero", "credit_notes"])
UNLEASHED_KEY = dg.AssetKey(["unleashed", "credit_notes"])
ANALYTICS_KEY = dg.AssetKey(["analytics", "credit_notes"])

# Transient HTTP failures are retried inside the client (connector/sources/retry.py, at most
# CONNECTOR_MAX_RETRY_WAIT = 300 s of waiting per call). This policy only covers a whole load
# step failing anyway (a long outage, a dropped database connection): two more attempts, 30 s
# then 60 s apart. Non-transient errors (bad config, 4xx, contract) are never retried.
# Worst case: docs/dagster.md, "Retries".
LOAD_RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)
PREVIEW_ROWS = 5


def traede_key(resource: str) -> dg.AssetKey:
    """Key of the TRAEDE staging asset for ``resource``."""
    return dg.AssetKey(["traede", resource])


def traede_mark_key(resource: str) -> dg.AssetKey:
    """Key of the mark step that follows the staging asset of ``resource``."""
    return dg.AssetKey(["traede", f"{resource}_marked"])


class TraedeLoadConfig(dg.Config):
    """Run config of a TRAEDE load step; a backfill sets ``not_exported_since``."""

    not_exported_since: str | None = Field(
        default=None,
        description="ISO 8601 instant (no zone means UTC). Re-delivers documents exported "
        "since then, e.g. 2024-06-01T00:00:00Z. Empty: only what is not yet exported.",
    )
    include_non_booked: bool = Field(
        default=False, description="Also export draft (non-booked) documents."
    )


class TraedeMarkConfig(dg.Config):
    """Run config of a TRAEDE mark step."""

    mark_concurrency: int | None = Field(
        default=None,
        description="Mark-as-exported calls in flight (1-32). Empty: the resource's "
        "mark_concurrency, else TRAEDE_MARK_CONCURRENCY, else 4.",
    )


def _retryable(error: ConnectorError) -> bool:
    if isinstance(error, DailyLimitError):
        return False  # waiting minutes does not bring a daily quota back
    return isinstance(error, TransientSourceError | _WarehouseError)


def _failure(error: ConnectorError) -> dg.Failure:
    return dg.Failure(
        description=f"{type(error).__name__}: {error}",
        metadata={"exit_code": error.exit_code},
        allow_retries=_retryable(error),
    )


@contextmanager
def typed_failure() -> Iterator[None]:
    """Turn a library error into a step failure carrying its message (retried only if transient)."""
    try:
        yield
    except ConnectorError as exc:
        raise _failure(exc) from exc


def _raise_for(result: SyncResult) -> None:
    if result.error is not None:
        raise _failure(result.error) from result.error


def table_schema(spec: TableSpec) -> dg.TableSchema:
    """The staging table's columns as Dagster shows them."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name=c.name, type=c.pg_type) for c in spec.columns]
    )


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 40 else text[:39] + "…"


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


def load_metadata(result: SyncResult) -> dict[str, Any]:
    """Counters of a load (or cursor sync) run."""
    return {
        "fetched": result.total("fetched"),
        "inserted": result.total("inserted"),
        "updated": result.total("updated"),
        "unchanged": result.total("unchanged"),
        "lines": result.total("lines"),
        "rejected": result.total("rejected"),
        "pages": result.total("pages"),
        "api_calls": result.total("api_calls"),
        "retries": result.total("retries"),
        "duration_s": dg.MetadataValue.float(round(result.seconds, 3)),
        "connector_run_id": result.run_id,
        "status": result.status,
    }


def traede_load_asset(resource: str) -> dg.AssetsDefinition:
    """The staging asset of one TRAEDE resource: an export pass into staging + outbox."""
    header, _ = TRAEDE_TABLES[resource]

    @dg.asset(
        key=traede_key(resource),
        group_name="traede",
        kinds={"postgres"},
        retry_policy=LOAD_RETRY,
        pool=f"traede_{resource}",
        description=f"TRAEDE {resource} exported to this system id, upserted into {header.name} "
        "(and its lines); each loaded id is queued in connector.export_outbox.",
    )
    def _load(
        context: dg.AssetExecutionContext,
        config: TraedeLoadConfig,
        traede: TraedeApiResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult[None]:
        with typed_failure():
            settings = traede.settings()
            options = SyncOptions(
                resources=(resource,),
                not_exported_since=parse_since(config.not_exported_since),
                include_non_booked=config.include_non_booked,
            )
            with warehouse.open() as wh:
                result = run_traede(
                    settings,
                    wh,
                    options,
                    kind="load",
                    trigger="dagster",
                    external_run_id=context.run_id,
                )
                _raise_for(result)
                metadata = {**load_metadata(result), **table_metadata(wh, header)}
        return dg.MaterializeResult(metadata=metadata)

    return _load


def traede_mark_asset(resource: str) -> dg.AssetsDefinition:
    """The mark step after one TRAEDE staging asset: drains the outbox (committed rows only)."""

    @dg.asset(
        key=traede_mark_key(resource),
        deps=[traede_key(resource)],
        group_name="traede",
        kinds={"postgres"},
        pool=f"traede_{resource}",
        description=f"Acknowledges committed TRAEDE {resource} at mark-as-exported "
        "(<= 10 ids a call), reading only connector.export_outbox.",
    )
    def _mark(
        context: dg.AssetExecutionContext,
        config: TraedeMarkConfig,
        traede: TraedeApiResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult[None]:
        with typed_failure():
            settings = traede.settings()
            options = SyncOptions(resources=(resource,), mark_concurrency=config.mark_concurrency)
            with warehouse.open() as wh:
                result = run_traede(
                    settings,
                    wh,
                    options,
                    kind="mark",
                    trigger="dagster",
                    external_run_id=context.run_id,
                )
            _raise_for(result)
        return dg.MaterializeResult(
            metadata={
                "marked": result.total("marked"),
                "failed": result.total("mark_failed"),
                "calls": result.total("mark_calls"),
                "pending": result.pending_marks,
                "duration_s": dg.MetadataValue.float(round(result.seconds, 3)),
                "connector_run_id": result.run_id,
                "status": result.status,
            }
        )

    return _mark


@dg.asset(
    key=XERO_KEY,
    group_name="xero",
    kinds={"postgres"},
    retry_policy=LOAD_RETRY,
    pool="xero_credit_notes",
    description="Xero credit notes changed since each tenant's cursor, upserted into "
    "staging.xero_credit_notes (and lines).",
)
def xero_credit_notes(
    context: dg.AssetExecutionContext, xero: XeroApiResource, warehouse: WarehouseResource
) -> dg.MaterializeResult[None]:
    with typed_failure():
        settings = xero.settings()
        with warehouse.open() as wh:
            result = sync_xero(settings, wh, trigger="dagster", external_run_id=context.run_id)
            _raise_for(result)
            metadata = {**load_metadata(result), **table_metadata(wh, XERO_CREDIT_NOTES)}
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=UNLEASHED_KEY,
    group_name="unleashed",
    kinds={"postgres"},
    retry_policy=LOAD_RETRY,
    pool="unleashed_credit_notes",
    description="Unleashed credit notes modified since the stored cursor, upserted into "
    "staging.unleashed_credit_notes (and lines).",
)
def unleashed_credit_notes(
    context: dg.AssetExecutionContext,
    unleashed: UnleashedApiResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult[None]:
    with typed_failure():
        settings = unleashed.settings()
        with warehouse.open() as wh:
            result = sync_unleashed(settings, wh, trigger="dagster", external_run_id=context.run_id)
            _raise_for(result)
            metadata = {**load_metadata(result), **table_metadata(wh, UNLEASHED_CREDIT_NOTES)}
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=ANALYTICS_KEY,
    deps=[traede_key("credit_notes"), XERO_KEY, UNLEASHED_KEY],
    group_name="analytics",
    kinds={"postgres"},
    description="analytics.credit_notes: one view over the three sources' credit notes.",
)
def analytics_credit_notes(warehouse: WarehouseResource) -> dg.MaterializeResult[None]:
    with typed_failure(), warehouse.open() as wh:
        applied = wh.migrate()
        with wh.connect() as conn:
            per_source = checks.credit_notes_by_source(conn)
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(sum(per_source.values())),
        "migrations_applied": len(applied),
    }
    for source in ("traede", "xero", "unleashed"):
        metadata[f"rows_{source}"] = per_source.get(source, 0)
    return dg.MaterializeResult(metadata=metadata)


def all_assets() -> list[dg.AssetsDefinition]:
    """Every asset of the project, in graph order."""
    assets: list[dg.AssetsDefinition] = []
    for resource in TRAEDE_RESOURCES:
        assets += [traede_load_asset(resource), traede_mark_asset(resource)]
    return [*assets, xero_credit_notes, unleashed_credit_notes, analytics_credit_notes]
