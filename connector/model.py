"""Values every layer shares: what normalization yields and what a mark call returns.

These are plain frozen or simple dataclasses with no behaviour beyond small derived counts, so
the clients, the normalizers, the warehouse and the flows can exchange them without importing
one another (docs/architecture.md, "Layers").
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.tables.spec import TableSpec


@dataclass(frozen=True)
class MarkOutcome:
    """What happened to one id at the source's mark-as-exported endpoint."""

    document_id: int
    acked: bool
    attempts: int
    error: str | None = None


@dataclass(frozen=True)
class Reject:
    """One record that could not be loaded: kept with its reason, never acknowledged."""

    document_id: str | None
    field: str | None
    reason: str
    raw: str


@dataclass
class TableRows:
    """Rows for one staging table, tuples in the spec's column order."""

    spec: TableSpec
    rows: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass
class NormalizedBatch:
    """Output of normalizing one batch of raw records.

    ``keys`` are the natural keys of the accepted header rows (in ``headers`` order);
    ``children`` are line (or allocation, payment) tables whose rows replace those of the
    same parents; ``cursor`` is the largest cursor value seen among accepted records;
    ``unmapped`` counts the source keys no column maps (name -> records or lines carrying it;
    line keys read ``Lines[].Name``), rejected records included.
    """

    headers: TableRows
    children: list[TableRows] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    keys: list[Any] = field(default_factory=list)
    cursor: datetime | None = None
    unmapped: dict[str, int] = field(default_factory=dict)

    @property
    def line_count(self) -> int:
        """Number of child rows in the batch."""
        return sum(len(c.rows) for c in self.children)
