"""Jobs per system (traede_sync, xero_sync, unleashed_sync), the nightly job and its schedule,
derived from the systems of the library's stream registry.

Run tags let the run queue (deploy/dagster.yaml, ``tag_concurrency_limits``) keep two runs of the
same source apart; the library's advisory lock per (source, system_id, resource) is the backstop.
"""

from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from connector.tables.registry import SYSTEMS, resources
from dagster_defs.assets import CURSOR_SYNCS
from dagster_defs.keys import words
from dagster_defs.run_config import traede_run_config

NIGHTLY_CRON = "0 2 * * *"


def _tag(system: str) -> dict[str, str]:
    return {f"connector/{system}": "true"}


def _description(system: str) -> str:
    names = resources(system)
    if system == "traede":
        return (
            f"TRAEDE: load {words(names)}, then mark them exported. A backfill is this job "
            "with not_exported_since set on the load steps."
        )
    syncs = [CURSOR_SYNCS[f"{system}/{name}"] for name in names]
    return f"{syncs[0].label} {words(names)} {syncs[0].changed}."


def system_job(system: str) -> UnresolvedAssetJobDefinition:
    """``<system>_sync``: every asset of ``system`` (its group), mark steps included."""
    config: dict[str, Any] | None = traede_run_config() if system == "traede" else None
    return dg.define_asset_job(
        f"{system}_sync",
        selection=dg.AssetSelection.groups(system),
        config=config,
        tags=_tag(system),
        description=_description(system),
    )


SYSTEM_JOBS: dict[str, UnresolvedAssetJobDefinition] = {s: system_job(s) for s in SYSTEMS}

nightly_sync_job = dg.define_asset_job(
    "nightly_sync_job",
    selection=dg.AssetSelection.all(),
    config=traede_run_config(),
    tags={k: v for system in SYSTEMS for k, v in _tag(system).items()},
    description="Every source, their mark steps and analytics.credit_notes.",
)


def build_nightly_sync(timezone: str = "UTC") -> dg.ScheduleDefinition:
    """``nightly_sync``: every source at 02:00 in ``timezone`` (an IANA name)."""
    return dg.ScheduleDefinition(
        name="nightly_sync",
        job=nightly_sync_job,
        cron_schedule=NIGHTLY_CRON,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Every source at 02:00 {timezone}.",
    )
