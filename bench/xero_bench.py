"""Xero: API calls against the minimum, 429s received, time against the rate-limit floor.

The emulator runs in its own process with Xero's 60-second window and a small per-tenant limit
(3 calls a minute by default), so the limit binds within one sync. The connector (``connector
sync xero``, its own process) runs a full sync, then an incremental one with nothing changed.
"""

import argparse
import math
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bench import harness
from bench.harness import Postgres, connector_cmd, free_port, python_cmd, run_measured
from bench.peers.connector_peer import last_run_stats, totals

CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret"
TENANT = "tenant-bench"
PAGE = 1000


def minimum_calls(count: int, page: int = PAGE, *, page_count: bool = True) -> int:
    """The fewest list calls that read ``count`` records in pages of ``page``.

    The connector stops at a short page, or at page ``pagination.pageCount`` when the response
    carries it (Xero's does): then a full last page needs no extra call. Without ``pageCount``
    a full last page is followed by one empty page. Nothing at all still takes one call.
    """
    if count <= 0:
        return 1
    pages = math.ceil(count / page)
    return pages if page_count or count % page else pages + 1


def serve_xero(argv: list[str]) -> None:
    """``python -m bench _xero_emulator``: the Xero emulator with configurable limits."""
    from connector.emulator.server import serve_forever
    from connector.emulator.xero import create_xero_app

    p = argparse.ArgumentParser(prog="python -m bench _xero_emulator")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--minute-limit", type=int, default=60)
    p.add_argument("--minute-window", type=float, default=60.0)
    p.add_argument("--concurrent-limit", type=int, default=5)
    a = p.parse_args(argv)
    app, _ = create_xero_app(
        seed=42,
        tenants=(TENANT,),
        count=a.count,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        minute_limit=a.minute_limit,
        minute_window=a.minute_window,
        concurrent_limit=a.concurrent_limit,
        include_examples=False,
    )
    serve_forever(app, "127.0.0.1", a.port)


def floor_seconds(calls: int, limit: int, window: float) -> float:
    """Least time ``calls`` calls take under ``limit`` per rolling ``window`` (burst at 0)."""
    return ((calls - 1) // limit) * window if calls > 0 else 0.0


def run_xero(
    count: int = 5_000, minute_limit: int = 3, minute_window: float = 60.0
) -> dict[str, Any]:
    """A full sync of ``count`` credit notes, then an incremental one with nothing new."""
    work = harness.WORK_DIR / "runs" / "xero"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (work / "emulator.log").open("wb")
    emu = subprocess.Popen(
        python_cmd(
            "-m",
            "bench",
            "_xero_emulator",
            "--port",
            str(port),
            "--count",
            str(count),
            "--minute-limit",
            str(minute_limit),
            "--minute-window",
            str(minute_window),
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=harness.BENCH_DIR.parent,
    )
    result: dict[str, Any] = {
        "kind": "xero",
        "workload": "xero",
        "documents": count,
        "limits": f"{minute_limit} calls / {minute_window:g} s per tenant",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": harness.machine_info(),
        "cases": [],
    }
    try:
        admin = httpx.Client(base_url=base, timeout=30)
        deadline = time.monotonic() + 120
        while True:
            try:
                admin.get("/_emulator/state").raise_for_status()
                break
            except httpx.HTTPError:
                if emu.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"xero emulator did not start; see {log.name}") from None
                time.sleep(0.1)
        pg = Postgres.start()
        db = "bench_xero"
        pg.fresh_database(db)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TRAEDE_", "CONNECTOR_", "XERO_", "UNLEASHED_"))
        }
        env.update(
            XERO_BASE_URL=f"{base}/api.xro/2.0",
            XERO_TOKEN_URL=f"{base}/connect/token",
            XERO_CLIENT_ID=CLIENT_ID,
            XERO_CLIENT_SECRET=CLIENT_SECRET,
            XERO_TENANT_IDS=TENANT,
            DATABASE_URL=pg.url_for(db),
            CONNECTOR_HOME=str(work / "home"),
        )
        for phase, minimum in (("full", minimum_calls(count)), ("incremental", 1)):
            before = admin.get("/_emulator/state").json()["tenants"][TENANT]
            m = run_measured(
                connector_cmd("sync", "xero"), env=env, log=work / f"connector-{phase}.log"
            )
            after = admin.get("/_emulator/state").json()["tenants"][TENANT]
            calls = after["calls"] - before["calls"]  # as the emulator saw them, 429s included
            throttled = after["throttled"] - before["throttled"]
            run = last_run_stats(pg, db, "'sync'")
            counts = totals(run.get("stats") or {})
            result["cases"].append(
                {
                    "phase": phase,
                    "seconds": m.seconds,
                    "returncode": m.returncode,
                    "status": run.get("status"),
                    "peak_rss_mib": m.peak_rss_mib,
                    "calls": calls,
                    "min_calls": minimum,
                    "429s": throttled,
                    "fetched": counts.get("fetched", 0),
                    "connector_api_calls": counts.get("api_calls"),
                    "connector_retries": counts.get("retries"),
                    "floor_s": floor_seconds(calls - throttled, minute_limit, minute_window),
                    **({"log_tail": m.tail()} if m.returncode else {}),
                }
            )
        rows = pg.count(db, ["staging.xero_credit_notes", "staging.xero_credit_note_lines"])
        result["rows"] = rows
        pg.drop(db)
        admin.close()
    finally:
        emu.terminate()
        emu.wait(10)
        log.close()
    return result
