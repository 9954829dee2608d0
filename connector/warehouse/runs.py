"""Run bookkeeping in ``connector.sync_runs``: one row per sync, load or mark invocation."""

import json
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg


def new_run_id() -> str:
    """A fresh run id (UUID4 text)."""
    return str(uuid.uuid4())


def stream_name(scope: str, resource: str) -> str:
    """One locked stream as text: ``<resource>@<scope>``."""
    return f"{resource}@{scope}"


@dataclass
class Run:
    """One invocation: who runs what, and its counters per resource."""

    source: str
    system_id: str
    kind: str
    resources: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    trigger: str = "cli"
    external_run_id: str | None = None
    run_id: str = field(default_factory=new_run_id)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    # The (scope, resource) streams the run consumes; empty: (system_id, r) for each resource.
    # Xero sets one per tenant, so the lock is per tenant whatever the run's tenant list.
    streams: tuple[tuple[str, str], ...] = ()

    @property
    def lock_streams(self) -> tuple[tuple[str, str], ...]:
        """The (scope, resource) pairs whose consumer locks the run holds."""
        return self.streams or tuple((self.system_id, r) for r in self.resources)

    @property
    def stream_names(self) -> list[str]:
        """:attr:`lock_streams` as stored in ``connector.sync_runs.streams``."""
        return [stream_name(scope, resource) for scope, resource in self.lock_streams]

    @property
    def short_id(self) -> str:
        """First 8 characters of the run id, for messages."""
        return self.run_id[:8]

    def added(self, resource: str, counts: dict[str, int]) -> dict[str, dict[str, int]]:
        """Stats as they will be once ``counts`` are added (not applied until committed)."""
        merged = {k: dict(v) for k, v in self.stats.items()}
        target = merged.setdefault(resource, {})
        for key, value in counts.items():
            target[key] = target.get(key, 0) + value
        return merged


def start(conn: psycopg.Connection[Any], run: Run) -> None:
    """Insert the run's row as ``running``."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO connector.sync_runs (run_id, source, system_id, kind, resources, "
            "options, status, trigger, external_run_id, host, pid, started_at, streams) "
            "VALUES (%s, %s, %s, %s, %s, %s, 'running', %s, %s, %s, %s, %s, %s)",
            (
                run.run_id,
                run.source,
                run.system_id,
                run.kind,
                list(run.resources),
                json.dumps(run.options, default=str),
                run.trigger,
                run.external_run_id,
                socket.gethostname(),
                os.getpid(),
                run.started_at,
                run.stream_names,
            ),
        )


def write_stats(cur: psycopg.Cursor[Any], run_id: str, stats: dict[str, dict[str, int]]) -> None:
    """Store the run's counters (called inside each batch's transaction)."""
    cur.execute(
        "UPDATE connector.sync_runs SET stats = %s WHERE run_id = %s",
        (json.dumps(stats), run_id),
    )


def finish(conn: psycopg.Connection[Any], run: Run, status: str, error: str | None = None) -> None:
    """Close the run's row with its final status, counters and error (if any)."""
    with conn.transaction():
        conn.execute(
            "UPDATE connector.sync_runs SET status = %s, stats = %s, error = %s, "
            "finished_at = now() WHERE run_id = %s",
            (status, json.dumps(run.stats), error, run.run_id),
        )


def abandon_stale(conn: psycopg.Connection[Any], run: Run) -> int:
    """Mark earlier ``running`` rows sharing a stream with ``run`` as abandoned (they died).

    Only called while holding the consumer lock of every stream of ``run``: a live run holds
    the locks of all its streams for its whole life, so any other run still flagged running on
    one of them cannot be alive, whatever else it consumed (a Xero run of tenants ``A,B`` is
    abandoned by a run of ``A``). Rows from before migration 0010 have no streams and are
    matched as they were then: same system id, overlapping resources.
    """
    with conn.transaction():
        cur = conn.execute(
            "UPDATE connector.sync_runs SET status = 'abandoned', finished_at = now(), "
            "error = coalesce(error, 'the process ended before finishing (killed or crashed)') "
            "WHERE status = 'running' AND source = %s AND run_id <> %s AND CASE "
            "WHEN streams IS NULL THEN system_id = %s AND resources && %s "
            "ELSE streams && %s END",
            (run.source, run.run_id, run.system_id, list(run.resources), run.stream_names),
        )
        return cur.rowcount


def describe(conn: psycopg.Connection[Any], run_id: str) -> str:
    """A one-line description of a run for lock messages."""
    row = conn.execute(
        "SELECT kind, trigger, host, pid, started_at FROM connector.sync_runs WHERE run_id = %s",
        (run_id,),
    ).fetchone()
    if row is None:
        return f"run {run_id[:8]}"
    kind, trigger, host, pid, started = row
    when = started.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if started else "?"
    return f"run {run_id[:8]} ({kind} from {trigger} on {host} pid {pid}, started {when})"


def recent(conn: psycopg.Connection[Any], limit: int = 10) -> list[dict[str, Any]]:
    """The last runs, newest first."""
    rows = conn.execute(
        "SELECT run_id, source, system_id, kind, resources, status, stats, error, trigger, "
        "started_at, finished_at FROM connector.sync_runs ORDER BY started_at DESC LIMIT %s",
        (limit,),
    ).fetchall()
    conn.commit()
    keys = (
        "run_id", "source", "system_id", "kind", "resources", "status", "stats", "error",
        "trigger", "started_at", "finished_at",
    )  # fmt: skip
    return [dict(zip(keys, row, strict=True)) for row in rows]
