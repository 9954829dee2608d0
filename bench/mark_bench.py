"""``python -m bench mark``: marking time against the ideal, per backlog size and latency.

For each workload (S and M by default) the backlog is loaded once (``connector sync traede
--no-mark``) and its outbox saved; every case then starts from that same outbox (truncated and
refilled, as a bulk enqueue leaves it) and runs ``connector mark traede`` in its own process:

- **fixed**: ``concurrency`` calls in flight (``TRAEDE_MARK_CONCURRENCY_MAX`` = the start, so
  the controller cannot raise it), the emulator adding 0, 20 or 100 ms to every mark call.
  Ideal = calls x latency / concurrency.
- **adaptive**: the emulator answers 429 (``Retry-After``) beyond ``server_limit`` calls in
  flight; the connector starts at ``TRAEDE_MARK_CONCURRENCY`` (4) and its AIMD controller may
  go up to ``TRAEDE_MARK_CONCURRENCY_MAX``. Ideal = calls x latency / server limit; the 429s
  are the emulator's count.

Calls are the ones the emulator admitted (throttled ones excluded), i.e. ⌈ids / 10⌉.
"""

import shutil
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench import harness
from bench.harness import Emulator, Postgres
from bench.peers import connector_peer
from bench.suite import _migrate, raw_download
from bench.workloads import WORKLOADS


def _reset_outbox(pg: Postgres, db: str, *, save: bool = False) -> None:
    """Save the loaded outbox once; later, put it back as the load left it."""
    with psycopg.connect(pg.dsn_for(db), autocommit=True) as conn:
        if save:
            conn.execute("CREATE TABLE public.bench_outbox AS TABLE connector.export_outbox")
            return
        conn.execute("TRUNCATE connector.export_outbox")
        conn.execute("INSERT INTO connector.export_outbox SELECT * FROM public.bench_outbox")


def _case(
    emu: Emulator,
    pg: Postgres,
    db: str,
    work: Any,
    *,
    system_id: str,
    delay: float,
    start: int,
    maximum: int,
    server_limit: int | None,
    retry_after_ms: int,
) -> dict[str, Any]:
    _reset_outbox(pg, db)
    emu.forget_marks(system_id)
    emu.set_faults(f"*.mark:slow@delay={delay}" if delay else None)
    if server_limit:
        emu.set_config(
            {"mark_in_flight_limit": server_limit, "mark_retry_after_ms": retry_after_ms}
        )
    before = emu.state()
    marked = connector_peer.run_mark(
        base_url=emu.url,
        system_id=system_id,
        pg=pg,
        database=db,
        work=work,
        extra_env={
            "TRAEDE_MARK_CONCURRENCY": str(start),
            "TRAEDE_MARK_CONCURRENCY_MAX": str(maximum),
        },
    )
    after = emu.state()
    emu.set_faults(None)
    if server_limit:
        emu.set_config({"mark_in_flight_limit": None})
    throttled = _sum_mark(after.get("throttled", {})) - _sum_mark(before.get("throttled", {}))
    calls = _sum_mark(after["calls"]) - _sum_mark(before["calls"]) - throttled
    divisor = server_limit if server_limit else start
    ideal = calls * delay / divisor
    return {
        "mode": "adaptive" if server_limit else "fixed",
        "delay_s": delay,
        "concurrency": start,
        "concurrency_max": maximum,
        "server_limit": server_limit,
        "marked": marked.get("marked", 0),
        "mark_failed": marked.get("mark_failed", 0),
        "mark_calls": calls,
        "calls_sent": marked.get("mark_calls", 0),
        "http_429": throttled,
        "http_429_heard": marked.get("http_429", 0),
        "seconds": marked["seconds"],
        "run_s": marked.get("run_s"),
        "cpu_s": marked["cpu_s"],
        "peak_rss_mib": marked["peak_rss_mib"],
        "ideal_s": ideal,
        "ratio_to_ideal": marked["seconds"] / ideal if ideal else None,
        "run_ratio_to_ideal": (marked.get("run_s") or 0) / ideal if ideal else None,
        "ms_per_call": 1000 * marked["seconds"] / calls if calls else None,
        "status": marked.get("status"),
    }


def _sum_mark(calls: dict[str, int]) -> int:
    return sum(n for endpoint, n in calls.items() if endpoint.endswith(".mark"))


