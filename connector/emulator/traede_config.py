"""Behaviour switches of the TRAEDE emulator for the points APIS.md leaves open."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

ORDERS = ("id", "desc", "shuffled")


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
        honour_page: False answers every page as page 0 (``limit`` still honoured): a server
            that ignores ``page``.
        order: the order export pages list documents in: ``id`` (ascending), ``desc``
            (newest first) or ``shuffled`` (a permutation fixed by the data seed). The docs
            promise none of them.
        mark_in_flight_limit: when set, a mark call arriving while this many are being
            answered gets a 429 with ``Retry-After`` (a server that limits concurrency).
        mark_retry_after_ms: the ``Retry-After`` of that 429, in milliseconds.
    """

    paged: bool = True
    default_limit: int = 20
    max_limit: int = 60
    page_cap: int | None = None
    mark_conflict_status: int | None = None
    honour_not_exported_since: bool = True
    max_mark_items: int = 10
    honour_page: bool = True
    order: str = "id"
    mark_in_flight_limit: int | None = None
    mark_retry_after_ms: int = 1000

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply ``changes``; raises ValueError on an unknown key or a wrongly typed value."""
        types = {f.name: f.type for f in fields(self)}
        for key, value in changes.items():
            if key not in types:
                raise ValueError(f"unknown config key {key!r}; known: {sorted(types)}")
            if key == "order":
                if value not in ORDERS:
                    raise ValueError(f"config order must be one of {', '.join(ORDERS)}")
                continue
            nullable = key in ("page_cap", "mark_conflict_status", "mark_in_flight_limit")
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
