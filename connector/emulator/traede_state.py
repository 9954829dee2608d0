"""In-memory state of the TRAEDE emulator: documents, export marks per system_id, calls.

Generated documents are rebuilt on demand from the seed; edited, added and raw documents
live in dicts beside them. Export selection avoids work proportional to the whole dataset:
per ``(system_id, include_non_booked)`` it remembers how far the prefix of ineligible
(marked, or draft) documents reaches, and per query it remembers where the last page ended,
so paging forward and re-reading after marks both cost about one page.
"""

import bisect
import copy
import threading
from array import array
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from connector.emulator.faults import FaultPlan
from connector.emulator.traede_data import (
    RESOURCES,
    GeneratedDocuments,
    TraedeDataset,
    document_is_draft,
    document_meta,
)
from connector.emulator.traede_query import ExportQuery, epoch_of, timestamp_of

PATH_RESOURCES: dict[str, str] = {
    "invoices": "invoices",
    "credit-notes": "credit_notes",
    "accounting-entries": "accounting_entries",
}
ID_KEYS: dict[str, str] = {
    "invoices": "invoice_id",
    "credit_notes": "credit_note_id",
    "accounting_entries": "accounting_entry_id",
}
SINGULAR: dict[str, str] = {
    "invoices": "invoice",
    "credit_notes": "credit note",
    "accounting_entries": "accounting entry",
}
BeforeMark = Callable[[str, str, list[int]], None]


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Serialise to JSON bytes; Decimals are written as exact JSON numbers (``12.50``)."""
    return orjson.dumps(value, default=_default)


def format_datetime(moment: datetime) -> str:
    """Format an aware datetime as TRAEDE's ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def resource_name(name: str) -> str:
    """Map ``credit-notes`` or ``credit_notes`` to ``credit_notes``; raises KeyError if unknown."""
    resource = PATH_RESOURCES.get(name, name)
    if resource not in RESOURCES:
        raise KeyError(name)
    return resource


@dataclass
class Mark:
    """One export mark of a document for one system_id."""

    exported_at: datetime
    at: float
    note: str | None


@dataclass(frozen=True)
class RawDocument:
    """A document served verbatim; status and timestamps drive filtering and marking."""

    text: bytes
    status: str | None
    created_at: float | None
    updated_at: float | None


