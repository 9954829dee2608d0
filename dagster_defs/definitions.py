"""The single ``Definitions`` object that workspace.yaml loads.

Nothing here reads a secret. The secret fields are ``dg.EnvVar``-backed: Dagster keeps them as
``{"env": NAME}`` in the resource config and resolves them in the run worker, so no value is
written to run config, event logs or metadata, and a run that needs one that is unset fails at
launch naming it. Other fields fall back to the README's variables when a step runs (unset
``DATABASE_URL`` means the embedded Postgres, so it cannot be a required ``EnvVar``). The
schedules' timezone is read once here from ``CONNECTOR_SCHEDULE_TIMEZONE`` (default UTC).
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


# The secret of each resource and the variable Dagster resolves it from in the run worker.
SECRET_FIELDS = {
    "traede": {"api_token": "TRAEDE_API_TOKEN", "app_key": "TRAEDE_APP_KEY"},
    "xero": {"client_secret": "XERO_CLIENT_SECRET"},
    "unleashed": {"api_key": "UNLEASHED_API_KEY"},
}


def default_resources() -> dict[str, Any]:
    """Resources as deployed: secrets ``EnvVar``-backed, other fields read at step start."""

    def secrets(name: str) -> dict[str, Any]:
        return {field: dg.EnvVar(var) for field, var in SECRET_FIELDS[name].items()}

    return {
        "traede": TraedeApiResource(**secrets("traede")),
        "xero": XeroApiResource(**secrets("xero")),
        "unleashed": UnleashedApiResource(**secrets("unleashed")),
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
