"""In-memory state of the TRAEDE emulator: resource stores, marking, calls and violations."""

import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from connector.emulator.faults import FaultPlan
from connector.emulator.traede_config import TraedeConfig
from connector.emulator.traede_data import RESOURCES
from connector.emulator.traede_dataset import TraedeDataset
from connector.emulator.traede_query import epoch_of, format_datetime, timestamp_of
from connector.emulator.traede_resources import ID_KEYS, SINGULAR, resource_name
from connector.emulator.traede_store import Mark, RawDocument, ResourceStore

BeforeMark = Callable[[str, str, list[int]], None]


class MarkViolation(Exception):
    """The ``before_mark`` hook refused a mark call."""


class ConflictError(Exception):
    """A mark call hit an already marked id while ``mark_conflict_status`` is set."""

    def __init__(self, detail: str, status: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


class TraedeState:
    """Everything the TRAEDE emulator knows; safe to use from tests while the server runs."""

    def __init__(
        self,
        dataset: TraedeDataset,
        *,
        token: str = "test-token",
        app_key: str = "test-app-key",
        config: TraedeConfig | None = None,
        faults: FaultPlan | None = None,
        before_mark: BeforeMark | None = None,
        clock: Callable[[], datetime] | None = None,
        cache_size: int = 20_000,
    ) -> None:
        self.token = token
        self.app_key = app_key
        self.config = config or TraedeConfig()
        self.faults = faults or FaultPlan()
        self.before_mark = before_mark
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.resources = {
            name: ResourceStore(dataset.resource(name), cache_size) for name in RESOURCES
        }
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()  # 429s for too many mark calls in flight
        self.in_flight: Counter[str] = Counter()
        self.call_log: deque[dict[str, Any]] = deque(maxlen=2000)
        self.violations: list[str] = []

    def store(self, resource: str) -> ResourceStore:
        """Return the store of ``resource`` (``credit_notes`` or ``credit-notes``)."""
        return self.resources[resource_name(resource)]

    def now(self) -> datetime:
        """The emulator's clock (UTC)."""
        return self.clock()

    def add_documents(
        self, resource: str, docs: Mapping[str, Any] | list[Mapping[str, Any]]
    ) -> list[int]:
        """Upsert documents by id (see ``ResourceStore.upsert``); returns their ids."""
        items = [docs] if isinstance(docs, Mapping) else list(docs)
        now = format_datetime(self.now())
        with self.lock:
            store = self.store(resource)
            return [store.upsert(doc, now) for doc in items]

    def edit_document(self, resource: str, doc_id: int, **changes: Any) -> None:
        """Change fields of an existing document (``updated_at`` is bumped unless given).

        Raises:
            KeyError: no such document.
        """
        with self.lock:
            if not self.store(resource).exists(doc_id):
                raise KeyError(doc_id)
            self.add_documents(resource, {**changes, "id": doc_id})

    def add_raw_document(
        self,
        resource: str,
        doc_id: int,
        text: str | bytes,
        *,
        status: str | None = "booked",
        created_at: str | None = None,
        updated_at: str | None = None,
    ) -> None:
        """Add a document served verbatim as ``text`` (may be malformed JSON on purpose).

        Timestamps for filters come from the arguments, else from ``text`` when it parses.
        """
        body = text.encode() if isinstance(text, str) else text
        parsed: Any = None
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        found = parsed if isinstance(parsed, dict) else {}
        created = timestamp_of(created_at or found.get("created_at"))
        updated = timestamp_of(updated_at or found.get("updated_at"))
        with self.lock:
            self.store(resource).add_raw(doc_id, RawDocument(body, status, created, updated))

    def document(self, resource: str, doc_id: int) -> dict[str, Any] | None:
        """Return a copy of a document as parsed data (None for unknown or raw ids)."""
        with self.lock:
            return self.store(resource).document(doc_id)

    def marks(self, resource: str, system_id: str | None = None) -> dict[str, dict[int, Mark]]:
        """Return a copy of the marks of ``resource``: system_id -> id -> Mark."""
        with self.lock:
            marks = self.store(resource).marks
            return {
                sid: dict(by_id)
                for sid, by_id in marks.items()
                if system_id is None or sid == system_id
            }

    def clear_marks(self, resource: str | None = None, system_id: str | None = None) -> None:
        """Forget marks (of one resource and/or system_id, or all)."""
        with self.lock:
            for name in [resource_name(resource)] if resource else list(RESOURCES):
                store = self.resources[name]
                for sid in list(store.marks):
                    if system_id is None or sid == system_id:
                        del store.marks[sid]
                        store.bump_marks(sid)
                store._hints.clear()

    def set_faults(self, plan: FaultPlan | None) -> None:
        """Replace the fault plan (None clears it)."""
        self.faults = plan or FaultPlan()

    def enter_mark(self, endpoint: str) -> bool:
        """Count a call in flight; False (and a 429 counted) when over the in-flight limit."""
        if not endpoint.endswith(".mark"):
            return True
        with self.lock:
            limit = self.config.mark_in_flight_limit
            if limit is not None and self.in_flight[endpoint] >= limit:
                self.throttled[endpoint] += 1
                return False
            self.in_flight[endpoint] += 1
            return True

    def leave_mark(self, endpoint: str) -> None:
        """The end of a call :meth:`enter_mark` let in."""
        if endpoint.endswith(".mark"):
            with self.lock:
                self.in_flight[endpoint] -= 1

    def reset_calls(self) -> None:
        """Reset call counters (fault call numbers restart at 1) and the call log."""
        with self.lock:
            self.calls.clear()
            self.throttled.clear()
            self.call_log.clear()

    def count_call(self, endpoint: str) -> int:
        """Count a call to ``endpoint`` and return its 1-based number."""
        with self.lock:
            self.calls[endpoint] += 1
            return self.calls[endpoint]

    def mark(
        self,
        resource: str,
        items: list[tuple[int, str, str | None]],
        fails: Callable[[int], bool],
    ) -> list[dict[str, Any]]:
        """Mark ``(id, system_id, note)`` items; returns one outcome dict per item.

        Raises:
            MarkViolation: the ``before_mark`` hook raised (nothing is marked).
            ConflictError: ``mark_conflict_status`` is set and an item is already marked.
        """
        name = resource_name(resource)
        id_key = ID_KEYS[name]
        with self.lock:
            store = self.resources[name]
            conflict = self.config.mark_conflict_status
            if conflict is not None:
                for doc_id, system_id, _ in items:
                    if doc_id in store.marks.get(system_id, {}):
                        raise ConflictError(
                            f"{SINGULAR[name]} {doc_id} is already exported to {system_id}.",
                            conflict,
                        )
            plan: list[str] = []
            for doc_id, _, _ in items:
                if not store.exists(doc_id):
                    plan.append("not_found")
                elif fails(doc_id):
                    plan.append("temporarily_unavailable")
                else:
                    plan.append("exported")
        hook = self.before_mark
        if hook is not None:
            groups: dict[str, list[int]] = {}
            for (doc_id, system_id, _), outcome in zip(items, plan, strict=True):
                if outcome == "exported":
                    groups.setdefault(system_id, []).append(doc_id)
            for system_id, ids in groups.items():
                try:
                    hook(name, system_id, ids)
                except Exception as exc:
                    message = f"{name} mark for {system_id} ids {ids}: {exc}"
                    with self.lock:
                        self.violations.append(message)
                    raise MarkViolation(message) from exc
        outcomes: list[dict[str, Any]] = []
        with self.lock:
            moment = self.now()
            stamp, at = format_datetime(moment), epoch_of(moment)
            for (doc_id, system_id, note), outcome in zip(items, plan, strict=True):
                result: dict[str, Any] = {id_key: doc_id, "system_id": system_id}
                if outcome == "exported":
                    store.marks.setdefault(system_id, {})[doc_id] = Mark(moment, at, note)
                    result.update(status="exported", exported_at=stamp)
                elif outcome == "not_found":
                    result.update(
                        status="error",
                        error="not_found",
                        message=f"{SINGULAR[name]} {doc_id} does not exist",
                    )
                else:
                    result.update(
                        status="error",
                        error="temporarily_unavailable",
                        message=f"{SINGULAR[name]} {doc_id} could not be marked, try again",
                    )
                outcomes.append(result)
            for system_id in {s for _, s, _ in items}:
                store.bump_marks(system_id)
        return outcomes

    def snapshot(self) -> dict[str, Any]:
        """Return counts, calls, faults, config and violations (``GET /_emulator/state``)."""
        with self.lock:
            return {
                "resources": {
                    name: {
                        "documents": len(store),
                        "edited": len(store.overrides),
                        "raw": len(store.raw),
                        "marked": {sid: len(m) for sid, m in store.marks.items()},
                    }
                    for name, store in self.resources.items()
                },
                "calls": dict(self.calls),
                "throttled": dict(self.throttled),
                "faults": self.faults.to_json(),
                "fault_spec": self.faults.to_spec(),
                "config": self.config.to_json(),
                "violations": list(self.violations),
            }
