"""In-memory state of the Unleashed emulator: stored credit notes, calls, faults and a clock."""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.emulator.json_bytes import dumps
from connector.jsontext import parse_json
from connector.normalize.common import ms_date_to_utc
from connector.sources.unleashed.contract import to_ms_date


@dataclass
class Note:
    """One stored credit note: the bytes served, plus the fields the filters look at."""

    credit_number: str
    status: str
    modified: datetime
    created: datetime | None
    raw: bytes

    @classmethod
    def from_raw(cls, raw: bytes) -> "Note":
        """Index a serialised record (the vendor example stays byte for byte as given)."""
        data = parse_json(raw)
        modified = ms_date_to_utc(data["LastModifiedOn"], "LastModifiedOn", nullable=False)
        assert modified is not None
        return cls(
            credit_number=data["CreditNumber"],
            status=data.get("CreditStatus") or "",
            modified=modified,
            created=ms_date_to_utc(data.get("CreatedOn"), "CreatedOn"),
            raw=raw,
        )

    def record(self) -> dict[str, Any]:
        """The record parsed (numbers as Decimal), for tests and edits."""
        value: dict[str, Any] = parse_json(self.raw)
        return value


@dataclass
class UnleashedState:
    """The emulator's data and what it saw; safe to use from the test thread."""

    api_id: str
    api_key: str
    day_granularity: bool = False
    notes: dict[str, Note] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    signature_failures: int = 0
    faults: dict[int, tuple[int, float | None]] = field(default_factory=dict)
    on_page: Callable[[int], None] | None = None
    clock: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    lock: threading.RLock = field(default_factory=threading.RLock)

    # --- data -----------------------------------------------------------------------------

    def put_raw(self, raw: bytes) -> Note:
        """Store a serialised record as is (replacing one with the same credit number)."""
        note = Note.from_raw(raw)
        with self.lock:
            self.notes[note.credit_number] = note
        return note

    def edit(
        self,
        credit_number: str,
        changes: dict[str, Any] | None = None,
        *,
        modified: datetime | None = None,
    ) -> dict[str, Any]:
        """Apply top-level ``changes`` and set ``LastModifiedOn`` (explicit, or the clock).

        An unknown credit number creates a record from ``changes`` (which must then be whole).
        Without ``modified`` the emulator clock ticks one minute, so edits sort newest.
        """
        with self.lock:
            existing = self.notes.get(credit_number)
            record = existing.record() if existing else {"CreditNumber": credit_number}
            record.update(changes or {})
            if modified is None:
                self.clock += timedelta(minutes=1)
                modified = self.clock
            record["LastModifiedOn"] = to_ms_date(modified)
            self.put_raw(dumps(record))
            return record

    def delete(self, credit_number: str) -> None:
        """Remove a record (Unleashed deletes Parked free credits without a trace)."""
        with self.lock:
            self.notes.pop(credit_number, None)

    def ordered(self) -> list[Note]:
        """Every record, newest ``LastModifiedOn`` first."""
        with self.lock:
            notes = list(self.notes.values())
        return sorted(notes, key=lambda n: (n.modified, n.credit_number), reverse=True)

    def records(self) -> list[dict[str, Any]]:
        """Every record parsed, in API order."""
        return [n.record() for n in self.ordered()]

    def fail_call(self, call: int, status: int, retry_after: float | None = None) -> None:
        """Answer the ``call``-th ``/CreditNotes`` request (1-based) with ``status``."""
        with self.lock:
            self.faults[call] = (status, retry_after)

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /_emulator/state`` returns."""
        with self.lock:
            return {
                "count": len(self.notes),
                "calls": list(self.calls),
                "signature_failures": self.signature_failures,
            }
