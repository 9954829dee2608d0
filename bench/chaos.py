"""Crash soak: SIGKILL a real ``connector sync traede`` again and again, then one clean run,
then check the invariants of docs/architecture.md §4.

The emulator runs in this process (a thread), so it outlives every kill; its ``before_mark``
hook checks against the database that each id it is asked to mark is committed in staging
(invariant 1) and records a violation otherwise. The connector runs as a real subprocess
(``python -m connector sync traede``) against that emulator and a Postgres database.

Kill points (``--points``; by default all, in a seeded shuffled rotation):

- ``random``: a seeded random moment after the process starts;
- ``fetch``: after a seeded number of export calls (HTTP pages being fetched);
- ``copy``: while a ``COPY`` into a temp table is running (seen in ``pg_stat_activity``);
- ``load_tx``: while a load transaction has written but not committed (any statement);
- ``committed``: after a seeded number of batch commits by this run, before any mark call;
- ``before_mark``: the whole backlog committed (outbox complete), no mark call sent yet;
- ``marking``: after a seeded number of mark-as-exported calls reached the emulator;
- ``mark_recorded``: after some acks were recorded in the outbox (marking half done).

When the backlog runs dry the source is refreshed (new documents, edited documents and
re-delivery by clearing the emulator's marks), so later kills still land in real work.

Usage: ``python -m bench chaos --kills 500`` (or ``python -m bench.chaos``); writes
``bench/results/chaos-<timestamp>.json`` and prints the figures. Exit status 0 only when
every check passed.
"""

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from connector.emulator.server import EmulatorServer
from connector.emulator.traede import create_traede_app
from connector.emulator.traede_state import TraedeState

POINTS = (
    "random",
    "fetch",
    "copy",
    "load_tx",
    "committed",
    "before_mark",
    "marking",
    "mark_recorded",
)
RESOURCES = ("invoices", "credit_notes", "accounting_entries")
TABLES = {
    "invoices": ("staging.traede_invoices", "staging.traede_invoice_lines", "invoice_id"),
    "credit_notes": (
        "staging.traede_credit_notes",
        "staging.traede_credit_note_lines",
        "credit_note_id",
    ),
    "accounting_entries": ("staging.traede_accounting_entries", None, None),
}
NEW_ID_BASE = {"invoices": 400_001, "credit_notes": 800_001, "accounting_entries": 1_400_001}
SYSTEM_ID = "erp-chaos"
EXIT_LOCK_HELD = 7
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class SoakConfig:
    """What one soak does."""

    kills: int = 30
    seed: int = 1
    invoices: int = 1200
    credit_notes: int = 300
    accounting_entries: int = 1200
    batch_size: int = 200
    points: tuple[str, ...] = POINTS
    attempt_timeout: float = 120.0
    random_horizon: float = 4.0
    refresh_below: int = 400


