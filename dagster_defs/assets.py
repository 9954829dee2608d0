"""Assets, one per stream of the library's registry (``connector.tables.registry``) plus the
mark step of each stream that ``marks``, made by small factories.

Each asset calls one library entry point (``run_traede``, ``sync_xero``, ``sync_unleashed``) and
turns its :class:`SyncResult` into materialization metadata. No SQL and no HTTP live here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from connector.config import parse_since
from connector.flows.results import SyncResult
from connector.flows.traede import SyncOptions, run_traede
from connector.flows.unleashed import sync_unleashed
from connector.flows.xero import sync_xero
from connector.tables.registry import STREAMS, Stream, streams
from connector.warehouse import Warehouse, checks
from dagster_defs.failures import raise_for, typed_failure
from dagster_defs.keys import ANALYTICS_KEY, asset_key, group, mark_key, pool, words
from dagster_defs.metadata import load_metadata, mark_metadata, table_metadata
from dagster_defs.resources import (
    TraedeApiResource,
    UnleashedApiResource,
    WarehouseResource,
    XeroApiResource,
)
from dagster_defs.run_config import CursorLoadConfig, TraedeLoadConfig, TraedeMarkConfig

# Transient HTTP failures are retried inside the client (connector/sources/retry.py, at most
# CONNECTOR_MAX_RETRY_WAIT = 300 s of waiting per call). This policy only covers a whole load
# step failing anyway (a long outage, a dropped database connection): two more attempts, 30 s
# then 60 s apart. Non-transient errors (bad config, 4xx, contract) are never retried.
# Worst case: docs/dagster.md, "Retries".
LOAD_RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)

Sync = Callable[[Warehouse], SyncResult]


@dataclass(frozen=True)
class CursorSync:
    """A stream loaded from a stored cursor: how to read its settings and run its flow.

    ``prepare`` gets the step's resources (the API resource is keyed by the stream's system),
    the Dagster run id and whether the run is a full re-sync; it reads the settings, so a
    configuration error fails the step before the database is opened, and returns the sync to
    run against the warehouse.
    """

    label: str
    changed: str
    prepare: Callable[[Any, str, bool], Sync]


def _xero(resources: Any, run_id: str, full: bool) -> Sync:
    api: XeroApiResource = resources.xero
    settings = api.settings()
    return lambda wh: sync_xero(settings, wh, trigger="dagster", external_run_id=run_id, full=full)


def _unleashed(resources: Any, run_id: str, full: bool) -> Sync:
    api: UnleashedApiResource = resources.unleashed
    settings = api.settings()
    return lambda wh: sync_unleashed(
        settings, wh, trigger="dagster", external_run_id=run_id, full=full
    )


# Stream name -> its cursor flow. Every stream outside TRAEDE needs one (checked at import).
CURSOR_SYNCS: dict[str, CursorSync] = {
    "xero/credit_notes": CursorSync("Xero", "changed since each tenant's cursor", _xero),
    "unleashed/credit_notes": CursorSync(
        "Unleashed", "modified since the stored cursor", _unleashed
    ),
}


def traede_load_asset(stream: Stream) -> dg.AssetsDefinition:
    """The staging asset of one TRAEDE stream: an export pass into staging + outbox."""
    resource = stream.resource

    @dg.asset(
        key=asset_key(stream),
        group_name=group(stream),
        kinds={"postgres"},
        retry_policy=LOAD_RETRY,
        pool=pool(stream),
        description=f"TRAEDE {resource} exported to this system id, upserted into "
        f"{stream.header.name} (and its lines); each loaded id is queued in "
        "connector.export_outbox.",
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
                raise_for(result)
                metadata = {**load_metadata(result), **table_metadata(wh, stream.header)}
        return dg.MaterializeResult(metadata=metadata)

    return _load


def traede_mark_asset(stream: Stream) -> dg.AssetsDefinition:
    """The mark step after one TRAEDE staging asset: drains the outbox (committed rows only)."""
    resource = stream.resource

    @dg.asset(
        key=mark_key(stream),
        deps=[asset_key(stream)],
        group_name=group(stream),
        kinds={"postgres"},
        pool=pool(stream),
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
            raise_for(result)
        return dg.MaterializeResult(metadata=mark_metadata(result))

    return _mark


def cursor_load_asset(stream: Stream) -> dg.AssetsDefinition:
    """The staging asset of a stream synced from a stored cursor (Xero, Unleashed)."""
    sync = CURSOR_SYNCS[stream.name]

    @dg.asset(
        key=asset_key(stream),
        group_name=group(stream),
        kinds={"postgres"},
        retry_policy=LOAD_RETRY,
        pool=pool(stream),
        required_resource_keys={stream.system, "warehouse"},
        description=f"{sync.label} {stream.resource.replace('_', ' ')} {sync.changed}, "
        f"upserted into {stream.header.name} and its child tables "
        f"({', '.join(c.name for c in stream.children)}); config full=true re-reads everything.",
    )
    def _load(
        context: dg.AssetExecutionContext, config: CursorLoadConfig
    ) -> dg.MaterializeResult[None]:
        warehouse: WarehouseResource = context.resources.warehouse
        with typed_failure():
            run = sync.prepare(context.resources, context.run_id, config.full)
            with warehouse.open() as wh:
                result = run(wh)
                raise_for(result)
                metadata = {**load_metadata(result), **table_metadata(wh, stream.header)}
        return dg.MaterializeResult(metadata=metadata)

    return _load


def analytics_asset() -> dg.AssetsDefinition:
    """``analytics.credit_notes``: one view over every system's credit notes stream."""
    sources = tuple(s for s in STREAMS if s.resource == "credit_notes")

    @dg.asset(
        key=ANALYTICS_KEY,
        deps=[asset_key(s) for s in sources],
        group_name="analytics",
        kinds={"postgres"},
        description="analytics.credit_notes: one view over the credit notes of "
        f"{words(tuple(s.system for s in sources))}.",
    )
    def _analytics(warehouse: WarehouseResource) -> dg.MaterializeResult[None]:
        with typed_failure(), warehouse.open() as wh:
            applied = wh.migrate()
            with wh.connect() as conn:
                per_source = checks.credit_notes_by_source(conn)
        metadata: dict[str, Any] = {
            "dagster/row_count": dg.MetadataValue.int(sum(per_source.values())),
            "migrations_applied": len(applied),
        }
        for source in sources:
            metadata[f"rows_{source.system}"] = per_source.get(source.system, 0)
        return dg.MaterializeResult(metadata=metadata)

    return _analytics


def stream_assets(stream: Stream) -> list[dg.AssetsDefinition]:
    """The staging asset of ``stream``, then its mark step if it has one."""
    if stream.system == "traede":
        load = traede_load_asset(stream)
        return [load, traede_mark_asset(stream)] if stream.marks else [load]
    if stream.marks:
        raise ValueError(f"{stream.name}: only TRAEDE streams have a mark step")
    if stream.name not in CURSOR_SYNCS:
        raise KeyError(f"{stream.name}: no flow loads this stream (dagster_defs.assets)")
    return [cursor_load_asset(stream)]


def all_assets() -> list[dg.AssetsDefinition]:
    """Every asset of the project, in graph order."""
    out: list[dg.AssetsDefinition] = []
    for stream in streams():
        out += stream_assets(stream)
    return [*out, analytics_asset()]
