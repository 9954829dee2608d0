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
    # Mid-crawl modes, applied before each page request: edit this many notes already served
    # (they jump to page 1), and delete notes already served while the budget lasts (one per
    # request; Unleashed deletes Parked free credits without a trace, shifting the rest left).
    edit_mid_crawl: int = 0
    delete_mid_crawl: int = 0
    mid_crawl_edits: list[str] = field(default_factory=list)
    mid_crawl_deletes: list[str] = field(default_factory=list)
    served: dict[str, None] = field(default_factory=dict)
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

    def churn(self) -> None:
        """Apply the mid-crawl modes to notes already served (oldest served first)."""
        with self.lock:
            served = [n for n in self.served if n in self.notes]
            for _ in range(self.edit_mid_crawl if served else 0):
                number = served[len(self.mid_crawl_edits) % len(served)]
                self.edit(
                    number, {"Comments": f"edited mid-crawl #{len(self.mid_crawl_edits) + 1}"}
                )
                self.mid_crawl_edits.append(number)
            if self.delete_mid_crawl > 0 and served:
                victim = next((n for n in served if n not in self.mid_crawl_edits), served[0])
                self.delete(victim)
                self.served.pop(victim, None)
                self.mid_crawl_deletes.append(victim)
                self.delete_mid_crawl -= 1

    def mark_served(self, notes: list[Note]) -> None:
        """Remember the notes a page carried (the candidates for :meth:`churn`)."""
        with self.lock:
            for note in notes:
                self.served[note.credit_number] = None

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
                "mid_crawl_edits": len(self.mid_crawl_edits),
                "mid_crawl_deletes": list(self.mid_crawl_deletes),
            }
