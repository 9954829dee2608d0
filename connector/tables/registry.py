"""The registry of streams: one :class:`Stream` per (source system, resource) the library loads.

Each stream names its staging header table, its line table (if any), whether loaded ids are
acknowledged at the source afterwards (``marks``, TRAEDE's mark-as-exported) and which header
totals its lines must sum to. Orchestration (``dagster_defs``) derives its assets, table
schemas and checks from here instead of repeating the list.
"""

from dataclasses import dataclass

from connector.tables.spec import TableSpec
from connector.tables.traede import (
    TRAEDE_ACCOUNTING_ENTRIES,
    TRAEDE_CREDIT_NOTE_LINES,
    TRAEDE_CREDIT_NOTES,
    TRAEDE_INVOICE_LINES,
    TRAEDE_INVOICES,
)
from connector.tables.unleashed import UNLEASHED_CREDIT_NOTE_LINES, UNLEASHED_CREDIT_NOTES
from connector.tables.xero import XERO_CREDIT_NOTE_LINES, XERO_CREDIT_NOTES


@dataclass(frozen=True)
class LineTotals:
    """Header totals that equal the sum of a line column, per document.

    ``pairs`` are (header column, line column). ``where`` is an SQL condition on the header
    (alias ``h``) limiting the rule to the documents it holds for; ``require_lines`` skips
    documents without lines (summary records with nothing to compare).
    """

    pairs: tuple[tuple[str, str], ...]
    where: str = ""
    require_lines: bool = False


@dataclass(frozen=True)
class Stream:
    """One resource of one source system and the staging tables it lands in."""

    system: str
    resource: str
    header: TableSpec
    lines: TableSpec | None = None
    marks: bool = False
    totals: LineTotals | None = None

    def __post_init__(self) -> None:
        if self.totals is not None and self.lines is None:
            raise ValueError(f"{self.name}: line totals need a line table")

    @property
    def name(self) -> str:
        """``system/resource``, e.g. ``traede/invoices``."""
        return f"{self.system}/{self.resource}"

    @property
    def tables(self) -> tuple[TableSpec, ...]:
        """Header table, then the line table if there is one."""
        return (self.header,) if self.lines is None else (self.header, self.lines)


_TRAEDE_TOTALS = LineTotals((("net_price", "total_price"), ("total_quantity", "quantity")))

STREAMS: tuple[Stream, ...] = (
    Stream(
        "traede",
        "invoices",
        TRAEDE_INVOICES,
        TRAEDE_INVOICE_LINES,
        marks=True,
        totals=_TRAEDE_TOTALS,
    ),
    Stream(
        "traede",
        "credit_notes",
        TRAEDE_CREDIT_NOTES,
        TRAEDE_CREDIT_NOTE_LINES,
        marks=True,
        totals=_TRAEDE_TOTALS,
    ),
    Stream("traede", "accounting_entries", TRAEDE_ACCOUNTING_ENTRIES, marks=True),
    Stream(
        "xero",
        "credit_notes",
        XERO_CREDIT_NOTES,
        XERO_CREDIT_NOTE_LINES,
        # Only Exclusive amounts itemise the subtotal exactly.
        totals=LineTotals(
            (("sub_total", "line_amount"),),
            where="h.line_amount_types = 'Exclusive'",
            require_lines=True,
        ),
    ),
    Stream("unleashed", "credit_notes", UNLEASHED_CREDIT_NOTES, UNLEASHED_CREDIT_NOTE_LINES),
)

SYSTEMS: tuple[str, ...] = tuple(dict.fromkeys(s.system for s in STREAMS))


def streams(system: str | None = None) -> tuple[Stream, ...]:
    """The streams of ``system`` in registry order (every stream when ``system`` is None)."""
    if system is None:
        return STREAMS
    if system not in SYSTEMS:
        raise KeyError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")
    return tuple(s for s in STREAMS if s.system == system)


def stream(system: str, resource: str) -> Stream:
    """The stream of ``resource`` at ``system``."""
    for found in streams(system):
        if found.resource == resource:
            return found
    known = ", ".join(s.resource for s in streams(system))
    raise KeyError(f"unknown {system} resource {resource!r}; known: {known}")


def resources(system: str) -> tuple[str, ...]:
    """Resource names of ``system`` in registry order."""
    return tuple(s.resource for s in streams(system))
