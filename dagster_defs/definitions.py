"""The single ``Definitions`` object that workspace.yaml loads.

Nothing here reads a secret: resources fall back to the README's environment variables when a
step runs. The schedules' timezone is not secret and is read once here from
``CONNECTOR_SCHEDULE_TIMEZONE`` (default UTC).
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from dagster_defs.assets import all_assets
from dagster_defs.checks import all_checks
from dagster_defs.resources import (
    TraedeApiResource,
    UnleashedApiResource,
    WarehouseResource,
    XeroApiResource,
)
from dagster_defs.schedules import (
    SYSTEM_JOBS,
    build_nightly_sync,
    build_weekly_full_resync,
    full_resync_job,
    nightly_sync_job,
)

SCHEDULE_TIMEZONE = dg.EnvVar("CONNECTOR_SCHEDULE_TIMEZONE").get_value() or "UTC"


def default_resources() -> dict[str, Any]:
    """Resources as deployed: every field unset, so each falls back to its variable at run time."""
    return {
        "traede": TraedeApiResource(),
        "xero": XeroApiResource(),
        "unleashed": UnleashedApiResource(),
        "warehouse": WarehouseResource(),
    }


def build_definitions(
    resources: Mapping[str, Any] | None = None, *, timezone: str = SCHEDULE_TIMEZONE
) -> dg.Definitions:
    """The project's definitions; tests pass resources built from literals."""
    return dg.Definitions(
        assets=all_assets(),
        asset_checks=all_checks(),
        jobs=[*SYSTEM_JOBS.values(), nightly_sync_job, full_resync_job],
        schedules=[build_nightly_sync(timezone), build_weekly_full_resync(timezone)],
        resources={**default_resources(), **(resources or {})},
    )


defs = build_definitions()
