"""Result documents -> markdown tables (with the targets) and PNG plots (matplotlib, Agg)."""

import json
from pathlib import Path
from typing import Any

WORKLOAD_ORDER = ("smoke", "S", "M", "L")


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _x(value: float | None) -> str:
    return "-" if value is None else f"{_f(value)}x"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**missed**")


def _rows_written(rows: dict[str, int] | None) -> int | None:
    return sum(v for v in rows.values() if v > 0) if rows else None


def run_table(result: dict[str, Any]) -> str:
    """One workload: a row per peer and phase, then the ratios."""
    em = result["emulator"]
    total = result["expected_total"]
    lines = [
        f"### Workload {result['workload']} ({_counts(result)}; "
        f"{total:,} documents exported, seed {result['seed']})",
        "",
        "| peer | phase | wall s | in-run s | CPU s | docs/s | peak RSS MiB | API calls | "
        "documents | rows written |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| emulator ceiling | bare download | {_f(em['ceiling_s'])} | - | - | "
        f"{_f(em['ceiling_docs_per_s'])} | - | {_f(em['pages'])} | {total:,} | - |",
    ]
    peers = result["peers"]
    conn = peers.get("connector", {})
    for phase in ("load", "mark"):
        p = conn.get(phase)
        if not p:
            continue
        docs = p.get("fetched") if phase == "load" else p.get("marked")
        calls = p.get("api_calls") if phase == "load" else p.get("mark_calls")
        lines.append(
            f"| connector | {phase} | {_f(p['seconds'])} | {_f(p.get('run_s'))} | "
            f"{_f(p.get('cpu_s'))} | "
            f"{_f(p.get('docs_per_s'))} | {_f(p['peak_rss_mib'], 0)} | {_f(calls)} | "
            f"{_f(docs)} | {_f(_rows_written(p.get('rows')))} |"
        )
    dlt = peers.get("dlt")
    if dlt and "error" not in dlt:
        calls = sum(dlt.get("emulator_calls", {}).values())
        lines.append(
            f"| dlt | load | {_f(dlt['seconds'])} | - | {_f(dlt.get('cpu_s'))} | "
            f"{_f(dlt['docs_per_s'])} | "
            f"{_f(dlt['peak_rss_mib'], 0)} | {_f(calls)} | {_f(dlt['documents'])} | "
            f"{_f(_rows_written(dlt.get('rows')))} |"
        )
    raw = peers.get("raw")
    if raw and "error" not in raw:
        lines.append(
            f"| raw floor | download + COPY | {_f(raw['wall_s'])} | {_f(raw['seconds'])} | "
            f"{_f(raw.get('cpu_s'))} | "
            f"{_f(raw['docs_per_s'])} | {_f(raw['peak_rss_mib'], 0)} | {_f(raw['calls'])} | "
            f"{_f(raw['documents'])} | {_f(_rows_written(raw.get('rows')))} |"
        )
    for name in ("dlt", "raw"):
        if peers.get(name, {}).get("error"):
            lines.append(f"| {name} | failed | - | - | - | - | - | - | - | - |")
    r = result.get("ratios", {})
    lines += ["", "| ratio | value | target | verdict |", "|---|---:|---|---|"]
    speedup, over_raw = r.get("dlt_over_connector"), r.get("connector_over_raw")
    big = result["workload"] == "M"
    lines.append(
        f"| dlt wall time / connector load wall time | {_x(speedup)} | ≥ 5x on M | "
        f"{_verdict(speedup >= 5 if big and speedup else None)} |"
    )
    lines.append(
        f"| connector load in-run time / raw floor | {_x(over_raw)} | ≤ 2x on M | "
        f"{_verdict(over_raw <= 2 if big and over_raw else None)} |"
    )
    lines.append(
        f"| connector load wall time / raw floor | {_x(r.get('connector_wall_over_raw'))} "
        "| (start-up included) | - |"
    )
    lines.append(
        f"| connector load in-run time / emulator ceiling | {_x(r.get('connector_over_ceiling'))} "
        "| (ceiling is the emulator's limit) | - |"
    )
    return "\n".join(lines)


def _counts(result: dict[str, Any]) -> str:
    c = result["counts"]
    return (
        f"{c['invoices']:,} invoices, {c['credit_notes']:,} credit notes, "
        f"{c['accounting_entries']:,} accounting entries"
    )


def memory_table(results: dict[str, dict[str, Any]]) -> str:
    """Peak RSS of the connector's load process per workload, against S."""
    base = results.get("S", {}).get("peers", {}).get("connector", {}).get("load", {})
    base_rss = base.get("peak_rss_mib")
    lines = [
        "| workload | documents | connector load peak RSS MiB | vs S | target |",
        "|---|---:|---:|---:|---|",
    ]
    for name in WORKLOAD_ORDER:
        res = results.get(name)
        load = (res or {}).get("peers", {}).get("connector", {}).get("load")
        if not load:
            continue
        rss = load["peak_rss_mib"]
        ratio = rss / base_rss if base_rss else None
        target = "-"
        if name == "L":
            target = _verdict(ratio is not None and ratio <= 1.25 and rss < 300)
            target = f"≤ 1.25x S and < 300 MiB: {target}"
        lines.append(
            f"| {name} | {res['expected_total']:,} | {_f(rss, 0)} | {_x(ratio)} | {target} |"
        )
    return "\n".join(lines)


