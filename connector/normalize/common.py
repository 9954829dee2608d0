"""Shared pieces of normalization: coercions and batch assembly. Pure: no I/O, no clock.

Every coercion raises :class:`FieldError` with the field and the offending value; the source
normalizers turn that into a :class:`Reject` for the one record, never an exception for the batch.
"""

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from connector.jsontext import DUPLICATE, NonFinite, decimal_fragment, raw_text
from connector.model import NormalizedBatch, Reject, TableRows
from connector.normalize.drift import MappedKeys
from connector.tables.spec import TableSpec

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


class FieldError(ValueError):
    """A value that does not fit its column: which field, what value, why."""

    def __init__(self, field: str, value: object, why: str) -> None:
        self.field = field
        self.value = value
        self.why = why
        try:
            excerpt = repr(value)
        except RecursionError:
            excerpt = "<nested too deeply to show>"
        if len(excerpt) > 80:
            excerpt = excerpt[:77] + "..."
        super().__init__(f"{field}: {why} (got {excerpt})")


# --- coercions -------------------------------------------------------------------------------


def _refuse_null(name: str, nullable: bool) -> None:
    """JSON null is allowed where the column is nullable; elsewhere the field is required."""
    if not nullable:
        raise FieldError(name, None, "is required")


def _finite(value: Decimal, name: str) -> Decimal:
    if not value.is_finite():
        raise FieldError(name, value, "is not a finite number")
    return value


def to_decimal(value: Any, name: str, *, nullable: bool = True) -> Decimal | None:
    """A JSON number as an exact ``Decimal`` (ints widen; bools, strings and NaN are refused)."""
    if value is None:
        _refuse_null(name, nullable)
        return None
    if type(value) is Decimal:
        return _finite(value, name)
    if type(value) is int:
        return Decimal(value)
    if isinstance(value, NonFinite):
        raise FieldError(name, value, "is not a finite number")
    if isinstance(value, float):  # only reachable for callers that parsed with floats
        if not math.isfinite(value):
            raise FieldError(name, value, "is not a finite number")
        return Decimal(repr(value))
    raise FieldError(name, value, f"expected a number, got {_kind(value)}")


def to_int(
    value: Any, name: str, *, nullable: bool = True, lo: int = BIGINT_MIN, hi: int = BIGINT_MAX
) -> int | None:
    """A JSON integer within ``lo..hi`` (an integral decimal such as ``3.0`` is accepted)."""
    if value is None:
        _refuse_null(name, nullable)
        return None
    if type(value) is int:
        result = value
    elif type(value) is Decimal and value.is_finite() and value == value.to_integral_value():
        try:
            result = int(value)
        except (OverflowError, InvalidOperation):
            raise FieldError(name, value, "is out of range") from None
    else:
        raise FieldError(name, value, f"expected an integer, got {_kind(value)}")
    if not lo <= result <= hi:
        raise FieldError(name, value, f"is out of range ({lo}..{hi})")
    return result


def to_text(value: Any, name: str, *, nullable: bool = True) -> str | None:
    """A JSON string; NUL characters are refused (Postgres text cannot hold them)."""
    if value is None:
        _refuse_null(name, nullable)
        return None
    if type(value) is not str:
        raise FieldError(name, value, f"expected a string, got {_kind(value)}")
    if "\x00" in value:
        raise FieldError(name, value, "contains a NUL character, which Postgres cannot store")
    return value


def to_bool(value: Any, name: str, *, nullable: bool = True) -> bool | None:
    """A JSON boolean."""
    if value is None:
        _refuse_null(name, nullable)
        return None
    if type(value) is not bool:
        raise FieldError(name, value, f"expected true or false, got {_kind(value)}")
    return value


_TS_CACHE: dict[str, datetime] = {}


