"""Paging guards of an export pass: which ids steer paging, and the pass's counters.

Ids ascend across pages (the export is ordered by id), which is what the loop and cap checks in
``TraedeClient.export_pages`` rely on: an O(1) check, whatever the size of the backlog.
"""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_ID_MIN, _ID_MAX = -(2**63), 2**63 - 1  # staging ids are bigint


@dataclass
class PageStats:
    """Counters of one export pass."""

    pages: int = 0
    documents: int = 0
    warnings: list[str] = field(default_factory=list)


def doc_id(record: Any) -> int | None:
    """The record's id if it can be one: an int within bigint.

    Anything else is left to normalization to reject and must not steer paging (a huge id
    would make every later document look already received and end the pass).
    """
    value = record.get("id") if isinstance(record, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and _ID_MIN <= value <= _ID_MAX:
        return value
    return None


def after(record: Any, last_id: int | None) -> bool:
    """Whether ``record`` is new in this pass (records without a usable id count as new)."""
    value = doc_id(record)
    return last_id is None or value is None or value > last_id


def id_of(record: Any) -> Any:
    """The raw ``id`` value, whatever its type (for page fingerprints)."""
    return record.get("id") if isinstance(record, dict) else None


def advances(record: Any, last_id: int | None) -> bool:
    """Whether ``record`` has a usable id above ``last_id`` (the pass makes progress)."""
    value = doc_id(record)
    return value is not None and (last_id is None or value > last_id)


def max_id(records: list[Any], last_id: int | None) -> int | None:
    """The highest usable id among ``records`` and ``last_id``."""
    ids = [i for i in map(doc_id, records) if i is not None]
    if not ids:
        return last_id
    top = max(ids)
    return top if last_id is None else max(top, last_id)


def chunks(records: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """Cut a record stream into lists of ``size``."""
    while True:
        chunk = list(itertools.islice(records, size))
        if not chunk:
            return
        yield chunk