@dataclass
class SoakReport:
    """Figures of one soak (written as JSON)."""

    config: dict[str, Any]
    kills: int = 0
    kill_points: dict[str, int] = field(default_factory=dict)
    phases_at_kill: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    completed_without_kill: int = 0
    points_missed: dict[str, int] = field(default_factory=dict)
    lock_busy_exits: int = 0
    exit_codes: dict[str, int] = field(default_factory=dict)
    refreshes: dict[str, int] = field(default_factory=dict)
    killed_pids: list[int] = field(default_factory=list)
    final_exit: int | None = None
    final_stderr: str = ""
    documents: dict[str, int] = field(default_factory=dict)
    documents_delivered: int = 0
    export_calls: int = 0
    mark_calls: int = 0
    abandoned_runs: int = 0
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every check passed and nothing unexpected happened."""
        return not self.problems and all(self.checks.values())


def committed_checker(dsn: str) -> Any:
    """A ``before_mark`` hook: every id about to be marked must be committed in staging."""

    def check(resource: str, system_id: str, ids: list[int]) -> None:
        table = TABLES[resource.replace("-", "_")][0]
        with psycopg.connect(dsn, autocommit=True, application_name="chaos-check") as conn:
            rows = conn.execute(f"SELECT id FROM {table} WHERE id = ANY(%s)", (ids,)).fetchall()
        missing = set(ids) - {r[0] for r in rows}
        if missing:
            raise AssertionError(f"marked before commit: {resource} {sorted(missing)}")

    return check


def eligible_ids(state: TraedeState, resource: str) -> set[int]:
    """Ids the source would export with default options (every non-draft document)."""
    store = state.store(resource)
    with state.lock:
        ids = list(store.ids)
    out = set()
    for doc_id in ids:
        doc = state.document(resource, doc_id)
        if doc is not None and doc.get("status") != "draft":
            out.add(doc_id)
    return out


def marked(state: TraedeState, resource: str) -> set[int]:
    """Ids the emulator holds as exported to our system id."""
    return set(state.marks(resource, SYSTEM_ID).get(SYSTEM_ID, {}))


class Soak:
    """The emulator, the database and the kill loop. Use as a context manager."""

    def __init__(self, config: SoakConfig, dsn: str, workdir: Path | None = None) -> None:
        self.config = config
        self.dsn = dsn
        self.rng = random.Random(config.seed)
        self.token = f"tok-{uuid.uuid4().hex}"
        self.app_key = f"key-{uuid.uuid4().hex}"
        app, self.state = create_traede_app(
            seed=config.seed,
            invoices=config.invoices,
            credit_notes=config.credit_notes,
            accounting_entries=config.accounting_entries,
            token=self.token,
            app_key=self.app_key,
            before_mark=committed_checker(dsn),
        )
        self.server = EmulatorServer(app)
        self._tmp = tempfile.TemporaryDirectory(prefix="chaos-")
        self.workdir = workdir or Path(self._tmp.name)
        self.report = SoakReport(config={**asdict(self.config), "points": list(config.points)})
        self._monitor: psycopg.Connection[Any] | None = None
        self._added = 0

    def __enter__(self) -> "Soak":
        self.server.start()
        self._monitor = psycopg.connect(self.dsn, autocommit=True, application_name="chaos-mon")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._monitor is not None:
            self._monitor.close()
        self.server.stop()
        self._tmp.cleanup()

    # --- the connector process ---------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The environment of a ``connector sync traede`` child."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "TRAEDE_"))}
        keep.pop("DATABASE_URL", None)
        return {
            **keep,
            "TRAEDE_BASE_URL": self.server.url,
            "TRAEDE_API_TOKEN": self.token,
            "TRAEDE_APP_KEY": self.app_key,
            "TRAEDE_SYSTEM_ID": SYSTEM_ID,
            "DATABASE_URL": self.dsn,
            "CONNECTOR_BATCH_SIZE": str(self.config.batch_size),
            "CONNECTOR_HTTP_TIMEOUT": "10",
            "CONNECTOR_MAX_RETRY_WAIT": "20",
            "PYTHONUNBUFFERED": "1",
        }

    def spawn(self, n: int) -> tuple[subprocess.Popen[bytes], Path]:
        """Start the connector; its output goes to a file (no pipe to fill up)."""
        out = self.workdir / f"attempt-{n}.log"
        with out.open("wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "connector", "sync", "traede", "--no-progress"],
                env=self.env(),
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        return proc, out

    # --- observation -------------------------------------------------------------------------

    def _calls(self, suffix: str) -> int:
        with self.state.lock:
            return sum(v for k, v in self.state.calls.items() if k.endswith(suffix))

    def _db(self, pid: int, since: datetime) -> tuple[int, int, int, bool]:
        """(rows enqueued by this run, rows it acked, open outbox rows, run row exists)."""
        assert self._monitor is not None
        row = self._monitor.execute(
            "WITH r AS (SELECT run_id FROM connector.sync_runs WHERE pid = %s "
            "AND host = %s AND started_at >= %s ORDER BY started_at DESC LIMIT 1) "
            "SELECT (SELECT count(*) FROM connector.export_outbox o JOIN r USING (run_id)), "
            "(SELECT count(*) FROM connector.export_outbox o JOIN r ON o.mark_run_id = r.run_id "
            " WHERE o.state = 'acked'), "
            "(SELECT count(*) FROM connector.export_outbox WHERE state <> 'acked'), "
            "EXISTS (SELECT 1 FROM r)",
            (pid, socket.gethostname(), since),
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2]), bool(row[3])

    def _writing(self) -> str | None:
        """The statement of a load transaction in progress ('COPY ...' etc.), if any."""
        assert self._monitor is not None
        rows = self._monitor.execute(
            "SELECT state, query FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "AND application_name NOT LIKE 'chaos-%%' "
            "AND application_name NOT LIKE 'connector run %%' "
            "AND state IN ('active', 'idle in transaction') AND backend_xid IS NOT NULL"
        ).fetchall()
        for _, query in rows:
            text = (query or "").lstrip()
            if text.startswith(
                ("INSERT INTO connector.sync_runs", "UPDATE connector.export_outbox")
            ):
                continue  # run bookkeeping and mark recording are not load transactions
            if text.startswith("UPDATE connector.sync_runs SET status"):
                continue
            return text
        return None

    def _expected_open(self) -> int:
        """Open outbox rows once this attempt's load has committed everything."""
        assert self._monitor is not None
        open_ids: set[tuple[str, int]] = {
            (str(r[0]), int(r[1]))
            for r in self._monitor.execute(
                "SELECT resource, document_id FROM connector.export_outbox WHERE state <> 'acked'"
            ).fetchall()
        }
        for resource in RESOURCES:
            open_ids |= {(resource, i) for i in eligible_ids(self.state, resource)} - {
                (resource, i) for i in marked(self.state, resource)
            }
        return len(open_ids)

    def backlog(self) -> int:
        """Documents the source still offers for export."""
        return sum(len(eligible_ids(self.state, r) - marked(self.state, r)) for r in RESOURCES)

    # --- the loop ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Give the source new work: new documents, edited ones, and re-delivery."""
        kind = self.rng.choice(("add", "edit", "redeliver"))
        resource = self.rng.choice(RESOURCES)
        if kind == "add":
            template_ids = sorted(eligible_ids(self.state, resource))[:50]
            docs = []
            for i in range(250):
                doc = self.state.document(resource, template_ids[i % len(template_ids)])
                assert doc is not None
                doc["id"] = NEW_ID_BASE[resource] + self._added
                doc.pop("created_at", None)
                doc.pop("updated_at", None)
                self._added += 1
                docs.append(doc)
            self.state.add_documents(resource, docs)
        elif kind == "edit":
            ids = sorted(eligible_ids(self.state, resource))
            for doc_id in self.rng.sample(ids, min(150, len(ids))):
                field_name = "text" if resource == "accounting_entries" else "notes"
                self.state.edit_document(
                    resource, doc_id, **{field_name: f"edited {self.rng.random():.6f} ' ; --"}
                )
            self.state.clear_marks(resource, SYSTEM_ID)
        else:
            self.state.clear_marks(resource, SYSTEM_ID)
        self.report.refreshes[kind] = self.report.refreshes.get(kind, 0) + 1

    def attempt(self, n: int, point: str) -> bool:
        """Run the connector once and kill it at ``point``; True if it was killed."""
        cfg = self.config
        since = datetime.now(UTC)
        exports0, marks0 = self._calls(".export"), self._calls(".mark")
        expected_open = self._expected_open() if point == "before_mark" else 0
        nth = self.rng.randint(1, 4)
        delay = self.rng.uniform(0.2, cfg.random_horizon)
        fetch_after = self.rng.randint(1, 40)
        marks_after = self.rng.randint(1, 60)
        commits_seen: set[int] = set()
        writes_seen = 0
        proc, log_path = self.spawn(n)
        started = time.monotonic()
        self.report.attempts += 1
        while True:
            code = proc.poll()
            if code is not None:
                self._exited(point, code, log_path)
                return False
            elapsed = time.monotonic() - started
            if elapsed > cfg.attempt_timeout:
                self.report.problems.append(f"attempt {n} ({point}) ran over {elapsed:.0f}s")
                self._kill(proc, point, "hung")
                return True
            hit = False
            if point == "random":
                hit = elapsed >= delay
            elif point == "fetch":
                hit = self._calls(".export") - exports0 >= fetch_after
            elif point in ("copy", "load_tx"):
                text = self._writing()
                if text is not None and (point == "load_tx" or text.startswith("COPY")):
                    writes_seen += 1
                    hit = writes_seen >= nth
            elif point in ("committed", "before_mark", "mark_recorded"):
                enqueued, acked, open_rows, running = self._db(proc.pid, since)
                marking = self._calls(".mark") > marks0
                if point == "committed":
                    if enqueued:
                        commits_seen.add(enqueued)
                    hit = len(commits_seen) >= min(nth, 2) or (marking and bool(commits_seen))
                elif point == "before_mark":
                    hit = running and enqueued > 0 and (open_rows >= expected_open or marking)
                    if hit and not marking:
                        self._kill(proc, point, "all committed, before the first mark call")
                        return True
                else:
                    hit = acked > 0
            elif point == "marking":
                hit = self._calls(".mark") - marks0 >= marks_after
            if hit:
                self._kill(proc, point, self._phase(proc.pid, since, exports0, marks0))
                return True
            time.sleep(0.002)

    def _phase(self, pid: int, since: datetime, exports0: int, marks0: int) -> str:
        """What the process had done when it was killed (from the database and the emulator)."""
        enqueued, acked, _, running = self._db(pid, since)
        if not running:
            return "starting (no run row yet)"
        if self._calls(".mark") > marks0:
            return "marking, some acks recorded" if acked else "marking, no ack recorded yet"
        if enqueued:
            return "loading, batches committed"
        if self._calls(".export") > exports0:
            return "fetching, nothing committed yet"
        return "started, no export call yet"

    def _kill(self, proc: subprocess.Popen[bytes], point: str, phase: str) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rep = self.report
        rep.kills += 1
        rep.killed_pids.append(proc.pid)
        rep.kill_points[point] = rep.kill_points.get(point, 0) + 1
        rep.phases_at_kill[phase] = rep.phases_at_kill.get(phase, 0) + 1

    def _exited(self, point: str, code: int, log_path: Path) -> None:
        rep = self.report
        rep.completed_without_kill += 1
        rep.points_missed[point] = rep.points_missed.get(point, 0) + 1
        rep.exit_codes[str(code)] = rep.exit_codes.get(str(code), 0) + 1
        if code == EXIT_LOCK_HELD:
            rep.lock_busy_exits += 1  # the killed run's backend had not gone yet: fail-fast
            time.sleep(0.2)
        elif code != 0:
            tail = log_path.read_text(errors="replace")[-600:]
            rep.problems.append(f"a run exited {code} without being killed: {tail}")

    def run(self) -> SoakReport:
        """Kill ``config.kills`` times, run once cleanly, check everything."""
        t0 = time.monotonic()
        cfg = self.config
        order: list[str] = []
        n = 0
        while self.report.kills < cfg.kills:
            if n > cfg.kills * 4 + 20:
                self.report.problems.append(f"only {self.report.kills} kills in {n} attempts")
                break
            if self.backlog() < cfg.refresh_below:
                self.refresh()
            if not order:
                order = list(cfg.points)
                self.rng.shuffle(order)
            point = order.pop()
            n += 1
            self.attempt(n, point)
            if len(self.report.problems) > 5:
                break
        self.final_run(n + 1)
        self.report.seconds = round(time.monotonic() - t0, 1)
        self.verify()
        return self.report

    def final_run(self, n: int) -> None:
        """One clean run to the end (retried briefly while a killed backend lets go)."""
        for _ in range(20):
            proc, log_path = self.spawn(n)
            code = proc.wait(timeout=self.config.attempt_timeout)
            self.report.final_exit = code
            self.report.final_stderr = log_path.read_text(errors="replace")[-1000:]
            if code != EXIT_LOCK_HELD:
                return
            self.report.lock_busy_exits += 1
            time.sleep(0.5)

    # --- checks ------------------------------------------------------------------------------

    def verify(self) -> None:
        """Invariants of docs/architecture.md §4 after the clean run (in ``report.checks``)."""
        rep, state = self.report, self.state
        assert self._monitor is not None
        db = self._monitor
        checks = rep.checks
        checks["final run exit 0"] = rep.final_exit == 0
        checks["no invariant-1 violation seen by the emulator"] = not state.violations
        if state.violations:
            rep.problems.extend(state.violations[:5])
        same, marked_iff, values = True, True, True
        for resource in RESOURCES:
            header, lines, fk = TABLES[resource]
            want = eligible_ids(state, resource)
            rep.documents[resource] = len(want)
            got = {r[0] for r in db.execute(f"SELECT id FROM {header}").fetchall()}
            if got != want:
                same = False
                rep.problems.append(
                    f"{resource}: staging differs from the source: {len(want - got)} missing, "
                    f"{len(got - want)} extra"
                )
            ack = marked(state, resource)
            if ack != got:
                marked_iff = False
                rep.problems.append(
                    f"{resource}: {len(got - ack)} in staging not marked, "
                    f"{len(ack - got)} marked not in staging"
                )
            values &= self._values_match(resource, header, lines, fk, want & got)
        checks["staging equals the source (ids)"] = same
        checks["staging values and line counts equal the source"] = values
        checks["every document marked iff in staging"] = marked_iff
        states = dict(
            db.execute("SELECT state, count(*) FROM connector.export_outbox GROUP BY 1").fetchall()
        )
        checks["outbox fully acked"] = set(states) <= {"acked"}
        rejects = db.execute("SELECT count(*) FROM connector.rejects").fetchone()
        checks["no rejects"] = rejects is not None and rejects[0] == 0
        dups = 0
        for resource in RESOURCES:
            header, lines, fk = TABLES[resource]
            row = db.execute(
                f"SELECT count(*) - count(DISTINCT id) FROM {header}"  # PK makes this 0
            ).fetchone()
            dups += int(row[0]) if row else 0
            if lines:
                row = db.execute(
                    f"SELECT count(*) - count(DISTINCT ({fk}, line_number)) FROM {lines}"
                ).fetchone()
                dups += int(row[0]) if row else 0
        checks["no duplicate rows"] = dups == 0
        running = db.execute(
            "SELECT count(*) FROM connector.sync_runs WHERE status = 'running'"
        ).fetchone()
        checks["no run left 'running'"] = running is not None and running[0] == 0
        killed = db.execute(
            "SELECT status, count(*) FROM connector.sync_runs WHERE pid = ANY(%s) "
            "AND host = %s GROUP BY 1",
            (rep.killed_pids, socket.gethostname()),
        ).fetchall()
        by_status = {str(s): int(c) for s, c in killed}
        rep.abandoned_runs = by_status.get("abandoned", 0)
        # A kill can land after the run row was finished (the last instants of a run).
        checks["every killed run is 'abandoned' (or had finished)"] = not (
            set(by_status) - {"abandoned", "succeeded", "partial"}
        )
        rep.export_calls = self._calls(".export")
        rep.mark_calls = self._calls(".mark")
        row = db.execute(
            "SELECT coalesce(sum((s.value->>'fetched')::bigint), 0) FROM connector.sync_runs r, "
            "jsonb_each(r.stats) s"
        ).fetchone()
        rep.documents_delivered = int(row[0]) if row else 0
        for name, ok in checks.items():
            if not ok and not any(name in p for p in rep.problems):
                rep.problems.append(f"check failed: {name}")

    def _values_match(
        self, resource: str, header: str, lines: str | None, fk: str | None, ids: set[int]
    ) -> bool:
        assert self._monitor is not None
        money = "amount" if resource == "accounting_entries" else "total_price_after_vat"
        text = "text" if resource == "accounting_entries" else "notes"
        rows = self._monitor.execute(f"SELECT id, {money}, {text} FROM {header}").fetchall()
        counts: dict[int, int] = {}
        if lines:
            counts = dict(
                self._monitor.execute(f"SELECT {fk}, count(*) FROM {lines} GROUP BY 1").fetchall()
            )
        bad = 0
        for doc_id, amount, note in rows:
            if doc_id not in ids:
                continue
            doc = self.state.document(resource, doc_id)
            assert doc is not None
            want = doc.get(money)
            differs = (Decimal(str(want)) if want is not None else None) != amount
            differs = differs or doc.get(text) != note
            if lines and len(doc.get("lines") or []) != counts.get(doc_id, 0):
                differs = True
            bad += differs
        if bad:
            self.report.problems.append(f"{resource}: {bad} documents differ from the source")
        return bad == 0


