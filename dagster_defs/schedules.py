"""Jobs per system (traede_sync, xero_sync, unleashed_sync), the nightly job and its schedule,
and the weekly full re-sync of the cursor sources, derived from the library's stream registry.

Run tags let the run queue (deploy/dagster.yaml, ``tag_concurrency_limits``) keep two runs of the
same source apart; the library's advisory lock per (source, system_id, resource) is the backstop.
"""

from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from connector.tables.registry import SYSTEMS, resources
from dagster_defs.assets import CURSOR_SYNCS
from dagster_defs.keys import words
from dagster_defs.run_config import cursor_run_config, traede_run_config

NIGHTLY_CRON = "0 2 * * *"
WEEKLY_FULL_CRON = "0 3 * * 0"  # Sunday 03:00
# The systems synced from a stored cursor (everything but TRAEDE, which keeps server state).
CURSOR_SYSTEMS: tuple[str, ...] = tuple(
    s for s in SYSTEMS if any(name.startswith(f"{s}/") for name in CURSOR_SYNCS)
)


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
    config: dict[str, Any] = (
        traede_run_config() if system == "traede" else cursor_run_config((system,))
    )
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


full_resync_job = dg.define_asset_job(
    "full_resync_job",
    selection=dg.AssetSelection.groups(*CURSOR_SYSTEMS),
    config=cursor_run_config(CURSOR_SYSTEMS, full=True),
    tags={k: v for system in CURSOR_SYSTEMS for k, v in _tag(system).items()},
    description=f"Full re-sync of {words(CURSOR_SYSTEMS)}: every document re-read whatever "
    "the cursor, upserted; the cursors end where a normal run leaves them.",
)


def build_weekly_full_resync(timezone: str = "UTC") -> dg.ScheduleDefinition:
    """``weekly_full_resync``: the cursor sources re-read in full, Sundays 03:00 ``timezone``.

    Catches edits that never bump the modified timestamp (docs/apis.md §2.4), which no
    incremental run can see.
    """
    return dg.ScheduleDefinition(
        name="weekly_full_resync",
        job=full_resync_job,
        cron_schedule=WEEKLY_FULL_CRON,
        execution_timezone=timezone,
        run_config=cursor_run_config(CURSOR_SYSTEMS, full=True),
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Full re-sync of {words(CURSOR_SYSTEMS)} on Sundays at 03:00 {timezone}.",
    )