def run_marking(
    workloads: tuple[str, ...] = ("S", "M"),
    delays: tuple[float, ...] = (0.0, 0.02, 0.1),
    concurrency: int = 4,
    *,
    server_limit: int | None = 8,
    adaptive_delay: float = 0.02,
    concurrency_max: int = 16,
    retry_after_ms: int = 1000,
) -> dict[str, Any]:
    """Every case on every workload; returns the result document (kind ``mark``)."""
    work = harness.WORK_DIR / "runs" / "mark"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pg = Postgres.start()
    result: dict[str, Any] = {
        "kind": "mark",
        "workload": "mark",
        "workloads": {},
        "concurrency": concurrency,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": harness.machine_info(),
        "cases": [],
    }
    for name in workloads:
        workload = WORKLOADS[name]
        db, system_id = f"bench_mark_{name.lower()}", "bench-mark"
        with Emulator(workload.counts(), workload.seed, log=work / f"emulator-{name}.log") as emu:
            raw_download(emu, work, "bench-ceiling")  # warm the page cache
            pg.fresh_database(db)
            _migrate(pg.url_for(db), work / "home")
            # The fixed cost of one `connector mark traede` process (start, migration check,
            # lock) with nothing to mark.
            empty = connector_peer.run_mark(
                base_url=emu.url, system_id=system_id, pg=pg, database=db, work=work
            )
            load = connector_peer.run_load(
                base_url=emu.url, system_id=system_id, pg=pg, database=db, work=work
            )
            _reset_outbox(pg, db, save=True)
            result["workloads"][name] = {
                "counts": workload.counts(),
                "documents": load.get("fetched", 0),
                "fixed_cost_s": empty["seconds"],
            }
            cases = [(d, concurrency, concurrency, None) for d in delays]
            if server_limit:
                cases.append((adaptive_delay, concurrency, concurrency_max, server_limit))
            for delay, start, maximum, limit in cases:
                case = _case(
                    emu, pg, db, work, system_id=system_id, delay=delay, start=start,
                    maximum=maximum, server_limit=limit, retry_after_ms=retry_after_ms,
                )  # fmt: skip
                case["workload"] = name
                result["cases"].append(case)
            pg.drop(db)
    return result


def _f(value: Any, digits: int = 2) -> str:
    from bench.report import _f as fmt

    return fmt(value, digits)


def mark_table(result: dict[str, Any]) -> str:
    """Marking cases as one markdown table, with the ≤ 1.3x target on fixed cases."""
    if "workloads" not in result:
        return "### Marking\n\n(an older result format; run `python -m bench mark` again)"
    sizes = ", ".join(
        f"{name}: {w['documents']:,} documents, fixed cost {_f(w['fixed_cost_s'])} s"
        for name, w in result["workloads"].items()
    )
    lines = [
        f"### Marking ({sizes})",
        "",
        "Fixed cost: one `connector mark` process with nothing to mark. *fixed*: calls in "
        "flight held at the start; *adaptive*: the emulator answers 429 beyond its limit and "
        "the connector's AIMD controller finds it (ideal = calls x latency / server limit).",
        "",
        "| workload | latency | mode | calls in flight | marked | calls | 429s | wall s | "
        "in-run s | ideal s | wall / ideal | ms per call | target |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in result["cases"]:
        if c["mode"] == "fixed":
            flight = str(c["concurrency"])
            ok = c["ratio_to_ideal"] is not None and c["ratio_to_ideal"] <= 1.3
            target = f"≤ 1.3x: {'met' if ok else '**missed**'}" if c["delay_s"] else "-"
        else:
            flight = f"{c['concurrency']}..{c['concurrency_max']}, server {c['server_limit']}"
            target = "(reported)"
        lines.append(
            f"| {c['workload']} | {c['delay_s'] * 1000:.0f} ms | {c['mode']} | {flight} | "
            f"{_f(c['marked'])} | {_f(c['mark_calls'])} | {_f(c['http_429'])} | "
            f"{_f(c['seconds'])} | {_f(c['run_s'])} | {_f(c['ideal_s'])} | "
            f"{_f(c['ratio_to_ideal'])} | {_f(c['ms_per_call'])} | {target} |"
        )
    return "\n".join(lines)
