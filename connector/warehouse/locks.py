"""One consumer per export stream (invariant 5), enforced with Postgres advisory locks.

The lock key is (source, scope, resource), scope being the TRAEDE system id, the Xero tenant or
'' for Unleashed (``Run.lock_streams``), so two runs whose tenant lists overlap cannot both
consume the shared tenant. A run takes the locks of all its streams before doing anything, on
a dedicated connection whose ``application_name`` names the run, so a second run can say
exactly who holds the stream. Losing that connection loses the lock, so
:meth:`ConsumerLock.check` is called before each commit and aborts the run if it is gone.
"""

import zlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import psycopg

from connector.errors import LockHeldError, WarehouseError
from connector.warehouse import runs

_NAMESPACE = zlib.crc32(b"accounting-export-connector")


def _signed(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def lock_key(source: str, scope: str, resource: str) -> tuple[int, int]:
    """The two-int advisory lock key of a stream (stable across processes and versions)."""
    return _signed(_NAMESPACE), _signed(zlib.crc32(f"{source}\x1f{scope}\x1f{resource}".encode()))


class ConsumerLock:
    """Holds the advisory locks of a run's streams for as long as it is open."""

    def __init__(self, dsn: str, run: runs.Run, resources: Sequence[str] | None = None) -> None:
        """Prepare the locks of ``run``'s streams (or of ``resources`` under its system id)."""
        self._dsn = dsn
        self._run = run
        self._streams = (
            [(run.system_id, r) for r in resources] if resources is not None else run.lock_streams
        )
        self._conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> "ConsumerLock":
        conn = psycopg.connect(
            self._dsn, autocommit=True, application_name=f"connector run {self._run.run_id}"
        )
        self._conn = conn
        try:
            for scope, resource in self._streams:
                k1, k2 = lock_key(self._run.source, scope, resource)
                row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (k1, k2)).fetchone()
                if not (row and row[0]):
                    holder = self._holder(conn, k1, k2)
                    raise LockHeldError(f"{self._run.source}/{resource} (scope {scope!r})", holder)
        except BaseException:
            conn.close()
            self._conn = None
            raise
        return self

    @staticmethod
    def _holder(conn: psycopg.Connection[Any], k1: int, k2: int) -> str:
        row = conn.execute(
            "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = (%s::bigint & 4294967295)::oid "
            "AND l.objid = (%s::bigint & 4294967295)::oid AND l.objsubid = 2",
            (k1, k2),
        ).fetchone()
        if row is None:
            return "a run that has just finished; try again"
        name, pid = row
        prefix = "connector run "
        if isinstance(name, str) and name.startswith(prefix):
            return runs.describe(conn, name[len(prefix) :])
        return f"Postgres backend pid {pid} ({name or 'no application name'})"

    def check(self) -> None:
        """Raise if the lock connection died (the locks went with it)."""
        try:
            if self._conn is None or self._conn.closed:
                raise psycopg.OperationalError("lock connection closed")
            self._conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise WarehouseError(
                "lost the consumer lock (the database connection holding it ended); "
                "stopping so two runs cannot consume the same stream"
            ) from exc

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # closing the session releases its advisory locks
            finally:
                self._conn = None
