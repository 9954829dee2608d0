"""Export query parameters: system_id, not_exported_since, Bruno ``filter_groups``, paging.

Filters follow optimus/bruno (APIS.md §1.4), including its negation quirk: with ``not=true``,
``gt`` becomes ``<`` (not ``<=``) and ``lt`` becomes ``>`` (not ``>=``), so a value equal to
the bound matches neither ``gt`` nor ``not gt``. ``gte``/``lte`` negate to ``<``/``>``
(correctly), ``eq`` to ``!=`` and ``bt`` (inclusive) to "outside the range". The value
``null`` or an empty string means IS NULL (IS NOT NULL with ``not``). A comparison with a
NULL timestamp is false either way, as in SQL.
"""

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connector.emulator.brackets import parse_brackets

FILTER_KEYS = frozenset({"created_at", "updated_at"})
OPERATORS = frozenset({"eq", "gt", "gte", "lt", "lte", "bt"})
_TRUE = frozenset({"1", "true", "on", "yes"})
_FALSE = frozenset({"0", "false", "off", "no", ""})


class QueryError(Exception):
    """A request parameter is invalid; ``status`` is the HTTP status to answer with."""

    def __init__(self, detail: str, status: int = 422) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


def parse_datetime(text: str) -> float:
    """Parse ``YYYY-MM-DD HH:MM:SS`` or ISO-8601 (``T``, ``Z``, offsets) to UTC epoch seconds.

    Naive values are UTC. Raises ValueError when ``text`` is not such a datetime.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def timestamp_of(value: Any) -> float | None:
    """Return the epoch seconds of a document timestamp value, or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def epoch_of(moment: datetime) -> float:
    """Return the epoch seconds of an aware (or naive-UTC) datetime."""
    if moment.tzinfo is None:
        return calendar.timegm(moment.timetuple()) + moment.microsecond / 1e6
    return moment.timestamp()


def format_datetime(moment: datetime) -> str:
    """Format an aware datetime as TRAEDE's ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_bool(value: Any, name: str) -> bool:
    """Parse a PHP-style boolean query value (``true``/``false``/``1``/``0``)."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise QueryError(f"The {name} field must be true or false.")


@dataclass(frozen=True, slots=True)
class Filter:
    """One Bruno filter on a timestamp key; ``values`` holds 1 bound (2 for ``bt``)."""

    key: str
    operator: str
    values: tuple[float, ...] | None  # None: the value was "null" or empty (IS NULL)
    negate: bool

    def matches(self, ts: float | None) -> bool:
        """Whether a document whose ``key`` is ``ts`` passes this filter."""
        if self.values is None:
            return (ts is not None) if self.negate else (ts is None)
        if ts is None:
            return False
        op, v, neg = self.operator, self.values[0], self.negate
        if op == "eq":
            return ts != v if neg else ts == v
        if op == "gt":
            return ts < v if neg else ts > v
        if op == "gte":
            return ts < v if neg else ts >= v
        if op == "lt":
            return ts > v if neg else ts < v
        if op == "lte":
            return ts > v if neg else ts <= v
        low, high = self.values
        inside = low <= ts <= high
        return not inside if neg else inside


@dataclass(frozen=True, slots=True)
class FilterGroup:
    """Filters ANDed together, or ORed when ``any_of``."""

    filters: tuple[Filter, ...]
    any_of: bool

    def matches(self, created: float | None, updated: float | None) -> bool:
        """Whether a document with these timestamps passes the group."""
        results = (f.matches(created if f.key == "created_at" else updated) for f in self.filters)
        return any(results) if self.any_of else all(results)


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """A validated export request; hashable so selections can be cached per query."""

    system_id: str
    include_non_booked: bool
    not_exported_since: float | None
    groups: tuple[FilterGroup, ...]
    include_lines: bool

    def passes_filters(self, created: float | None, updated: float | None) -> bool:
        """Whether the groups (ANDed) accept a document with these timestamps."""
        return all(g.matches(created, updated) for g in self.groups)