# --- command line ----------------------------------------------------------------------------


def _database(args: argparse.Namespace) -> tuple[str, Any]:
    """A fresh migrated database: on ``--database-url`` or an embedded Postgres."""
    from sqlalchemy.engine import make_url

    from connector.config import WarehouseSettings
    from connector.warehouse import Warehouse
    from connector.warehouse.embedded import embedded_url
    from connector.warehouse.engine import Target, libpq_dsn

    if args.database_url:
        server = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    else:
        server = embedded_url(Path(args.home).resolve(), "postgres")
    name = f"chaos_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_dsn(make_url(server)), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name)
    wh = Warehouse(
        WarehouseSettings(database_url=None, home=Path(args.home)),
        target=Target(url, embedded=False),
    )
    wh.migrate()

    def drop() -> None:
        with psycopg.connect(libpq_dsn(make_url(server)), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return wh.dsn, drop


def summary(report: SoakReport) -> str:
    """The figures as a few lines of text."""
    lines = [
        f"chaos soak: {report.kills} SIGKILLs in {report.attempts} runs "
        f"({report.completed_without_kill} finished before their kill point), "
        f"{report.seconds:.0f}s",
        f"  kill points: {json.dumps(report.kill_points, sort_keys=True)}",
        f"  phases at kill: {json.dumps(report.phases_at_kill, sort_keys=True)}",
        f"  source refreshes: {json.dumps(report.refreshes, sort_keys=True)}; "
        f"documents at the end: {json.dumps(report.documents, sort_keys=True)}",
        f"  export calls {report.export_calls}, mark calls {report.mark_calls}, "
        f"documents delivered {report.documents_delivered}, abandoned runs "
        f"{report.abandoned_runs}, lock-busy exits {report.lock_busy_exits}",
        f"  points that missed (run finished first): "
        f"{json.dumps(report.points_missed, sort_keys=True)}",
        f"  final clean run exit {report.final_exit}",
    ]
    for name, ok in report.checks.items():
        lines.append(f"  [{'ok' if ok else 'FAIL'}] {name}")
    lines += [f"  problem: {p}" for p in report.problems]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``python -m bench chaos [--kills N] [--seed N] ...``; 0 when every check passed."""
    parser = argparse.ArgumentParser(prog="python -m bench chaos", description=__doc__)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--invoices", type=int, default=SoakConfig.invoices)
    parser.add_argument("--credit-notes", type=int, default=SoakConfig.credit_notes)
    parser.add_argument("--accounting-entries", type=int, default=SoakConfig.accounting_entries)
    parser.add_argument("--batch-size", type=int, default=SoakConfig.batch_size)
    parser.add_argument("--points", default=",".join(POINTS), help="comma-separated kill points")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL", ""))
    parser.add_argument("--home", default=".connector/chaos", help="embedded Postgres home")
    parser.add_argument("--out", default="", help="JSON path (default bench/results/chaos-*.json)")
    args = parser.parse_args(argv)
    points = tuple(p.strip() for p in args.points.split(",") if p.strip())
    unknown = set(points) - set(POINTS)
    if unknown:
        parser.error(f"unknown kill points {sorted(unknown)}; known: {', '.join(POINTS)}")
    config = SoakConfig(
        kills=args.kills,
        seed=args.seed,
        invoices=args.invoices,
        credit_notes=args.credit_notes,
        accounting_entries=args.accounting_entries,
        batch_size=args.batch_size,
        points=points,
    )
    dsn, drop = _database(args)
    try:
        with Soak(config, dsn) as soak:
            report = soak.run()
    finally:
        with contextlib.suppress(psycopg.Error):
            drop()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else RESULTS / f"chaos-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "kind": "chaos",
        "finished_at": stamp,
        "command": "python -m bench chaos " + " ".join(argv),
        "ok": report.ok,
        **asdict(report),
    }
    data.pop("killed_pids")
    out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(summary(report))
    print(f"  figures written to {out}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
