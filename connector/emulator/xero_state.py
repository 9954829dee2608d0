"""In-memory state of the Xero emulator: tenants' credit notes, tokens, rate limits, faults.

Thread-safe (one lock): the app runs in uvicorn's thread while tests edit records from theirs.
The clock is injectable (``clock`` returns epoch seconds), so a test can expire a token or
slide a rate-limit window without sleeping; windows and limits are configurable for speed.
"""

import math
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connector.emulator.json_bytes import dumps
from connector.emulator.xero_data import SEED_EXAMPLES, generate, ms_date
from connector.emulator.xero_notes import StoredNote
from connector.jsontext import parse_json

FAULT_KINDS = ("429-minute", "429-day", "429-concurrent", "503", "500")
PageHook = Callable[[str, int], None]


@dataclass
class TenantState:
    """One organisation: its records and its rate-limit windows and counters."""

    notes: dict[str, StoredNote] = field(default_factory=dict)
    calls: int = 0
    throttled: int = 0
    in_flight: int = 0
    minute: deque[float] = field(default_factory=deque)
    day: deque[float] = field(default_factory=deque)


@dataclass(frozen=True)
class Limits:
    """Xero's per-tenant limits (APIS.md §2.5), with configurable windows for fast tests."""

    minute_limit: int = 60
    minute_window: float = 60.0
    day_limit: int = 5000
    day_window: float = 86_400.0
    concurrent_limit: int = 5
    app_minute_limit: int = 10_000


@dataclass(frozen=True)
class Verdict:
    """Outcome of a rate-limit check: ``problem`` empty when the call may proceed."""

    problem: str
    retry_after: int
    headers: dict[str, str]