def _value_bound(raw: Any, where: str) -> float:
    if not isinstance(raw, str):
        raise QueryError(f"{where} must be a datetime string.")
    try:
        return parse_datetime(raw)
    except ValueError as exc:
        raise QueryError(f"{where} is not a valid datetime: {raw!r}.") from exc


def _parse_filter(raw: Any, where: str) -> Filter:
    if not isinstance(raw, dict):
        raise QueryError(f"{where} must be an array.")
    key = raw.get("key")
    if key not in FILTER_KEYS:
        raise QueryError(f"{where}[key]: filtering by {key!r} is not allowed.")
    operator = raw.get("operator", "eq")
    if operator not in OPERATORS:
        raise QueryError(f"{where}[operator]: unsupported operator {operator!r}.")
    negate = parse_bool(raw.get("not", "false"), f"{where}[not]")
    value = raw.get("value", "")
    if value in ("null", ""):
        return Filter(key, operator, None, negate)
    if operator == "bt":
        if not isinstance(value, list) or len(value) != 2:
            raise QueryError(f"{where}[value] must hold two values for bt.")
        bounds = tuple(_value_bound(v, f"{where}[value]") for v in value)
        return Filter(key, operator, bounds, negate)
    return Filter(key, operator, (_value_bound(value, f"{where}[value]"),), negate)


def parse_filter_groups(raw: Any) -> tuple[FilterGroup, ...]:
    """Validate parsed ``filter_groups`` (bracket notation already expanded).

    A group without ``filters`` is a 500, like Bruno's uncaught InvalidArgumentException.
    """
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise QueryError("filter_groups must be an array.")
    groups = []
    for gi, group in enumerate(raw):
        if not isinstance(group, dict):
            raise QueryError(f"filter_groups[{gi}] must be an array.")
        if "filters" not in group:
            raise QueryError("An error occurred.", status=500)
        any_of = parse_bool(group.get("or", "false"), f"filter_groups[{gi}][or]")
        filters = group["filters"]
        if not isinstance(filters, list):
            raise QueryError(f"filter_groups[{gi}][filters] must be an array.")
        groups.append(
            FilterGroup(
                tuple(
                    _parse_filter(f, f"filter_groups[{gi}][filters][{fi}]")
                    for fi, f in enumerate(filters)
                ),
                any_of,
            )
        )
    return tuple(groups)


def _int_param(params: dict[str, Any], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip().lstrip("-").isdigit():
        raise QueryError(f"The {name} must be an integer.")
    return int(raw)


def parse_export_query(
    items: Sequence[tuple[str, str]], *, has_status: bool, honour_since: bool = True
) -> tuple[ExportQuery, int | None, int | None]:
    """Validate an export query string; returns the query plus raw ``page`` and ``limit``.

    Raises:
        QueryError: a parameter is missing or invalid (422, or 500 for Bruno's crash).
    """
    try:
        params = parse_brackets(items)
    except ValueError as exc:
        raise QueryError(str(exc)) from exc
    system_id = params.get("system_id")
    if not isinstance(system_id, str) or not system_id.strip():
        raise QueryError("The system id field is required.")
    include_non_booked = False
    if has_status and "include_non_booked" in params:
        include_non_booked = parse_bool(params["include_non_booked"], "include non booked")
    since: float | None = None
    raw_since = params.get("not_exported_since")
    if raw_since is not None and honour_since:
        if not isinstance(raw_since, str):
            raise QueryError("The not exported since is not a valid date.")
        try:
            since = parse_datetime(raw_since)
        except ValueError as exc:
            raise QueryError("The not exported since is not a valid date.") from exc
    includes = params.get("includes", [])
    if isinstance(includes, str):
        includes = includes.split(",")
    include_lines = isinstance(includes, list) and "lines" in includes
    groups = parse_filter_groups(params.get("filter_groups"))
    query = ExportQuery(system_id, include_non_booked, since, groups, include_lines)
    return query, _int_param(params, "page"), _int_param(params, "limit")
