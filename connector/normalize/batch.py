"""Batch assembly: per-record rows of a document and its child tables, or a reject.

Pure: no I/O, no clock. Used by every source normalizer.
"""

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from connector.jsontext import raw_text
from connector.model import NormalizedBatch, Reject, TableRows
from connector.normalize.common import FieldError
from connector.normalize.drift import MappedKeys
from connector.tables.spec import TableSpec


def record_id_text(record: Any, key: str) -> str | None:
    """The record's id as text for the rejects table, whatever its type, if it has one."""
    if isinstance(record, Mapping) and key in record and record[key] is not None:
        value = record[key]
        return value if isinstance(value, str) else repr(value)
    return None


RowsOf = Callable[[Any], tuple[tuple[Any, ...], list[tuple[Any, ...]], datetime | None]]
ChildRowsOf = Callable[
    [Any], tuple[tuple[Any, ...], tuple[list[tuple[Any, ...]], ...], datetime | None]
]


def collect_batch(
    records: Sequence[Any],
    header: TableSpec,
    lines: TableSpec | None,
    key: str,
    rows_of: RowsOf,
    *,
    fold: Callable[[str], str] = str,
    mapped: MappedKeys | None = None,
) -> NormalizedBatch:
    """Assemble a batch from per-record ``rows_of(record) -> (header, lines, cursor)``.

    A key repeated within the batch keeps its last occurrence (``fold`` says which keys are
    the same, e.g. case-insensitive GUIDs); a record whose ``rows_of`` raises
    :class:`FieldError` becomes a :class:`Reject`; ``batch.cursor`` is the largest cursor;
    ``batch.unmapped`` counts the keys ``mapped`` does not name (schema drift).
    """
    children = () if lines is None else (lines,)

    def split(record: Any) -> tuple[Any, tuple[list[tuple[Any, ...]], ...], Any]:
        head, line_rows, cursor = rows_of(record)
        return head, (line_rows,) if children else (), cursor

    return collect_children(records, header, children, key, split, fold=fold, mapped=mapped)


def collect_children(
    records: Sequence[Any],
    header: TableSpec,
    children: tuple[TableSpec, ...],
    key: str,
    rows_of: ChildRowsOf,
    *,
    fold: Callable[[str], str] = str,
    mapped: MappedKeys | None = None,
) -> NormalizedBatch:
    """:func:`collect_batch` for several child tables: ``rows_of`` gives one list per child.

    A record's rows all land or none do: a :class:`FieldError` anywhere in it rejects it whole.
    """
    batch = NormalizedBatch(TableRows(header), [TableRows(c) for c in children])
    if mapped is not None:
        batch.unmapped = mapped.unmapped(records)
    for record in last_per_key(records, key, fold):
        try:
            header_row, child_rows, cursor = rows_of(record)
        except FieldError as err:
            batch.rejects.append(
                Reject(record_id_text(record, key), err.field, str(err), raw_text(record))
            )
            continue
        batch.headers.rows.append(header_row)
        for target, rows in zip(batch.children, child_rows, strict=True):
            target.rows.extend(rows)
        batch.keys.append(header_row[0])
        if cursor is not None and (batch.cursor is None or cursor > batch.cursor):
            batch.cursor = cursor
    return batch


def last_per_key(records: Sequence[Any], key: str, fold: Callable[[str], str] = str) -> list[Any]:
    """Drop earlier copies of a record's key (the last one wins); keep unkeyed records.

    Keys are strings (passed through ``fold``) or integers; any other value is left for
    normalization to reject.
    """

    def keyed(record: Any) -> str | int | None:
        value = record.get(key) if isinstance(record, Mapping) else None
        if isinstance(value, str):
            return fold(value)
        if type(value) is int:
            return value
        return None

    last = {k: i for i, k in enumerate(map(keyed, records)) if k is not None}
    return [r for i, r in enumerate(records) if (k := keyed(r)) is None or last[k] == i]