def to_utc(value: Any, name: str, *, nullable: bool = True) -> datetime | None:
    """A timestamp string as an aware UTC datetime.

    ``YYYY-MM-DD HH:MM:SS`` without a zone is UTC (TRAEDE's documented convention); ISO-8601
    with ``T``, fractions, ``Z`` or an offset is converted to UTC.
    """
    if value is None:
        _refuse_null(name, nullable)
        return None
    if type(value) is not str:
        raise FieldError(name, value, f"expected a timestamp string, got {_kind(value)}")
    cached = _TS_CACHE.get(value)
    if cached is not None:
        return cached
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if "Z" in value else value)
    except ValueError:
        raise FieldError(
            name, value, "is not a valid timestamp (want YYYY-MM-DD HH:MM:SS)"
        ) from None
    result = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if len(_TS_CACHE) > 10_000:
        _TS_CACHE.clear()
    _TS_CACHE[value] = result
    return result


def ms_date_to_utc(value: Any, name: str, *, nullable: bool = True) -> datetime | None:
    """A .NET ``/Date(ms[±hhmm])/`` value as an aware UTC instant.

    The milliseconds already are UTC; the optional offset only says which zone the sender
    displayed, so it is ignored (adding it would shift the instant, as tap-xero does).
    """
    if value is None:
        _refuse_null(name, nullable)
        return None
    if type(value) is not str:
        raise FieldError(name, value, f"expected a /Date(ms)/ string, got {_kind(value)}")
    match = _MS_DATE.match(value)
    if not match:
        raise FieldError(name, value, "is not a /Date(ms)/ value")
    millis = int(match.group(1))
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        raise FieldError(name, value, "is outside the representable date range") from None


def ms_date_to_date(value: Any, name: str, *, nullable: bool = True) -> date | None:
    """A date-only ``/Date(ms+0000)/`` value as a ``date`` (taken in UTC, never local time)."""
    instant = ms_date_to_utc(value, name, nullable=nullable)
    return None if instant is None else instant.date()


def to_json_text(value: Any, name: str) -> str:
    """Serialise a parsed JSON value back to text for a jsonb column, numbers kept exact."""
    try:
        text = orjson.dumps(value, default=decimal_fragment).decode()
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise FieldError(name, value, f"cannot be stored as JSON ({exc})") from None
    if "\\u0000" in text:
        raise FieldError(
            name, value, "contains a NUL character (\\u0000), which jsonb cannot store"
        )
    return text


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, NonFinite):
        return f"the non-finite number {value.token}"
    return type(value).__name__


def line_list(record: Mapping[str, Any], field: str) -> list[Any]:
    """The record's array of lines (absent or null: none); anything but a list is refused."""
    lines = record.get(field)
    if lines is None:
        return []
    if not isinstance(lines, list):
        raise FieldError(field, lines, "expected a list")
    return lines


def record_id_text(record: Any, key: str) -> str | None:
    """The record's id as text for the rejects table, whatever its type, if it has one."""
    if isinstance(record, Mapping) and key in record and record[key] is not None:
        value = record[key]
        return value if isinstance(value, str) else repr(value)
    return None


def check_duplicates(record: Mapping[Any, Any], where: str) -> None:
    """Refuse a record whose JSON repeated a key with different values (ambiguous data)."""
    clashes = record.get(DUPLICATE)
    if clashes:
        raise FieldError(
            f"{where}{clashes[0]}", clashes, "appears more than once with different values"
        )


RowsOf = Callable[[Any], tuple[tuple[Any, ...], list[tuple[Any, ...]], datetime | None]]


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
    batch = NormalizedBatch(TableRows(header), [TableRows(lines)] if lines is not None else [])
    if mapped is not None:
        batch.unmapped = mapped.unmapped(records)
    children = batch.children[0] if lines is not None else TableRows(header)
    for record in last_per_key(records, key, fold):
        try:
            header_row, line_rows, cursor = rows_of(record)
        except FieldError as err:
            batch.rejects.append(
                Reject(record_id_text(record, key), err.field, str(err), raw_text(record))
            )
            continue
        batch.headers.rows.append(header_row)
        children.rows.extend(line_rows)
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
