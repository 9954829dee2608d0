"""Wire shapes of TRAEDE's Export API (docs/apis.md §1.3, §1.8), shared by the client and emulator.

Documents are typed loosely on purpose: the client passes records through as parsed JSON and
``normalize/traede.py`` does the checking; these shapes document what is expected.
"""

from decimal import Decimal
from typing import Literal, NotRequired, TypedDict

Money = Decimal | int


class ExportLine(TypedDict):
    """An invoice or credit note line (no id of its own: position gives ``line_number``)."""

    product_id: int
    variant_id: int
    quantity: int
    price_before_discount: Money
    discount_amount: Money
    discount_percentage: Money
    net_price: Money
    vat_amount: Money
    total_price: Money
    total_price_after_vat: Money
    created_at: str
    updated_at: str
    claim_type: NotRequired[Literal["return", "claim"]]
    claim_cause_id: NotRequired[int | None]


class ExportDocument(TypedDict):
    """An invoice or credit note as exported (``lines`` only with ``includes[]=lines``)."""

    id: int
    status: Literal["draft", "booked"]
    customer_id: int
    currency: str
    net_price: Money
    vat_amount: Money
    total_price_after_vat: Money
    created_at: str
    updated_at: str
    lines: NotRequired[list[ExportLine]]


class MarkItem(TypedDict):
    """One item of a mark-as-exported body; the id key depends on the resource."""

    system_id: str
    note: str


class MarkItemResult(TypedDict):
    """One per-item outcome in the emulator's mark response (TRAEDE documents none)."""

    system_id: str
    status: Literal["exported", "error"]
    error: NotRequired[str]
    message: NotRequired[str]
    exported_at: NotRequired[str]


# Per-item error codes worth sending again in a later call (the others are final).
RETRYABLE_MARK_ERRORS = frozenset({"temporarily_unavailable", "timeout", "conflict"})
