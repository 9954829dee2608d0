"""The embedded Postgres (pgserver) used when ``DATABASE_URL`` is unset.

pgserver ships a real PostgreSQL 16 in a wheel. The server is started on first use with its
data under ``<home>/pgdata`` and left running (``cleanup_mode=None``), so later commands reuse
it; it listens on a Unix socket inside the data directory only, never on a TCP port.
``connector db stop`` (:func:`stop_embedded`) stops it; the next command starts it again.
"""

import logging
import os
import signal
import time
import warnings
from pathlib import Path

from connector.errors import WarehouseError

log = logging.getLogger(__name__)


def embedded_url(home: Path, database: str = "postgres") -> str:
    """Start (or reuse) the embedded server under ``home`` and return a SQLAlchemy URL."""
    pgdata = home / "pgdata"
    try:
        home.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless here.
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server

            server = get_server(pgdata, cleanup_mode=None)
            uri: str = server.get_uri(database)
    except Exception as exc:  # pgserver raises plain exceptions and CalledProcessError
        raise WarehouseError(
            f"could not start the embedded Postgres in {pgdata}: {exc}. "
            f"Check the log at {pgdata / 'log'}, or set DATABASE_URL to use your own server"
        ) from exc
    log.info("embedded Postgres: data in %s (server pid %s)", pgdata, embedded_pid(home))
    return uri.replace("postgresql://", "postgresql+psycopg://", 1).replace(
        "postgres:@", "postgres@"
    )


def embedded_pid(home: Path) -> int | None:
    """The postmaster pid of the embedded server under ``home``, if it runs."""
    pidfile = home / "pgdata" / "postmaster.pid"
    try:
        return int(pidfile.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def stop_embedded(home: Path, timeout: float = 30.0) -> int | None:
    """Stop the embedded server under ``home`` ("fast" shutdown); its pid, None if not running.

    Raises:
        WarehouseError: the server was still running after ``timeout`` seconds.
    """
    pid = embedded_pid(home)
    if pid is None:
        return None
    try:
        os.kill(pid, signal.SIGINT)  # fast shutdown: roll back open sessions, then stop
    except ProcessLookupError:
        return None  # a stale postmaster.pid: nothing runs
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        time.sleep(0.05)
    raise WarehouseError(f"the embedded Postgres (pid {pid}) did not stop within {timeout:.0f}s")
