"""The registry of streams: one :class:`Stream` per (source system, resource) the library loads.

Each stream names its staging header table, its child tables (lines first, then any others),
whether loaded ids are acknowledged at the source afterwards (``marks``, TRAEDE's
mark-as-exported) and the rules its reconciliation check verifies. Orchestration
(``dagster_defs``) derives its assets, table schemas and checks from here instead of repeating
the list.
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
from connector.tables.xero import (
    XERO_CHILDREN,
    XERO_CREDIT_NOTE_ALLOCATIONS,
    XERO_CREDIT_NOTE_LINES,
    XERO_CREDIT_NOTE_PAYMENTS,
    XERO_CREDIT_NOTES,
)


@dataclass(frozen=True)
class ChildSum:
    """The sum of one child-table column over a document's child rows (0 when it has none).

    ``where`` is an SQL condition on the child alias ``c`` (e.g. leave deleted rows out).
    """

    table: TableSpec
    column: str
    where: str = ""


# A term of a rule: a fixed SQL expression over the header alias ``h``, or a child sum.
Term = str | ChildSum


@dataclass(frozen=True)
class Rule:
    """One reconciliation rule: per document, ``Σ parts`` equals ``equals``.

    ``where`` (SQL on the header alias ``h``) limits the rule to the documents it holds for;
    ``require`` skips documents without rows in that child table (summary records with
    nothing itemised). All SQL here is constant text of this module, never user input.
    """

    name: str
    parts: tuple[Term, ...]
    equals: str
    where: str = ""
    require: TableSpec | None = None


@dataclass(frozen=True)
class Stream:
    """One resource of one source system and the staging tables it lands in.

    ``lines`` is the line table; ``others`` are further child tables replaced as a set with
    their document (Xero tracking, allocations, payments). ``rules`` are what the stream's
    reconciliation check verifies per document.
    """

    system: str
    resource: str
    header: TableSpec
    lines: TableSpec | None = None
    marks: bool = False
    rules: tuple[Rule, ...] = ()
    others: tuple[TableSpec, ...] = ()

    def __post_init__(self) -> None:
        if self.others and self.lines is None:
            raise ValueError(f"{self.name}: child tables need a line table first")

    @property
    def name(self) -> str:
        """``system/resource``, e.g. ``traede/invoices``."""
        return f"{self.system}/{self.resource}"

    @property
    def children(self) -> tuple[TableSpec, ...]:
        """Every child table in load order: the line table, then the others."""
        return () if self.lines is None else (self.lines, *self.others)

    @property
    def tables(self) -> tuple[TableSpec, ...]:
        """Header table, then its child tables."""
        return (self.header, *self.children)


def _traede_rules(lines: TableSpec) -> tuple[Rule, ...]:
    # docs/apis.md §1.11 (6): net + shipping + handling + VAT = total incl. VAT.
    return (
        Rule("lines = net_price", (ChildSum(lines, "total_price"),), "h.net_price"),
        Rule("lines = total_quantity", (ChildSum(lines, "quantity"),), "h.total_quantity"),
        Rule(
            "subtotal + tax = total",
            (
                "h.net_price",
                "coalesce(h.shipping, 0)",
                "coalesce(h.handling_fee, 0)",
                "h.vat_amount",
            ),
            "h.total_price_after_vat",
        ),
    )


# Allocation and refund apply to approved notes; deleted allocations and payments do not count.
_XERO_SETTLED = "h.status IN ('AUTHORISED', 'PAID')"
_XERO_RULES = (
    # Only Exclusive amounts itemise the subtotal exactly.
    Rule(
        "lines = subtotal",
        (ChildSum(XERO_CREDIT_NOTE_LINES, "line_amount"),),
        "h.sub_total",
        where="h.line_amount_types = 'Exclusive'",
        require=XERO_CREDIT_NOTE_LINES,
    ),
    Rule("subtotal + tax = total", ("h.sub_total", "h.total_tax"), "h.total"),
    Rule(
        "allocations + payments + remaining = total",
        (
            ChildSum(XERO_CREDIT_NOTE_ALLOCATIONS, "amount", "c.is_deleted IS NOT TRUE"),
            ChildSum(XERO_CREDIT_NOTE_PAYMENTS, "amount", "c.status IS DISTINCT FROM 'DELETED'"),
            "h.remaining_credit",
        ),
        "h.total",
        where=_XERO_SETTLED,
    ),
)

# A Parked credit is a draft whose amounts are not final: the vendor's own Parked example
# (docs/apis.md §3.8) has lines totalling 0 under a 10.50 subtotal and 10.50 + 2.50 = 12.50.
_UNLEASHED_DONE = "h.credit_status = 'Completed'"
_UNLEASHED_RULES = (
    Rule(
        "lines = subtotal",
        (ChildSum(UNLEASHED_CREDIT_NOTE_LINES, "line_total"),),
        "h.sub_total",
        where=_UNLEASHED_DONE,
    ),
    Rule(
        "line tax = tax",
        (ChildSum(UNLEASHED_CREDIT_NOTE_LINES, "line_tax"),),
        "h.tax_total",
        where=_UNLEASHED_DONE,
    ),
    Rule(
        "subtotal + tax = total", ("h.sub_total", "h.tax_total"), "h.total", where=_UNLEASHED_DONE
    ),
)

STREAMS: tuple[Stream, ...] = (
    Stream(
        "traede",
        "invoices",
        TRAEDE_INVOICES,
        TRAEDE_INVOICE_LINES,
        marks=True,
        rules=_traede_rules(TRAEDE_INVOICE_LINES),
    ),
    Stream(
        "traede",
        "credit_notes",
        TRAEDE_CREDIT_NOTES,
        TRAEDE_CREDIT_NOTE_LINES,
        marks=True,
        rules=_traede_rules(TRAEDE_CREDIT_NOTE_LINES),
    ),
    Stream("traede", "accounting_entries", TRAEDE_ACCOUNTING_ENTRIES, marks=True),
    Stream(
        "xero",
        "credit_notes",
        XERO_CREDIT_NOTES,
        XERO_CREDIT_NOTE_LINES,
        rules=_XERO_RULES,
        others=XERO_CHILDREN[1:],
    ),
    Stream(
        "unleashed",
        "credit_notes",
        UNLEASHED_CREDIT_NOTES,
        UNLEASHED_CREDIT_NOTE_LINES,
        rules=_UNLEASHED_RULES,
    ),
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
