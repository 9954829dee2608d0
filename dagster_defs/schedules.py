"""Jobs per system (traede_sync, xero_sync, unleashed_sync), the nightly job and its schedule.

Run tags let the run queue (deploy/dagster.yaml, ``tag_concurrency_limits``) keep two runs of the
same source apart; the library's advisory lock per (source, system_id, resource) is the backstop.
"""

from typing import Any

import dagster as dg

from dagster_defs.assets import (
    TRAEDE_RESOURCES,
    UNLEASHED_KEY,
    XERO_KEY,
    TraedeLoadConfig,
    TraedeMarkConfig,
    traede_key,
    traede_mark_key,
)

NIGHTLY_CRON = "0 2 * * *"


def traede_run_config() -> dict[str, Any]:
    """Default run config of a TRAEDE job: every load and mark step's options, shown (and
    editable) in the Launchpad; a backfill sets ``not_exported_since`` on the load steps.
    """
    ops: dict[str, Any] = {}
    for resource in TRAEDE_RESOURCES:
        load = TraedeLoadConfig()
        mark = TraedeMarkConfig()
        ops[traede_key(resource).to_python_identifier()] = {
            "config": {
                "not_exported_since": load.not_exported_since,
                "include_non_booked": load.include_non_booked,
            }
        }
        ops[traede_mark_key(resource).to_python_identifier()] = {
            "config": {"mark_concurrency": mark.mark_concurrency}
        }
    return {"ops": ops}


traede_sync = dg.define_asset_job(
    "traede_sync",
    selection=dg.AssetSelection.groups("traede"),
    config=traede_run_config(),
    tags={"connector/traede": "true"},
    description="TRAEDE: load invoices, credit notes and accounting entries, then mark them "
    "exported. A backfill is this job with not_exported_since set on the load steps.",
)

xero_sync = dg.define_asset_job(
    "xero_sync",
    selection=dg.AssetSelection.assets(XERO_KEY),
    tags={"connector/xero": "true"},
    description="Xero credit notes since each tenant's cursor.",
)

unleashed_sync = dg.define_asset_job(
    "unleashed_sync",
    selection=dg.AssetSelection.assets(UNLEASHED_KEY),
    tags={"connector/unleashed": "true"},
    description="Unleashed credit notes since the stored cursor.",
)

nightly_sync_job = dg.define_asset_job(
    "nightly_sync_job",
    selection=dg.AssetSelection.all(),
    config=traede_run_config(),
    tags={"connector/traede": "true", "connector/xero": "true", "connector/unleashed": "true"},
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