def xero_table(result: dict[str, Any]) -> str:
    if result.get("missing"):
        return f"### Xero\n\nNot measured: {result['missing']}"
    lines = [
        f"### Xero ({result['documents']:,} credit notes, limits {result['limits']})",
        "",
        "| phase | wall s | calls | minimum calls | 429s | rate-limit floor s | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for c in result["cases"]:
        ok = c["calls"] <= c["min_calls"] and c["429s"] == 0
        lines.append(
            f"| {c['phase']} | {_f(c['seconds'])} | {_f(c['calls'])} | {_f(c['min_calls'])} | "
            f"{_f(c['429s'])} | {_f(c['floor_s'])} | "
            f"calls ≤ minimum, no 429: {_verdict(ok)} |"
        )
    return "\n".join(lines)


def render(result: dict[str, Any]) -> str:
    kind = result.get("kind")
    if kind == "mark":
        from bench.mark_bench import mark_table

        return mark_table(result)
    if kind == "xero":
        return xero_table(result)
    return run_table(result)


# --- files ---------------------------------------------------------------------------------


def load_latest(results_dir: Path) -> dict[str, dict[str, Any]]:
    """``latest-<name>.json`` per workload (and ``mark``, ``xero``)."""
    out = {}
    for path in sorted(results_dir.glob("latest-*.json")):
        out[path.stem.removeprefix("latest-")] = json.loads(path.read_text())
    return out


def latest_markdown(results_dir: Path) -> str:
    latest = load_latest(results_dir)
    parts = ["# Latest benchmark results", ""]
    machine = next((r["machine"] for r in latest.values() if "machine" in r), None)
    if machine:
        parts += [
            f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), "
            f"{machine['ram_gib']} GiB RAM, Python {machine['python']}, {machine['platform']}.",
            "",
        ]
    for name in (*WORKLOAD_ORDER, "mark", "xero"):
        if name in latest:
            r = latest[name]
            load = r.get("machine", {}).get("loadavg_1m")
            busy = f", 1-min load average {load} at the start" if load is not None else ""
            git = r.get("git") or {}
            commit = str(git.get("commit") or "unknown")[:10]
            code = f", commit {commit}{' (dirty tree)' if git.get('dirty') else ''}"
            parts += [f"_{name}: run {r.get('started_at', '?')}{busy}{code}_", "", render(r), ""]
    runs = {k: v for k, v in latest.items() if v.get("kind") == "run"}
    if runs:
        parts += ["### Peak memory", "", memory_table(runs), ""]
    pngs = [p.name for p in sorted(results_dir.glob("*.png"))]
    parts += [f"![{p}]({p})" for p in pngs]
    return "\n".join(parts) + "\n"


BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def update_readme(readme: Path, results_dir: Path) -> bool:
    """Replace the text between the README's result markers with ``latest.md`` (images and
    headings adjusted to sit in the README); False when the markers are missing.
    """
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        return False
    body = latest_markdown(results_dir).replace("# Latest benchmark results\n\n", "", 1)
    rel = results_dir.resolve().relative_to(readme.parent.resolve())
    body = body.replace("![", "\n![").replace("](", f"]({rel.as_posix()}/")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{BEGIN}\n{body}{END}{tail}")
    return True


def plot(results_dir: Path) -> list[Path]:
    """Throughput per workload and peer; peak memory per workload and peer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {k: v for k, v in load_latest(results_dir).items() if v.get("kind") == "run"}
    names = [w for w in WORKLOAD_ORDER if w in runs]
    if not names:
        return []
    series: dict[str, list[float]] = {
        "emulator ceiling": [],
        "raw floor": [],
        "connector load": [],
        "connector mark": [],
        "dlt": [],
    }
    memory: dict[str, list[float]] = {"connector load": [], "connector mark": [], "dlt": []}
    memory["raw"] = []
    for w in names:
        r = runs[w]
        p = r["peers"]
        c = p.get("connector", {})
        series["emulator ceiling"].append(r["emulator"]["ceiling_docs_per_s"])
        series["raw floor"].append(p.get("raw", {}).get("docs_per_s", 0.0))
        series["connector load"].append(c.get("load", {}).get("docs_per_s", 0.0))
        series["connector mark"].append(c.get("mark", {}).get("docs_per_s", 0.0))
        series["dlt"].append(p.get("dlt", {}).get("docs_per_s", 0.0))
        memory["connector load"].append(c.get("load", {}).get("peak_rss_mib", 0.0))
        memory["connector mark"].append(c.get("mark", {}).get("peak_rss_mib", 0.0))
        memory["dlt"].append(p.get("dlt", {}).get("peak_rss_mib", 0.0))
        memory["raw"].append(p.get("raw", {}).get("peak_rss_mib", 0.0))
    written = []
    for fname, data, ylabel, title, log in (
        ("throughput.png", series, "documents / second", "Throughput per workload", True),
        ("memory.png", memory, "peak RSS (MiB)", "Peak memory per workload", False),
    ):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        keys = [k for k, v in data.items() if any(v)]
        width = 0.8 / max(1, len(keys))
        for i, key in enumerate(keys):
            xs = [j + i * width for j in range(len(names))]
            ax.bar(xs, data[key], width, label=key)
        ax.set_xticks([j + width * (len(keys) - 1) / 2 for j in range(len(names))], names)
        ax.set_xlabel("workload")
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = results_dir / fname
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
