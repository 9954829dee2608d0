"""Run config of the load steps (TRAEDE, and the cursor sources' ``full`` re-sync) and the
defaults jobs show in the Launchpad."""

from typing import Any

import dagster as dg
from pydantic import Field

from connector.tables.registry import streams
from dagster_defs.keys import asset_key, mark_key


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


class CursorLoadConfig(dg.Config):
    """Run config of a cursor-source load step (Xero, Unleashed)."""

    full: bool = Field(
        default=False,
        description="Full re-sync: re-read every document whatever the cursor, upsert, and "
        "leave the cursor where a normal run would (catches edits that never bump the "
        "modified timestamp). Same as `connector sync <source> --full`.",
    )


def cursor_run_config(systems: tuple[str, ...], *, full: bool = False) -> dict[str, Any]:
    """Run config of the cursor-source load steps of ``systems`` with ``full`` set."""
    ops: dict[str, Any] = {}
    for system in systems:
        for stream in streams(system):
            ops[asset_key(stream).to_python_identifier()] = {
                "config": CursorLoadConfig(full=full).model_dump()
            }
    return {"ops": ops}


def traede_run_config() -> dict[str, Any]:
    """Default run config of a TRAEDE job: every load and mark step's options, shown (and
    editable) in the Launchpad; a backfill sets ``not_exported_since`` on the load steps.
    """
    ops: dict[str, Any] = {}
    for stream in streams("traede"):
        ops[asset_key(stream).to_python_identifier()] = {"config": TraedeLoadConfig().model_dump()}
        if stream.marks:
            ops[mark_key(stream).to_python_identifier()] = {
                "config": TraedeMarkConfig().model_dump()
            }
    return {"ops": ops}
