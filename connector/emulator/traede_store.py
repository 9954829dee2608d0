"""Documents and export marks of one TRAEDE resource, and the export selection over them.

Generated documents are rebuilt on demand from the seed; edited, added and raw documents
live in dicts beside them. Export selection avoids work proportional to the whole dataset:
per ``(system_id, include_non_booked)`` it remembers how far the prefix of ineligible
(marked, or draft) documents reaches, and per query it remembers where the last page ended,
so paging forward and re-reading after marks both cost about one page.
"""

import bisect
import copy
from array import array
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.emulator.json_bytes import dumps
from connector.emulator.traede_data import document_is_draft, document_meta
from connector.emulator.traede_dataset import GeneratedDocuments
from connector.emulator.traede_query import ExportQuery, timestamp_of

_MASK = 2**64 - 1


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
        self._hints: dict[tuple[str, bool, str], int] = {}
        self._cursors: dict[tuple[Any, ...], tuple[tuple[int, int], int, int]] = {}
        self._orders: dict[str, tuple[int, array[int]]] = {}
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

    def listing(self, order: str = "id") -> "array[int]":
        """Every id in the order export pages list them (``id``, ``desc`` or ``shuffled``).

        ``shuffled`` sorts by a mix of id and seed: stable between calls, and a document added
        later lands at its own place without moving the others.
        """
        if order == "id":
            return self.ids
        cached = self._orders.get(order)
        if cached is not None and cached[0] == self._version:
            return cached[1]
        if order == "desc":
            ids = array("q", reversed(self.ids))
        elif order == "shuffled":
            salt = (self.generated.seed * 0xBF58476D1CE4E5B9) & _MASK
            ids = array(
                "q", sorted(self.ids, key=lambda i: ((i * 0x9E3779B97F4A7C15) ^ salt) & _MASK)
            )
        else:
            raise ValueError(f"unknown order {order!r}")
        self._orders[order] = (self._version, ids)
        return ids

    def select(
        self, query: ExportQuery, offset: int, limit: int | None, order: str = "id"
    ) -> list[int]:
        """Return the ids of the export selection from ``offset``, at most ``limit`` of them."""
        marks = self.marks.get(query.system_id, {})
        since = query.not_exported_since
        inb = query.include_non_booked or not self.has_status
        version = (self._version, self._mark_versions[query.system_id])
        base_key = (query.system_id, inb, order)
        hint = self._hints.get(base_key, 0) if since is None else 0
        key = (query.system_id, inb, since, query.groups, order)
        cursor = self._cursors.get(key)
        if cursor is not None and cursor[0] == version and cursor[1] <= offset:
            count, pos = cursor[1], max(cursor[2], hint)
        else:
            count, pos = 0, hint
        advancing = since is None and count == 0 and pos == hint
        ids = self.listing(order)
        n = len(ids)
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
