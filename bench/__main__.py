"""``python -m bench``: run | smoke | mark | xero | report | plot | chaos (bench/README.md)."""

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import harness

DEFAULT_OUT = harness.RESULTS_DIR


GIT_AT_START: dict[str, Any] = {}


def save(result: dict[str, Any], out: Path) -> Path:
    """``<stamp>-<name>.json``, ``latest-<name>.json`` and ``latest.json``; then plots and
    ``latest.md`` from every ``latest-*.json`` in ``out``, and the README if they may be
    published together (one commit, clean tree: :mod:`bench.provenance`).
    """
    from bench import report

    result.setdefault("git", GIT_AT_START or _git())
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = result["workload"]
    path = out / f"{stamp}-{name}.json"
    for target in (path, out / f"latest-{name}.json", out / "latest.json"):
        harness.write_json(target, result)
    report.plot(out)
    (out / "latest.md").write_text(report.latest_markdown(out))
    if out.resolve() == harness.RESULTS_DIR.resolve():
        _publish(out, allow_dirty=False, quiet=True)
    return path


def _git() -> dict[str, Any]:
    from bench.provenance import git_info

    return git_info()


def _publish(out: Path, *, allow_dirty: bool, quiet: bool = False) -> bool:
    """Write the README's results section, unless the latest results mix commits."""
    from bench import report
    from bench.provenance import publish_problems

    problems = publish_problems(report.load_latest(out), allow_dirty=allow_dirty)
    if problems:
        print("bench/README.md not updated:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        if quiet:
            print("  (re-run the other workloads on this commit, then `python -m bench report`)",
                  file=sys.stderr)  # fmt: skip
        return False
    report.update_readme(harness.BENCH_DIR / "README.md", out)
    return True


def _print(result: dict[str, Any], path: Path) -> None:
    from bench import report

    print(report.render(result))
    print(f"\nresult: {path}")


def cmd_run(a: argparse.Namespace) -> int:
    from bench.suite import PEERS, run_workload
    from bench.workloads import WORKLOADS

    workload = WORKLOADS[a.workload]
    if a.peers:
        peers = tuple(p.strip() for p in a.peers.split(",") if p.strip())
    else:
        peers = ("connector",) if workload.memory_only else PEERS
    result = run_workload(workload, peers, mark=not a.no_mark, cache=not workload.memory_only)
    _print(result, save(result, a.out))
    return 0 if _sane(result) else 1


def _sane(result: dict[str, Any]) -> bool:
    """Every peer that ran loaded every exported document."""
    want = result["expected_total"]
    ok = True
    for name, peer in result["peers"].items():
        got = peer.get("load", peer).get("fetched", peer.get("documents"))
        if got != want:
            print(f"{name}: loaded {got} documents, expected {want}", file=sys.stderr)
            ok = False
    return ok


def cmd_smoke(a: argparse.Namespace) -> int:
    from bench.suite import PEERS, run_workload
    from bench.workloads import SMOKE

    result = run_workload(SMOKE, PEERS)
    _print(result, save(result, a.out))
    return 0 if _sane(result) else 1


def cmd_mark(a: argparse.Namespace) -> int:
    from bench.mark_bench import run_marking

    delays = tuple(float(d) / 1000 for d in a.latency_ms.split(","))
    workloads = tuple(w.strip() for w in a.workloads.split(",") if w.strip())
    result = run_marking(
        workloads,
        delays,
        a.concurrency,
        server_limit=a.server_limit or None,
        adaptive_delay=a.adaptive_latency_ms / 1000,
        concurrency_max=a.concurrency_max,
        retry_after_ms=a.retry_after_ms,
    )
    _print(result, save(result, a.out))
    return 0


def cmd_xero(a: argparse.Namespace) -> int:
    from bench.xero_bench import run_xero

    result = run_xero(a.count, a.minute_limit, a.minute_window)
    _print(result, save(result, a.out))
    return 0


def cmd_plot(a: argparse.Namespace) -> int:
    from bench import report

    for path in report.plot(a.out):
        print(path)
    (a.out / "latest.md").write_text(report.latest_markdown(a.out))
    print(a.out / "latest.md")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from bench import report

    report.plot(a.out)
    (a.out / "latest.md").write_text(report.latest_markdown(a.out))
    return 0 if _publish(a.out, allow_dirty=a.allow_dirty) else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_emulator"]:  # internal: the emulator process of a run
        harness.serve_emulator(argv[1:])
        return 0
    if argv[:1] == ["_xero_emulator"]:
        from bench.xero_bench import serve_xero

        serve_xero(argv[1:])
        return 0
    if argv[:1] == ["chaos"]:
        from bench import chaos  # written separately; imported only when asked for

        result: int = chaos.main(argv[1:])
        return result
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("httpx", "httpcore", "pgserver", "connector"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one workload against the peers")
    run.add_argument("--workload", choices=("S", "M", "L", "smoke"), required=True)
    run.add_argument("--peers", help="comma-separated: connector,dlt,raw (L: connector only)")
    run.add_argument("--no-mark", action="store_true", help="skip the connector's mark phase")
    run.add_argument("--out", type=Path, default=DEFAULT_OUT)
    run.set_defaults(fn=cmd_run)
    smoke = sub.add_parser("smoke", help="S at 1%%, every peer (a few seconds)")
    smoke.add_argument("--out", type=Path, default=harness.WORK_DIR / "results")
    smoke.set_defaults(fn=cmd_smoke)
    mark = sub.add_parser("mark", help="marking time vs the ideal per backlog and latency")
    mark.add_argument("--workloads", default="S,M", help="comma-separated: S,M (smoke, L)")
    mark.add_argument("--latency-ms", default="0,20,100", help="comma-separated, per mark call")
    mark.add_argument("--concurrency", type=int, default=4, help="calls in flight (fixed cases)")
    mark.add_argument("--server-limit", type=int, default=8, help="adaptive case (0: skip it)")
    mark.add_argument("--adaptive-latency-ms", type=float, default=20.0)
    mark.add_argument("--concurrency-max", type=int, default=16, help="adaptive case")
    mark.add_argument("--retry-after-ms", type=int, default=1000, help="the server's 429")
    mark.add_argument("--out", type=Path, default=DEFAULT_OUT)
    mark.set_defaults(fn=cmd_mark)
    xero = sub.add_parser("xero", help="Xero calls and 429s vs the rate-limit floor")
    xero.add_argument("--count", type=int, default=5_000, help="credit notes")
    xero.add_argument("--minute-limit", type=int, default=3, help="calls per window")
    xero.add_argument("--minute-window", type=float, default=60.0, help="seconds (Xero: 60)")
    xero.add_argument("--out", type=Path, default=DEFAULT_OUT)
    xero.set_defaults(fn=cmd_xero)
    rep = sub.add_parser("report", help="publish latest-*.json into bench/README.md")
    rep.add_argument("--allow-dirty", action="store_true", help="results from a dirty tree")
    rep.add_argument("--out", type=Path, default=DEFAULT_OUT)
    rep.set_defaults(fn=cmd_report)
    plot = sub.add_parser("plot", help="redraw the plots and latest.md (not the README)")
    plot.add_argument("--out", type=Path, default=DEFAULT_OUT)
    plot.set_defaults(fn=cmd_plot)
    sub.add_parser("chaos", help="crash tests (bench/chaos.py)")
    a = p.parse_args(argv)
    GIT_AT_START.update(_git())  # the code that runs, before anything can change it
    rc: int = a.fn(a)
    return rc


if __name__ == "__main__":
    sys.exit(main())
