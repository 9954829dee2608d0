"""The benchmark runs: one workload against every peer, and marking under latency.

One emulator process and one Postgres server per run; every peer gets a fresh database and its
own ``system_id`` (marks are per system id, so one peer's marks never hide documents from
another) and runs in its own process.
"""

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import APP_KEY, TOKEN, Emulator, Postgres, python_cmd, run_measured
from bench.peers import connector_peer
from bench.workloads import Workload

log = logging.getLogger(__name__)

PEERS = ("connector", "dlt", "raw")
DLT_TABLES = (
    "traede_dlt.invoices",
    "traede_dlt.invoices__lines",
    "traede_dlt.credit_notes",
    "traede_dlt.credit_notes__lines",
    "traede_dlt.accounting_entries",
)


def _migrate(url: str, home: Path) -> None:
    from connector.config import Secret, WarehouseSettings
    from connector.warehouse import Warehouse

    Warehouse(WarehouseSettings(database_url=Secret(url), home=home)).migrate()


def _db_name(workload: Workload, peer: str) -> str:
    return f"bench_{workload.name.lower()}_{peer}"


def _rate(documents: int, seconds: float) -> float:
    return documents / seconds if seconds > 0 else 0.0


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def raw_download(emu: Emulator, work: Path, system_id: str) -> dict[str, Any]:
    """A download-only pass of the raw loop (the emulator ceiling)."""
    out = work / "ceiling.json"
    m = run_measured(
        python_cmd(
            "-m",
            "bench.peers.raw_peer",
            "--base-url",
            emu.url,
            "--token",
            TOKEN,
            "--app-key",
            APP_KEY,
            "--system-id",
            system_id,
            "--download-only",
            "--out",
            str(out),
        ),
        log=work / "ceiling.log",
    )
    if m.returncode:
        raise RuntimeError(f"ceiling run failed:\n{m.tail()}")
    data: dict[str, Any] = harness.json.loads(out.read_text())
    data["wall_s"] = m.seconds
    return data


def run_raw(emu: Emulator, pg: Postgres, workload: Workload, work: Path) -> dict[str, Any]:
    db = _db_name(workload, "raw")
    url = pg.fresh_database(db)
    _migrate(url, work / "home")
    out = work / "raw.json"
    m = run_measured(
        python_cmd(
            "-m",
            "bench.peers.raw_peer",
            "--base-url",
            emu.url,
            "--token",
            TOKEN,
            "--app-key",
            APP_KEY,
            "--system-id",
            "bench-raw",
            "--dsn",
            pg.dsn_for(db),
            "--out",
            str(out),
        ),
        log=work / "raw.log",
    )
    if m.returncode:
        return {"error": m.tail(), "returncode": m.returncode}
    data: dict[str, Any] = harness.json.loads(out.read_text())
    floor = data["download_s"] + data["copy_s"]
    data.update(
        seconds=floor,
        wall_s=m.seconds,
        cpu_s=m.cpu_s,
        peak_rss_mib=m.peak_rss_mib,
        docs_per_s=_rate(data["documents"], floor),
        rows=pg.count(db, list(connector_peer.STAGING)),
    )
    pg.drop(db)
    return data


def run_connector(
    emu: Emulator, pg: Postgres, workload: Workload, work: Path, *, mark: bool = True
) -> dict[str, Any]:
    db = _db_name(workload, "connector")
    system_id = "bench-connector"
    emu.forget_marks(system_id)
    pg.fresh_database(db)
    calls_before = emu.calls()
    load = connector_peer.run_load(
        base_url=emu.url, system_id=system_id, pg=pg, database=db, work=work
    )
    load["docs_per_s"] = _rate(load.get("fetched", 0), load["seconds"])
    load["emulator_calls"] = _diff(emu.calls(), calls_before)
    result: dict[str, Any] = {"load": load}
    if mark:
        calls_before = emu.calls()
        marked = connector_peer.run_mark(
            base_url=emu.url, system_id=system_id, pg=pg, database=db, work=work
        )
        marked["docs_per_s"] = _rate(marked.get("marked", 0), marked["seconds"])
        marked["emulator_calls"] = _diff(emu.calls(), calls_before)
        result["mark"] = marked
    pg.drop(db)
    return result


