"""What a sync or mark run reports: counters, final status and the exit code it maps to.

Exit codes (also in the README):

====  ==========================================================================
0     everything fetched was loaded (and marked, for TRAEDE)
1     unexpected internal error (a bug: please report it with the log)
2     configuration or usage error (a variable is missing or invalid)
3     a source kept failing (network, timeouts, 5xx, 429) after retries
4     a source refused the request (bad credentials, permissions, 4xx)
5     a source sent a response that breaks its contract (not JSON, wrong shape)
6     the warehouse failed (connection, COPY, migration); nothing partial committed
7     another run holds the stream's lock
8     some records were rejected (quarantined in connector.rejects, not marked)
9     some marks failed or are still pending in connector.export_outbox
10    a daily API quota is spent; the cursor is saved and the next run resumes
11    some marks are parked: they failed in TRAEDE_MARK_MAX_ATTEMPTS runs and wait for an
      operator (`connector status`, then `connector mark traede --retry-parked`)
====  ==========================================================================
"""

from dataclasses import dataclass, field
from typing import Any

from connector.errors import ConnectorError

EXIT_OK = 0
EXIT_REJECTS = 8
EXIT_MARKS = 9
EXIT_PARKED = 11

# The counters of a load (or cursor sync) pass, then the ones marking adds.
LOAD_KEYS = (
    "fetched",
    "inserted",
    "updated",
    "unchanged",
    "lines",
    "rejected",
    "pages",
    "api_calls",
    "retries",
)
STAT_KEYS = (*LOAD_KEYS, "enqueued", "marked", "mark_failed", "mark_calls", "http_429")


@dataclass
class SyncResult:
    """Outcome of one run over one source."""

    source: str
    run_id: str
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    error: ConnectorError | None = None
    pending_marks: int = 0
    parked_marks: int = 0
    seconds: float = 0.0
    marking: bool = True

    def total(self, key: str) -> int:
        """A counter summed over resources."""
        return sum(v.get(key, 0) for v in self.stats.values())

    @property
    def exit_code(self) -> int:
        """The process exit status this outcome maps to (table in the module docstring)."""
        if self.error is not None:
            return self.error.exit_code
        if self.total("rejected"):
            return EXIT_REJECTS
        if self.marking and self.parked_marks:
            return EXIT_PARKED
        if self.marking and (self.total("mark_failed") or self.pending_marks):
            return EXIT_MARKS
        return EXIT_OK

    @property
    def status(self) -> str:
        """``succeeded``, ``partial`` (loaded, but rejects or open marks) or ``failed``."""
        if self.error is not None:
            return "failed"
        return "succeeded" if self.exit_code == EXIT_OK else "partial"

    @property
    def reason(self) -> str:
        """One line saying why the exit code is not 0 (empty when it is)."""
        if self.error is not None:
            return str(self.error).splitlines()[0]
        code = self.exit_code
        if code == EXIT_REJECTS:
            return (
                f"{self.total('rejected')} record(s) rejected and left unexported; "
                "see `connector status` or connector.rejects"
            )
        if code == EXIT_PARKED:
            return (
                f"{self.parked_marks} mark(s) parked after repeated failures; see "
                "`connector status`, then `connector mark traede --retry-parked`"
            )
        if code == EXIT_MARKS:
            return (
                f"{self.total('mark_failed')} mark(s) failed, {self.pending_marks} pending; "
                "run `connector mark traede` to retry"
            )
        return ""

    def as_metadata(self) -> dict[str, Any]:
        """Flat counters for Dagster metadata and logs (no secrets: only numbers and ids)."""
        meta: dict[str, Any] = {"run_id": self.run_id, "seconds": round(self.seconds, 3)}
        for key in STAT_KEYS:
            meta[key] = self.total(key)
        return meta
