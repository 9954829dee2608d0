"""Unleashed wire contract (docs/apis.md §3): page envelope, record shapes, query signing.

Shared by the client and the emulator so both sign and encode the query string the same way.
"""

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict
from urllib.parse import quote

SYSTEM = "unleashed"
ENDPOINT = "credit_notes"
CREDIT_NOTES_PATH = "/CreditNotes"
DEFAULT_PAGE_SIZE = 200
MAX_PAGE_SIZE = 1000
# Real clients send a full UTC timestamp; whether the time part is honoured is a [GAP]
# (docs/apis.md §3.2), hence the overlap on the cursor.
MODIFIED_SINCE_FORMAT = "%Y-%m-%dT%H:%M:%S"
AUTH_HINT = (
    "Check UNLEASHED_API_ID and UNLEASHED_API_KEY (Integration > Unleashed API Access, "
    "account owner only); Unleashed answers 403 when the signature made with the key is wrong"
)


class Pagination(TypedDict):
    """The ``Pagination`` object of every list response."""

    NumberOfItems: int
    PageSize: int
    PageNumber: int
    NumberOfPages: int


class CreditNotePage(TypedDict):
    """``GET /CreditNotes/{page}``: the envelope around one page of credit notes."""

    Pagination: Pagination
    Items: list[dict[str, Any]]


class CreditLine(TypedDict, total=False):
    """One element of ``CreditLines`` (field names from the vendor's JSON example)."""

    LineNumber: int
    LineType: str | None
    Product: dict[str, Any]
    OrderQuantity: Any
    UnitPrice: Any
    CreditQuantity: Any
    CreditPrice: Any
    LineTotal: Any
    Comments: str | None
    TaxRate: Any
    LineTax: Any
    XeroTaxCode: str | None
    LineTaxCode: str | None
    XeroSalesAccount: str | None
    Reason: str | None
    Return: bool
    Disassemble: bool
    SerialNumbers: list[dict[str, Any]]
    PendingSerialNumbers: list[dict[str, Any]]
    PendingBatchNumbers: list[dict[str, Any]]
    BatchNumbers: list[dict[str, Any]]
    Guid: str
    LastModifiedOn: str


class CreditNote(TypedDict, total=False):
    """One credit note. The vendor's example has no header ``Guid``: ``CreditNumber`` is the key."""

    CreditNumber: str
    CreditDate: str | None
    SalesInvoiceDate: str | None
    RequiredDeliveryDate: str | None
    Reference: str | None
    Warehouse: dict[str, Any] | None
    Customer: dict[str, Any] | None
    CreditStatus: str
    Currency: dict[str, Any] | None
    Total: Any
    InvoiceNumber: str | None
    ReferenceNumber: str | None
    CreditLines: list[CreditLine]
    Comments: str | None
    TaxRate: Any
    XeroTaxCode: str | None
    TaxTotal: Any
    SubTotal: Any
    Tax: dict[str, Any] | None
    LastModifiedBy: str | None
    LastModifiedOn: str
    CreatedBy: str | None
    CreatedOn: str | None
    SalesOrder: dict[str, Any] | None
    Guid: str


def encode_value(value: str) -> str:
    """Percent-encode a query value: everything but RFC 3986 unreserved characters.

    ``:`` becomes ``%3A``. What matters is that the exact string signed is the one sent.
    """
    return quote(value, safe="")


def build_query(params: Sequence[tuple[str, str]]) -> str:
    """The query string (no ``?``) in the given parameter order, encoded by :func:`encode_value`."""
    return "&".join(f"{encode_value(k)}={encode_value(v)}" for k, v in params)


def sign(query: str, api_key: str) -> str:
    """``base64(HMAC-SHA256(key=api_key, msg=query))``: the ``api-auth-signature`` header.

    ``query`` is the query string exactly as sent, without ``?`` (empty when there is none).
    """
    digest = hmac.new(api_key.encode(), query.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def format_modified_since(value: datetime) -> str:
    """``modifiedSince`` as ``YYYY-MM-DDTHH:MM:SS`` in UTC (the API wants UTC)."""
    return value.astimezone(UTC).strftime(MODIFIED_SINCE_FORMAT)


def to_ms_date(value: datetime) -> str:
    """An aware datetime as ``/Date(ms)/`` (UTC epoch milliseconds, no offset)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    delta = value - epoch
    millis = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return f"/Date({millis})/"