class XeroState:
    """Everything the emulator knows; see :func:`connector.emulator.xero.create_xero_app`."""

    def __init__(
        self,
        *,
        seed: int = 1,
        tenants: Iterable[str] = ("tenant-a",),
        count: int = 50,
        client_id: str = "xero-client",
        client_secret: str = "xero-secret",
        limits: Limits | None = None,
        token_lifetime: float = 1800.0,
        clock: Callable[[], float] = time.time,
        include_examples: bool = True,
        legacy_throttle: bool = False,
        require_tenant_header: bool = True,
        response_delay: float = 0.0,
        edit_mid_crawl: int = 0,
    ) -> None:
        self.lock = threading.RLock()
        # Edits of notes already served, made before each CreditNotes page is built (as Xero
        # does when a user edits while a client pages: the note's UpdatedDateUTC becomes now).
        self.edit_mid_crawl = edit_mid_crawl
        self.mid_crawl_edits: list[str] = []
        self.served: dict[str, dict[str, None]] = {}
        self.client_id = client_id
        self.client_secret = client_secret
        self.limits = limits or Limits()
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.legacy_throttle = legacy_throttle
        self.require_tenant_header = require_tenant_header
        self.response_delay = response_delay
        self.tenants: dict[str, TenantState] = {}
        self.tokens: dict[str, float] = {}
        self.tokens_issued = 0
        self.token_requests = 0
        self.faults: dict[tuple[str, int], str] = {}
        self.on_page: PageHook | None = None
        self.app_minute: deque[float] = deque()
        # The last API requests (tenant, page, pageSize, If-Modified-Since, status) for tests.
        self.requests: deque[dict[str, Any]] = deque(maxlen=2000)
        for index, tenant in enumerate(tenants):
            state = TenantState()
            self.tenants[tenant] = state
            if index == 0 and include_examples:
                for text in SEED_EXAMPLES:
                    doc = parse_json(text)
                    state.notes[doc["CreditNoteID"]] = StoredNote(doc, text.encode())
            for doc in generate(seed, tenant, count):
                state.notes[doc["CreditNoteID"]] = StoredNote(doc, dumps(doc))

    # --- records ---------------------------------------------------------------------------

    def records(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's records (parsed, Decimal money) in the default order."""
        with self.lock:
            return [n.doc for n in self.ordered(tenant, "UpdatedDateUTC ASC")]

    def ordered(self, tenant: str, order: str) -> list[StoredNote]:
        """The tenant's records in one of the supported ``order`` values."""
        with self.lock:
            notes = list(self.tenants[tenant].notes.values())
        if order == "UpdatedDateUTC DESC":
            notes.sort(key=lambda n: (n.updated_ms, n.credit_note_id), reverse=True)
        elif order == "CreditNoteNumber ASC":
            notes.sort(key=lambda n: (str(n.doc.get("CreditNoteNumber", "")), n.credit_note_id))
        else:
            notes.sort(key=lambda n: (n.updated_ms, n.credit_note_id))
        return notes

    def put(
        self, tenant: str, changes: dict[str, Any], *, updated_ms: int | None = None
    ) -> dict[str, Any]:
        """Add a record or edit one (a shallow merge by ``CreditNoteID``); return the result.

        ``UpdatedDateUTC`` is set to ``updated_ms`` if given, else to the one in ``changes`` if
        present, else bumped past every record of the tenant (and at least to now).
        """
        with self.lock:
            notes = self.tenants[tenant].notes
            cid = str(changes.get("CreditNoteID") or "")
            doc = dict(notes[cid].doc) if cid in notes else {}
            doc.update(changes)
            if not cid:
                cid = str(uuid.uuid4())
                doc["CreditNoteID"] = cid
            if updated_ms is not None:
                doc["UpdatedDateUTC"] = ms_date(updated_ms)
            elif "UpdatedDateUTC" not in changes:
                latest = max((n.updated_ms for n in notes.values()), default=0)
                doc["UpdatedDateUTC"] = ms_date(max(int(self.clock() * 1000), latest + 1))
            notes[cid] = StoredNote(doc, dumps(doc))
            return doc

    def churn(self, tenant: str) -> None:
        """Edit ``edit_mid_crawl`` notes already served to ``tenant`` (round robin), if any."""
        with self.lock:
            served = list(self.served.get(tenant, {}))
            for _ in range(self.edit_mid_crawl if served else 0):
                cid = served[len(self.mid_crawl_edits) % len(served)]
                number = len(self.mid_crawl_edits) + 1
                self.put(tenant, {"CreditNoteID": cid, "Reference": f"edited mid-crawl #{number}"})
                self.mid_crawl_edits.append(cid)

    def mark_served(self, tenant: str, notes: Iterable[StoredNote]) -> None:
        """Remember the notes a response carried (the candidates for :meth:`churn`)."""
        with self.lock:
            served = self.served.setdefault(tenant, {})
            for note in notes:
                served[note.credit_note_id] = None

    def inject(self, tenant: str, call: int, kind: str) -> None:
        """Make the tenant's ``call``-th CreditNotes request fail with ``kind`` (FAULT_KINDS)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; use one of {FAULT_KINDS}")
        with self.lock:
            self.faults[(tenant, call)] = kind

    # --- tokens ----------------------------------------------------------------------------

    def issue_token(self) -> str:
        """A new bearer token valid for ``token_lifetime`` seconds."""
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = self.clock() + self.token_lifetime
            self.tokens_issued += 1
        return token

    def token_problem(self, token: str) -> str | None:
        """None for a valid token, else the ``Detail`` of the 401."""
        with self.lock:
            expires = self.tokens.get(token)
        if expires is None:
            return "AuthenticationUnsuccessful: unknown token"
        if self.clock() >= expires:
            when = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return f"TokenExpired: token expired at {when}"
        return None

    # --- rate limits -----------------------------------------------------------------------

    def admit(self, tenant: str) -> Verdict:
        """Count a call against the tenant's limits; say which limit it breaks, if any."""
        lim = self.limits
        with self.lock:
            state = self.tenants[tenant]
            now = self.clock()
            _prune(state.minute, now - lim.minute_window)
            _prune(state.day, now - lim.day_window)
            _prune(self.app_minute, now - 60.0)
            problem, wait = "", 0.0
            if state.in_flight >= lim.concurrent_limit:
                problem, wait = "concurrent", 1.0
            elif len(state.day) >= lim.day_limit:
                problem, wait = "day", state.day[0] + lim.day_window - now
            elif len(state.minute) >= lim.minute_limit:
                problem, wait = "minute", state.minute[0] + lim.minute_window - now
            elif len(self.app_minute) >= lim.app_minute_limit:
                problem, wait = "appminute", self.app_minute[0] + 60.0 - now
            if problem:
                state.throttled += 1
            else:
                state.minute.append(now)
                state.day.append(now)
                self.app_minute.append(now)
                state.in_flight += 1
            return Verdict(problem, max(1, math.ceil(wait)), self.limit_headers(tenant))

    def release(self, tenant: str) -> None:
        """A call admitted by :meth:`admit` has finished."""
        with self.lock:
            self.tenants[tenant].in_flight -= 1

    def limit_headers(self, tenant: str) -> dict[str, str]:
        """The ``X-*Limit-Remaining`` headers every API response carries."""
        lim = self.limits
        with self.lock:
            state = self.tenants[tenant]
            return {
                "X-DayLimit-Remaining": str(max(0, lim.day_limit - len(state.day))),
                "X-MinLimit-Remaining": str(max(0, lim.minute_limit - len(state.minute))),
                "X-AppMinLimit-Remaining": str(max(0, lim.app_minute_limit - len(self.app_minute))),
            }

    def snapshot(self) -> dict[str, Any]:
        """Counters for ``GET /_emulator/state`` and tests."""
        with self.lock:
            return {
                "edit_mid_crawl": self.edit_mid_crawl,
                "mid_crawl_edits": len(self.mid_crawl_edits),
                "tokens_issued": self.tokens_issued,
                "token_requests": self.token_requests,
                "tenants": {
                    name: {
                        "calls": t.calls,
                        "throttled": t.throttled,
                        "records": len(t.notes),
                        "in_flight": t.in_flight,
                    }
                    for name, t in self.tenants.items()
                },
            }


def _prune(window: deque[float], older_than: float) -> None:
    while window and window[0] <= older_than:
        window.popleft()
