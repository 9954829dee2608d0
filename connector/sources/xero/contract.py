"""Xero Credit Notes wire shapes (docs/apis.md §2), shared by the client and the emulator.

The TypedDicts describe what ``GET /CreditNotes`` returns with ``Accept: application/json``;
numbers arrive as ``Decimal`` (``parse_json``), dates as ``/Date(ms[±hhmm])/`` strings.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypedDict

CREDIT_NOTES_PATH = "/CreditNotes"
ROOT_KEY = "CreditNotes"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
UNIT_DP = 4

# Request headers.
TENANT_HEADER = "xero-tenant-id"
IF_MODIFIED_SINCE = "If-Modified-Since"
# Rate-limit response headers (every response) and the 429 problem header (docs/apis.md §2.5).
DAY_REMAINING = "X-DayLimit-Remaining"
MINUTE_REMAINING = "X-MinLimit-Remaining"
APP_MINUTE_REMAINING = "X-AppMinLimit-Remaining"
RATE_LIMIT_PROBLEM = "X-Rate-Limit-Problem"
RETRY_AFTER = "Retry-After"
RateLimitProblem = Literal["minute", "day", "concurrent", "appminute"]
# Pre-OAuth2 throttling answered 503 with this form-encoded body (treated as a rate limit).
LEGACY_THROTTLE_BODY = "oauth_problem=rate%20limit%20exceeded"

TYPES = ("ACCRECCREDIT", "ACCPAYCREDIT")
STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "DELETED", "VOIDED")


def format_if_modified_since(instant: datetime) -> str:
    """``If-Modified-Since`` as Xero matches it: UTC ``YYYY-MM-DDTHH:MM:SS`` (second precision).

    Naive datetimes are taken as UTC. The fraction is dropped (truncated), so the request asks
    for slightly more than needed, never less.
    """
    aware = instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%S")


_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_instant(value: Any) -> datetime | None:
    """A ``/Date(ms[±hhmm])/`` value as a UTC instant (the millis), None if it is not one."""
    match = _MS_DATE.match(value) if isinstance(value, str) else None
    return None if match is None else _EPOCH + timedelta(milliseconds=int(match.group(1)))


def updated_instant(record: Any) -> datetime | None:
    """A record's ``UpdatedDateUTC`` as a UTC instant (the millis; the offset is display only).

    None when the record has none readable: the normalizer rejects such a record, paging just
    does not key on it.
    """
    return ms_instant(record.get("UpdatedDateUTC") if isinstance(record, dict) else None)


def credit_note_id(record: Any) -> str:
    """A record's ``CreditNoteID`` as text (empty when missing)."""
    return str(record.get("CreditNoteID") or "") if isinstance(record, dict) else ""


class Pagination(TypedDict):
    """The ``pagination`` object (present when ``page`` was sent)."""

    page: int
    pageSize: int
    pageCount: int
    itemCount: int


class Contact(TypedDict, total=False):
    """The contact summary embedded in a credit note."""

    ContactID: str
    Name: str


class Tracking(TypedDict, total=False):
    """One tracking category option on a line (at most two)."""

    TrackingCategoryID: str
    TrackingOptionID: str
    Name: str
    Option: str


class LineItem(TypedDict, total=False):
    """A credit note line (docs/apis.md §2.8, LineItem)."""

    LineItemID: str
    Description: str
    Quantity: Decimal
    UnitAmount: Decimal
    ItemCode: str
    AccountCode: str
    AccountID: str
    TaxType: str
    TaxAmount: Decimal
    LineAmount: Decimal
    DiscountRate: Decimal
    DiscountAmount: Decimal
    Tracking: list[Tracking]
    Item: dict[str, Any]


class Allocation(TypedDict, total=False):
    """Part of the credit applied to an invoice."""

    AllocationID: str
    Invoice: dict[str, Any]
    Amount: Decimal
    Date: str
    IsDeleted: bool


class Payment(TypedDict, total=False):
    """A refund or payment against the credit note."""

    PaymentID: str
    Date: str
    Amount: Decimal
    Reference: str
    CurrencyRate: Decimal
    HasAccount: bool
    HasValidationErrors: bool


class CreditNote(TypedDict, total=False):
    """A credit note as listed (docs/apis.md §2.8); unknown keys are kept in ``_raw``."""

    CreditNoteID: str
    ID: str
    CreditNoteNumber: str
    Type: str
    Status: str
    Contact: Contact
    Date: str
    DateString: str
    DueDate: str
    DueDateString: str
    LineAmountTypes: str
    LineItems: list[LineItem]
    SubTotal: Decimal
    TotalTax: Decimal
    Total: Decimal
    CISDeduction: Decimal
    CISRate: Decimal
    UpdatedDateUTC: str
    CurrencyCode: str
    CurrencyRate: Decimal
    FullyPaidOnDate: str
    Reference: str
    SentToContact: bool
    RemainingCredit: Decimal
    Allocations: list[Allocation]
    AppliedAmount: Decimal
    Payments: list[Payment]
    BrandingThemeID: str
    StatusAttributeString: str
    HasAttachments: bool
    HasErrors: bool


class CreditNotesEnvelope(TypedDict, total=False):
    """The list response envelope."""

    Id: str
    Status: str
    ProviderName: str
    DateTimeUTC: str
    pagination: Pagination
    Warnings: list[dict[str, Any]]
    CreditNotes: list[CreditNote]


class ValidationErrorBody(TypedDict):
    """400 body (docs/apis.md §2.6)."""

    ErrorNumber: int
    Type: str
    Message: str
    Elements: list[dict[str, Any]]


class ProblemBody(TypedDict):
    """401/403 problem-details body of the OAuth2 era."""

    Title: str
    Status: int
    Detail: str
