"""Benchmark plumbing: the machine, the emulator process, Postgres databases, measured children.

Every measured program runs in its own process; its peak RSS comes from ``os.wait4`` (the
kernel's ``ru_maxrss`` of that child alone), its wall time from the parent's monotonic clock.
"""

import json
import os
import platform
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from connector.warehouse.engine import libpq_dsn

BENCH_DIR = Path(__file__).resolve().parent
# Scratch space (gitignored): the embedded server, logs, dlt's state. BENCH_WORK_DIR moves it.
WORK_DIR = Path(os.environ.get("BENCH_WORK_DIR") or BENCH_DIR / ".work")
RESULTS_DIR = BENCH_DIR / "results"
TOKEN = "bench-token"
APP_KEY = "bench-app-key"


# --- the machine ----------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU count and model, RAM, Python and OS: what a result was measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        # Other work on the machine skews timings: the 1-minute load average when measured.
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- measured child processes ---------------------------------------------------------------


@dataclass
class Measured:
    """One child process: wall seconds, peak RSS (MiB), exit code, where its output went, and
    the CPU seconds it used (user + system; near ``seconds`` means CPU-bound, far below it
    means waiting on the network or the database).
    """

    seconds: float
    peak_rss_mib: float
    returncode: int
    log: Path
    cpu_s: float = 0.0

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def run_measured(
    cmd: list[str], *, env: dict[str, str] | None = None, log: Path, timeout: float = 7200
) -> Measured:
    """Run ``cmd`` to completion; stdout and stderr go to ``log``.

    ``os.wait4`` reports the maximum resident set size of that one child (Linux: KiB).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(seconds, usage.ru_maxrss / 1024, proc.returncode, log, cpu)


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]


def connector_cmd(*args: str) -> list[str]:
    """The installed ``connector`` console script (what users run), else ``-m connector``."""
    script = Path(sys.executable).with_name("connector")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "connector", *args]


# --- the emulator -------------------------------------------------------------------------


def serve_emulator(argv: list[str]) -> None:
    """``python -m bench _emulator``: the TRAEDE emulator with a cache sized to the workload.

    ``connector emulator traede`` keeps the 20,000 most recent serialised documents per
    resource; above that every pass re-serialises, and the emulator, not the client, would set
    the pace. The benchmark builds the same app with a cache that holds the whole workload.
    """
    import argparse

    from connector.emulator.server import serve_forever
    from connector.emulator.traede import TraedeEmulator
    from connector.emulator.traede_dataset import generate
    from connector.emulator.traede_state import TraedeState

    p = argparse.ArgumentParser(prog="python -m bench _emulator")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--invoices", type=int, default=0)
    p.add_argument("--credit-notes", type=int, default=0)
    p.add_argument("--accounting-entries", type=int, default=0)
    p.add_argument("--cache-size", type=int, default=20_000)
    a = p.parse_args(argv)
    dataset = generate(
        a.seed,
        invoices=a.invoices,
        credit_notes=a.credit_notes,
        accounting_entries=a.accounting_entries,
    )
    state = TraedeState(dataset, token=TOKEN, app_key=APP_KEY, cache_size=a.cache_size)
    serve_forever(TraedeEmulator(state).app, "127.0.0.1", a.port)


class Emulator:
    """The TRAEDE emulator in its own process, with helpers over its admin API."""

    def __init__(self, counts: dict[str, int], seed: int, *, log: Path, cache: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        biggest = max(counts.values()) if counts else 0
        cmd = python_cmd(
            "-m",
            "bench",
            "_emulator",
            "--port",
            str(self.port),
            "--seed",
            str(seed),
            "--invoices",
            str(counts.get("invoices", 0)),
            "--credit-notes",
            str(counts.get("credit_notes", 0)),
            "--accounting-entries",
            str(counts.get("accounting_entries", 0)),
            "--cache-size",
            str(biggest + 1 if cache else 20_000),
        )
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=BENCH_DIR.parent
        )
        self.admin = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + 120
        while True:
            try:
                self.admin.get("/_emulator/state").raise_for_status()
                break
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"emulator did not start; see {log}") from None
                time.sleep(0.1)

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = self.admin.get("/_emulator/state").json()
        return data

    def set_faults(self, spec: str | None) -> None:
        if spec:
            self.admin.post("/_emulator/faults", json={"spec": spec}).raise_for_status()
        else:
            self.admin.delete("/_emulator/faults").raise_for_status()

    def set_config(self, changes: dict[str, Any]) -> None:
        """Change ``TraedeConfig`` switches (``POST /_emulator/config``)."""
        self.admin.post("/_emulator/config", json=changes).raise_for_status()

    def forget_marks(self, system_id: str) -> None:
        for resource in ("invoices", "credit-notes", "accounting-entries"):
            self.admin.delete(
                f"/_emulator/traede/{resource}/marks", params={"system_id": system_id}
            ).raise_for_status()

    def calls(self) -> dict[str, int]:
        return dict(self.state().get("calls", {}))

    def rss_mib(self) -> float:
        try:
            import psutil

            return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20
        except Exception:
            return 0.0

    def close(self) -> None:
        self.admin.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- Postgres -------------------------------------------------------------------------------


@dataclass
class Postgres:
    """One server (``BENCH_DATABASE_URL``/``DATABASE_URL``, else embedded under bench/.work)."""

    url: str  # SQLAlchemy URL of the maintenance database
    created: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> "Postgres":
        url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL")
        if not url:
            from connector.warehouse.embedded import embedded_url

            url = embedded_url(WORK_DIR / "pg")
        return cls(url)

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (psycopg driver) of ``database`` on this server."""
        u = make_url(self.url).set(database=database)
        if u.drivername in {"postgresql", "postgres"}:
            u = u.set(drivername="postgresql+psycopg")
        return u.render_as_string(hide_password=False)

    def dsn_for(self, database: str) -> str:
        return libpq_dsn(make_url(self.url_for(database)))

    def fresh_database(self, database: str) -> str:
        """Drop and create ``database``; return its SQLAlchemy URL."""
        with psycopg.connect(libpq_dsn(make_url(self.url)), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')
        self.created.append(database)
        return self.url_for(database)

    def drop(self, database: str) -> None:
        with psycopg.connect(libpq_dsn(make_url(self.url)), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def count(self, database: str, tables: list[str]) -> dict[str, int]:
        """Row counts of ``tables`` (schema-qualified) in ``database``; missing tables are -1."""
        out: dict[str, int] = {}
        with psycopg.connect(self.dsn_for(database), autocommit=True) as conn:
            for table in tables:
                try:
                    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                    out[table] = int(row[0]) if row else 0
                except psycopg.errors.UndefinedTable:
                    out[table] = -1
        return out

    def query_json(self, database: str, sql: str) -> Any:
        with psycopg.connect(self.dsn_for(database), autocommit=True) as conn:
            row = conn.execute(sql).fetchone()
            return row[0] if row else None


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
