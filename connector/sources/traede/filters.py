"""A small typed builder for TRAEDE's ``filter_groups`` (Bruno syntax, docs/apis.md §1.4).

Encodes to the PHP/Laravel bracket notation as a flat list of query pairs::

    filter_groups[0][filters][0][key]=updated_at
    filter_groups[0][filters][0][value]=2024-05-01 00:00:00
    filter_groups[0][filters][0][operator]=gte
    filter_groups[0][or]=false

Only ``created_at`` and ``updated_at`` are filterable on the export endpoints. Beware Bruno's
negation quirk: ``not`` + ``gt`` means ``<`` (not ``<=``); prefer the positive operator.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Operator = Literal["eq", "gt", "gte", "lt", "lte", "bt"]
FILTERABLE = ("created_at", "updated_at")


def format_utc(value: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC, the format TRAEDE documents (naive means UTC)."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Filter:
    """One condition: ``key operator value`` (``bt`` takes two values)."""

    key: str
    operator: Operator
    value: datetime | tuple[datetime, datetime]
    negate: bool = False

    def __post_init__(self) -> None:
        if self.key not in FILTERABLE:
            raise ValueError(f"cannot filter exports on {self.key!r}; use one of {FILTERABLE}")
        if (self.operator == "bt") != isinstance(self.value, tuple):
            raise ValueError("operator 'bt' takes a (start, end) pair; the others one datetime")


@dataclass(frozen=True)
class FilterGroup:
    """Filters combined with AND (or OR when ``any_of``); groups are ANDed together."""

    filters: tuple[Filter, ...]
    any_of: bool = False


def encode_filter_groups(groups: Sequence[FilterGroup]) -> list[tuple[str, str]]:
    """The bracket-notation query pairs for ``groups``."""
    pairs: list[tuple[str, str]] = []
    for g, group in enumerate(groups):
        for f, flt in enumerate(group.filters):
            base = f"filter_groups[{g}][filters][{f}]"
            pairs.append((f"{base}[key]", flt.key))
            if isinstance(flt.value, tuple):
                pairs.append((f"{base}[value][0]", format_utc(flt.value[0])))
                pairs.append((f"{base}[value][1]", format_utc(flt.value[1])))
            else:
                pairs.append((f"{base}[value]", format_utc(flt.value)))
            pairs.append((f"{base}[operator]", flt.operator))
            if flt.negate:
                pairs.append((f"{base}[not]", "true"))
        pairs.append((f"filter_groups[{g}][or]", "true" if group.any_of else "false"))
    return pairs
