"""The connector as users run it: ``connector sync traede --no-mark``, then ``connector mark``.

Each command is its own process (peak RSS is the connector's alone); counters come from the
run rows the connector writes (``connector.sync_runs.stats``) and from the staging tables.
"""

import os
from pathlib import Path
from typing import Any

from bench.harness import APP_KEY, TOKEN, Measured, Postgres, connector_cmd, run_measured

STAGING = (
    "staging.traede_invoices",
    "staging.traede_invoice_lines",
    "staging.traede_credit_notes",
    "staging.traede_credit_note_lines",
    "staging.traede_accounting_entries",
)


def connector_env(base_url: str, system_id: str, database_url: str, home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRAEDE_", "CONNECTOR_", "XERO_", "UNLEASHED_"))
    }
    env.update(
        TRAEDE_BASE_URL=base_url,
        TRAEDE_API_TOKEN=TOKEN,
        TRAEDE_APP_KEY=APP_KEY,
        TRAEDE_SYSTEM_ID=system_id,
        DATABASE_URL=database_url,
        CONNECTOR_HOME=str(home),
    )
    return env


def last_run_stats(pg: Postgres, database: str, kinds: str) -> dict[str, Any]:
    """``stats``, status and error of the newest ``kind`` run in ``database``."""
    row = pg.query_json(
        database,
        "SELECT json_build_object('stats', stats, 'status', status, 'error', error, "
        "'run_s', extract(epoch FROM finished_at - started_at)) "
        f"FROM connector.sync_runs WHERE kind IN ({kinds}) ORDER BY started_at DESC LIMIT 1",
    )
    return dict(row or {})


def totals(stats: dict[str, dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for counts in stats.values():
        for key, value in counts.items():
            out[key] = out.get(key, 0) + int(value)
    return out


def _phase(m: Measured, run: dict[str, Any]) -> dict[str, Any]:
    stats = run.get("stats") or {}
    return {
        "seconds": m.seconds,
        "cpu_s": m.cpu_s,
        "peak_rss_mib": m.peak_rss_mib,
        "returncode": m.returncode,
        "status": run.get("status"),
        "error": run.get("error"),
        # The run as the connector records it: excludes interpreter start-up and imports.
        "run_s": run.get("run_s"),
        "per_resource": stats,
        **totals(stats),
        **({"log_tail": m.tail()} if m.returncode else {}),
    }


def run_load(
    *, base_url: str, system_id: str, pg: Postgres, database: str, work: Path, extra_env=None
) -> dict[str, Any]:
    """``connector sync traede --no-mark`` into ``database``: the load phase."""
    env = connector_env(base_url, system_id, pg.url_for(database), work / "home")
    env.update(extra_env or {})
    m = run_measured(
        connector_cmd("sync", "traede", "--no-mark", "--no-progress"),
        env=env,
        log=work / "connector-load.log",
    )
    result = _phase(m, last_run_stats(pg, database, "'sync', 'load'"))
    result["rows"] = pg.count(database, list(STAGING))
    return result


def run_mark(
    *,
    base_url: str,
    system_id: str,
    pg: Postgres,
    database: str,
    work: Path,
    concurrency: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``connector mark traede``: drains the outbox the load left pending."""
    env = connector_env(base_url, system_id, pg.url_for(database), work / "home")
    env.update(extra_env or {})
    cmd = connector_cmd("mark", "traede")
    if concurrency:
        cmd += ["--mark-concurrency", str(concurrency)]
    m = run_measured(cmd, env=env, log=work / "connector-mark.log")
    return _phase(m, last_run_stats(pg, database, "'mark'"))