@dataclass
class TraedeConfig:
    """Behaviour switches for the points APIS.md leaves open.

    Attributes:
        paged: honour ``page``/``limit`` (default limit ``default_limit``); False returns all.
        default_limit: ``limit`` when none is given.
        max_limit: larger limits are a 422.
        page_cap: pages never hold more than this (offset = page * min(limit, cap)).
        mark_conflict_status: when set, re-marking an already marked id answers this status.
        honour_not_exported_since: False ignores ``not_exported_since``.
        max_mark_items: more items in one mark call are a 422.
    """

    paged: bool = True
    default_limit: int = 20
    max_limit: int = 60
    page_cap: int | None = None
    mark_conflict_status: int | None = None
    honour_not_exported_since: bool = True
    max_mark_items: int = 10

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``changes``; raises ValueError on an unknown key or a wrongly typed value."""
        types = {f.name: f.type for f in fields(self)}
        for key, value in changes.items():
            if key not in types:
                raise ValueError(f"unknown config key {key!r}; known: {sorted(types)}")
            nullable = key in ("page_cap", "mark_conflict_status")
            wanted = bool if types[key] is bool else int
            ok = (value is None and nullable) or (
                isinstance(value, wanted) and (wanted is bool or not isinstance(value, bool))
            )
            if not ok:
                raise ValueError(f"config {key} must be {wanted.__name__}, got {value!r}")
        for key, value in changes.items():
            setattr(self, key, value)

    def to_json(self) -> dict[str, Any]:
        """Return the switches as a dict."""
        return asdict(self)


class MarkViolation(Exception):
    """The ``before_mark`` hook refused a mark call."""


class ResourceStore:
    """The documents and marks of one resource."""

    def __init__(self, generated: GeneratedDocuments, cache_size: int) -> None:
        self.name = generated.resource
        self.generated = generated
        self.has_status = self.name != "accounting_entries"
        self.ids = array("q", range(generated.first_id, generated.first_id + generated.size))
        self.overrides: dict[int, dict[str, Any]] = {}
        self._override_meta: dict[int, tuple[bool, float | None, float | None]] = {}
        self.raw: dict[int, RawDocument] = {}
        self.marks: dict[str, dict[int, Mark]] = {}
        self._mark_versions: Counter[str] = Counter()
        self._version = 0
        self._hints: dict[tuple[str, bool], int] = {}
        self._cursors: dict[tuple[Any, ...], tuple[tuple[int, int], int, int]] = {}
        self._cache: OrderedDict[tuple[int, bool], bytes] = OrderedDict()
        self._cache_size = cache_size

    def __len__(self) -> int:
        return len(self.ids)

    def exists(self, doc_id: int) -> bool:
        """Whether a document with ``doc_id`` exists."""
        return (
            doc_id in self.overrides
            or doc_id in self.raw
            or self.generated.index_of(doc_id) is not None
        )

    def _is_draft(self, doc_id: int) -> bool:
        meta = self._override_meta.get(doc_id)
        if meta is not None:
            return meta[0]
        raw = self.raw.get(doc_id)
        if raw is not None:
            return raw.status == "draft"
        index = doc_id - self.generated.first_id
        return document_is_draft(self.name, self.generated.seed, index)

    def _times(self, doc_id: int) -> tuple[float | None, float | None]:
        meta = self._override_meta.get(doc_id)
        if meta is not None:
            return meta[1], meta[2]
        raw = self.raw.get(doc_id)
        if raw is not None:
            return raw.created_at, raw.updated_at
        generated = document_meta(self.name, self.generated.seed, doc_id - self.generated.first_id)
        return generated.created_at, generated.updated_at

    def document(self, doc_id: int) -> dict[str, Any] | None:
        """Return a copy of the parsed document (None for raw or unknown ids)."""
        if doc_id in self.overrides:
            return copy.deepcopy(self.overrides[doc_id])
        index = self.generated.index_of(doc_id)
        if index is None or doc_id in self.raw:
            return None
        return self.generated[index]

    def _changed(self, doc_id: int) -> None:
        known = doc_id in self.overrides or doc_id in self.raw
        if not known and self.generated.index_of(doc_id) is None:
            bisect.insort(self.ids, doc_id)
        self._cache.pop((doc_id, True), None)
        self._cache.pop((doc_id, False), None)
        self._version += 1
        self._hints.clear()
        self._cursors.clear()

    def upsert(self, doc: Mapping[str, Any], now: str) -> int:
        """Add or edit a document by ``id``; an edit without ``updated_at`` bumps it to ``now``.

        Edits merge the given fields into the existing document.
        """
        doc_id = doc.get("id")
        if not isinstance(doc_id, int) or isinstance(doc_id, bool):
            raise ValueError("a document needs an integer 'id'")
        existing = self.document(doc_id)
        merged: dict[str, Any] = existing or {}
        merged.update(copy.deepcopy(dict(doc)))
        if existing is not None and "updated_at" not in doc:
            merged["updated_at"] = now
        merged.setdefault("created_at", now)
        merged.setdefault("updated_at", now)
        self._changed(doc_id)
        self.raw.pop(doc_id, None)
        self.overrides[doc_id] = merged
        draft = self.has_status and merged.get("status") == "draft"
        self._override_meta[doc_id] = (
            draft,
            timestamp_of(merged.get("created_at")),
            timestamp_of(merged.get("updated_at")),
        )
        return doc_id

    def add_raw(self, doc_id: int, raw: RawDocument) -> None:
        """Add or replace a verbatim document."""
        self._changed(doc_id)
        self.overrides.pop(doc_id, None)
        self._override_meta.pop(doc_id, None)
        self.raw[doc_id] = raw

    def serialized(self, doc_id: int, with_lines: bool) -> bytes:
        """Return the JSON bytes of a document, with or without ``lines`` (cached)."""
        raw = self.raw.get(doc_id)
        if raw is not None:
            return raw.text
        key = (doc_id, with_lines and self.has_status)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        doc = self.overrides.get(doc_id)
        if doc is None:
            doc = self.generated[doc_id - self.generated.first_id]
        if not key[1] and "lines" in doc:
            doc = {k: v for k, v in doc.items() if k != "lines"}
        data = dumps(doc)
        self._cache[key] = data
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return data

    def bump_marks(self, system_id: str) -> None:
        """Invalidate cached selections for ``system_id`` after its marks changed."""
        self._mark_versions[system_id] += 1

    def select(self, query: ExportQuery, offset: int, limit: int | None) -> list[int]:
        """Return the ids of the export selection from ``offset``, at most ``limit`` of them."""
        marks = self.marks.get(query.system_id, {})
        since = query.not_exported_since
        inb = query.include_non_booked or not self.has_status
        version = (self._version, self._mark_versions[query.system_id])
        base_key = (query.system_id, inb)
        hint = self._hints.get(base_key, 0) if since is None else 0
        key = (query.system_id, inb, since, query.groups)
        cursor = self._cursors.get(key)
        if cursor is not None and cursor[0] == version and cursor[1] <= offset:
            count, pos = cursor[1], max(cursor[2], hint)
        else:
            count, pos = 0, hint
        advancing = since is None and count == 0 and pos == hint
        ids, n = self.ids, len(self.ids)
        out: list[int] = []
        while pos < n and (limit is None or len(out) < limit):
            doc_id = ids[pos]
            mark = marks.get(doc_id)
            ok = mark is None or (since is not None and mark.at >= since)
            if ok and not inb:
                ok = not self._is_draft(doc_id)
            if ok:
                advancing = False
                if query.groups:
                    ok = query.passes_filters(*self._times(doc_id))
                if ok:
                    if count >= offset:
                        out.append(doc_id)
                    count += 1
            elif advancing:
                hint = pos + 1
            pos += 1
        if len(self._cursors) > 256:
            self._cursors.clear()
        self._cursors[key] = (version, count, pos)
        if since is None:
            self._hints[base_key] = hint
        return out


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

    def reset_calls(self) -> None:
        """Reset call counters (fault call numbers restart at 1) and the call log."""
        with self.lock:
            self.calls.clear()
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
                "faults": self.faults.to_json(),
                "fault_spec": self.faults.to_spec(),
                "config": self.config.to_json(),
                "violations": list(self.violations),
            }


class ConflictError(Exception):
    """A mark call hit an already marked id while ``mark_conflict_status`` is set."""

    def __init__(self, detail: str, status: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