def run_dlt(emu: Emulator, pg: Postgres, workload: Workload, work: Path) -> dict[str, Any]:
    db = _db_name(workload, "dlt")
    url = pg.fresh_database(db)
    dlt_dir = work / "dlt"
    shutil.rmtree(dlt_dir, ignore_errors=True)
    out = work / "dlt.json"
    calls_before = emu.calls()
    m = run_measured(
        python_cmd(
            "-m",
            "bench.peers.dlt_peer",
            "--base-url",
            emu.url,
            "--token",
            TOKEN,
            "--app-key",
            APP_KEY,
            "--system-id",
            "bench-dlt",
            "--credentials",
            url,
            "--workdir",
            str(dlt_dir),
            "--out",
            str(out),
        ),
        log=work / "dlt.log",
    )
    if m.returncode:
        return {"error": m.tail(), "returncode": m.returncode}
    data: dict[str, Any] = harness.json.loads(out.read_text())
    rows = pg.count(db, list(DLT_TABLES))
    documents = sum(rows[t] for t in DLT_TABLES if not t.endswith("__lines"))
    data.update(
        wall_s=m.seconds,
        seconds=m.seconds,
        cpu_s=m.cpu_s,
        peak_rss_mib=m.peak_rss_mib,
        documents=documents,
        docs_per_s=_rate(documents, m.seconds),
        rows=rows,
        emulator_calls=_diff(emu.calls(), calls_before),
    )
    pg.drop(db)
    return data


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def run_workload(
    workload: Workload, peers: tuple[str, ...], *, mark: bool = True, cache: bool = True
) -> dict[str, Any]:
    """Measure ``workload``: emulator ceiling, then each peer; returns the result document."""
    work = harness.WORK_DIR / "runs" / workload.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pg = Postgres.start()
    expected = workload.exported()
    result: dict[str, Any] = {
        "kind": "run",
        "workload": workload.name,
        "counts": workload.counts(),
        "seed": workload.seed,
        "expected_documents": expected,
        "expected_total": sum(expected.values()),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": harness.machine_info(),
        "peers": {},
    }
    with Emulator(workload.counts(), workload.seed, log=work / "emulator.log", cache=cache) as emu:
        # The first pass serialises every document into the emulator's cache; the second is
        # the ceiling every peer then runs against.
        cold = raw_download(emu, work, "bench-ceiling")
        # A memory-only workload (L) is not cached: one pass, and it is the ceiling.
        ceiling = cold if workload.memory_only else raw_download(emu, work, "bench-ceiling")
        total = result["expected_total"]
        result["emulator"] = {
            "cold_pass_s": cold["download_s"],
            "ceiling_s": ceiling["download_s"],
            "ceiling_docs_per_s": _rate(total, ceiling["download_s"]),
            "pages": ceiling["calls"],
            "bytes": ceiling["bytes"],
            "rss_mib": emu.rss_mib(),
        }
        for peer in peers:
            log.info("%s: %s", workload.name, peer)
            if peer == "raw":
                result["peers"]["raw"] = run_raw(emu, pg, workload, work)
            elif peer == "connector":
                result["peers"]["connector"] = run_connector(emu, pg, workload, work, mark=mark)
            elif peer == "dlt":
                result["peers"]["dlt"] = run_dlt(emu, pg, workload, work)
            else:
                raise ValueError(f"unknown peer {peer!r}; known: {', '.join(PEERS)}")
        result["emulator"]["rss_mib_after"] = emu.rss_mib()
    result["ratios"] = ratios(result)
    return result


def ratios(result: dict[str, Any]) -> dict[str, float | None]:
    peers = result["peers"]
    load = peers.get("connector", {}).get("load", {})
    conn_s = load.get("seconds")
    run_s = load.get("run_s")
    floor = peers.get("raw", {}).get("seconds")
    return {
        # Both whole processes (start-up and imports included).
        "dlt_over_connector": _ratio(peers.get("dlt", {}).get("seconds"), conn_s),
        # Both without process start-up: the connector's recorded run against download + COPY.
        "connector_over_raw": _ratio(run_s, floor),
        "connector_wall_over_raw": _ratio(conn_s, floor),
        "connector_over_ceiling": _ratio(run_s, result["emulator"]["ceiling_s"]),
    }
