"""Xero credit notes -> rows of ``staging.xero_credit_notes`` and its child tables.

Children, in ``XERO_CHILDREN`` order: line items, their Tracking entries, the Allocations and
the Payments of the header (each array element one row, ``position`` 1-based in the array).

Pure: standard library, the shared values and the table specs only; ``loaded_at`` comes from
the caller. A record that does not fit becomes a :class:`Reject` naming the field and value.
``/Date(ms±hhmm)/`` instants are the millis in UTC (the offset is ignored); date-only fields
are converted in UTC (docs/apis.md §2.7).
"""

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connector.model import NormalizedBatch
from connector.normalize.batch import collect_children
from connector.normalize.common import (
    FieldError,
    check_duplicates,
    line_list,
    ms_date_to_date,
    ms_date_to_utc,
    to_bool,
    to_decimal,
    to_json_text,
    to_text,
)
from connector.normalize.drift import MappedKeys
from connector.tables.xero import XERO_CHILDREN, XERO_CREDIT_NOTES

_KEY = "CreditNoteID"
# The keys _rows and _line read (keep in step with them): anything else is schema drift.
MAPPED = MappedKeys.of(
    (
        "CreditNoteID", "UpdatedDateUTC", "Contact", "CreditNoteNumber", "Type", "Status", "Date",
        "DueDate", "LineAmountTypes", "SubTotal", "TotalTax", "Total", "CISDeduction", "CISRate",
        "CurrencyCode", "CurrencyRate", "FullyPaidOnDate", "Reference", "SentToContact",
        "RemainingCredit", "AppliedAmount", "BrandingThemeID", "HasAttachments", "HasErrors",
        "StatusAttributeString", "Allocations", "Payments",
    ),
    "LineItems",
    (
        "LineItemID", "Description", "Quantity", "UnitAmount", "ItemCode", "AccountCode",
        "AccountID", "TaxType", "TaxAmount", "LineAmount", "DiscountRate", "DiscountAmount",
        "Tracking", "Item",
    ),
)  # fmt: skip


def normalize_credit_notes(
    records: list[dict[str, Any]], loaded_at: datetime, run_id: str, *, tenant_id: str = ""
) -> NormalizedBatch:
    """Turn one page of raw credit notes into staging rows, child rows and rejects.

    A CreditNoteID repeated within the batch keeps the last occurrence (if that one is invalid,
    the id is rejected). ``batch.keys`` are the accepted ids; ``batch.cursor`` is the largest
    ``UpdatedDateUTC`` among them.

    Args:
        records: raw records as the client yields them (numbers as Decimal).
        loaded_at: the run's start time, stored in ``_loaded_at``.
        run_id: the run id, stored in ``_run_id``.
        tenant_id: the Xero organisation the page came from ('' for a custom connection).
    """
    return collect_children(
        records,
        XERO_CREDIT_NOTES,
        XERO_CHILDREN,
        _KEY,
        lambda record: _rows(record, loaded_at, run_id, tenant_id),
        fold=str.lower,
        mapped=MAPPED,
    )


def to_uuid(value: Any, name: str) -> str:
    """A required UUID as canonical lower-case text."""
    text = to_text(value, name, nullable=False)
    assert text is not None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise FieldError(name, value, "is not a UUID") from None


def _object(value: Any, name: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FieldError(name, value, "expected an object")
    check_duplicates(value, f"{name}.")
    return value


def _array_json(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise FieldError(name, value, "expected a list")
    return to_json_text(value, name)


Rows = list[tuple[Any, ...]]


def _rows(
    record: Any, loaded_at: datetime, run_id: str, tenant_id: str
) -> tuple[tuple[Any, ...], tuple[Rows, Rows, Rows, Rows], datetime]:
    if not isinstance(record, Mapping):
        raise FieldError("(record)", record, "expected a JSON object")
    check_duplicates(record, "")
    r = record
    credit_note_id = to_uuid(r.get(_KEY), _KEY)
    updated = ms_date_to_utc(r.get("UpdatedDateUTC"), "UpdatedDateUTC", nullable=False)
    assert updated is not None
    contact = _object(r.get("Contact"), "Contact")
    header = (
        credit_note_id,
        tenant_id,
        to_text(r.get("CreditNoteNumber"), "CreditNoteNumber"),
        to_text(r.get("Type"), "Type"),
        to_text(r.get("Status"), "Status"),
        to_text(contact.get("ContactID"), "Contact.ContactID") if contact else None,
        to_text(contact.get("Name"), "Contact.Name") if contact else None,
        ms_date_to_date(r.get("Date"), "Date"),
        ms_date_to_date(r.get("DueDate"), "DueDate"),
        to_text(r.get("LineAmountTypes"), "LineAmountTypes"),
        to_decimal(r.get("SubTotal"), "SubTotal"),
        to_decimal(r.get("TotalTax"), "TotalTax"),
        to_decimal(r.get("Total"), "Total"),
        to_decimal(r.get("CISDeduction"), "CISDeduction"),
        to_decimal(r.get("CISRate"), "CISRate"),
        updated,
        to_text(r.get("CurrencyCode"), "CurrencyCode"),
        to_decimal(r.get("CurrencyRate"), "CurrencyRate"),
        ms_date_to_date(r.get("FullyPaidOnDate"), "FullyPaidOnDate"),
        to_text(r.get("Reference"), "Reference"),
        to_bool(r.get("SentToContact"), "SentToContact"),
        to_decimal(r.get("RemainingCredit"), "RemainingCredit"),
        to_decimal(r.get("AppliedAmount"), "AppliedAmount"),
        to_text(r.get("BrandingThemeID"), "BrandingThemeID"),
        to_bool(r.get("HasAttachments"), "HasAttachments"),
        to_bool(r.get("HasErrors"), "HasErrors"),
        to_text(r.get("StatusAttributeString"), "StatusAttributeString"),
        None if contact is None else to_json_text(contact, "Contact"),
        _array_json(r.get("Allocations"), "Allocations"),
        _array_json(r.get("Payments"), "Payments"),
        to_json_text({k: v for k, v in r.items() if k != "LineItems"}, "_raw"),
        loaded_at,
        run_id,
    )
    tail = (loaded_at, run_id)
    lines: Rows = []
    tracking: Rows = []
    for number, item in enumerate(line_list(r, "LineItems"), start=1):
        line, entries = _line(credit_note_id, number, item, loaded_at, run_id)
        lines.append(line)
        tracking += [(credit_note_id, number, *entry, *tail) for entry in entries]
    allocations = [
        (credit_note_id, position, *_allocation(a, f"Allocations[{position}]"), *tail)
        for position, a in enumerate(line_list(r, "Allocations"), start=1)
    ]
    payments = [
        (credit_note_id, position, *_payment(p, f"Payments[{position}]"), *tail)
        for position, p in enumerate(line_list(r, "Payments"), start=1)
    ]
    return header, (lines, tracking, allocations, payments), updated


def _line(
    credit_note_id: str, number: int, item: Any, loaded_at: datetime, run_id: str
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    where = f"LineItems[{number}]"
    line = _object(item, where)
    if line is None:
        raise FieldError(where, item, "expected an object")
    tracking = line.get("Tracking")
    if tracking is not None and not isinstance(tracking, list):
        raise FieldError(f"{where}.Tracking", tracking, "expected a list")
    item_obj = _object(line.get("Item"), f"{where}.Item")
    entries = [
        _tracking(entry, f"{where}.Tracking[{position}]", position)
        for position, entry in enumerate(tracking or [], start=1)
    ]
    row = (
        credit_note_id,
        number,
        to_text(line.get("LineItemID"), f"{where}.LineItemID"),
        to_text(line.get("Description"), f"{where}.Description"),
        to_decimal(line.get("Quantity"), f"{where}.Quantity"),
        to_decimal(line.get("UnitAmount"), f"{where}.UnitAmount"),
        to_text(line.get("ItemCode"), f"{where}.ItemCode"),
        to_text(line.get("AccountCode"), f"{where}.AccountCode"),
        to_text(line.get("AccountID"), f"{where}.AccountID"),
        to_text(line.get("TaxType"), f"{where}.TaxType"),
        to_decimal(line.get("TaxAmount"), f"{where}.TaxAmount"),
        to_decimal(line.get("LineAmount"), f"{where}.LineAmount"),
        to_decimal(line.get("DiscountRate"), f"{where}.DiscountRate"),
        to_decimal(line.get("DiscountAmount"), f"{where}.DiscountAmount"),
        None if tracking is None else to_json_text(tracking, f"{where}.Tracking"),
        None if item_obj is None else to_json_text(item_obj, f"{where}.Item"),
        to_json_text(line, f"{where}._raw"),
        loaded_at,
        run_id,
    )
    return row, entries


def _tracking(value: Any, where: str, position: int) -> tuple[Any, ...]:
    """(position, category id, option id, name, option, _raw) of one Tracking entry."""
    entry = _object(value, where)
    if entry is None:
        raise FieldError(where, value, "expected an object")
    return (
        position,
        to_text(entry.get("TrackingCategoryID"), f"{where}.TrackingCategoryID"),
        to_text(entry.get("TrackingOptionID"), f"{where}.TrackingOptionID"),
        to_text(entry.get("Name"), f"{where}.Name"),
        to_text(entry.get("Option"), f"{where}.Option"),
        to_json_text(entry, where),
    )


def _allocation(value: Any, where: str) -> tuple[Any, ...]:
    """The columns of one Allocation after the parent key and position, through ``_raw``."""
    allocation = _object(value, where)
    if allocation is None:
        raise FieldError(where, value, "expected an object")
    invoice = _object(allocation.get("Invoice"), f"{where}.Invoice")
    return (
        to_text(allocation.get("AllocationID"), f"{where}.AllocationID"),
        to_decimal(allocation.get("Amount"), f"{where}.Amount"),
        ms_date_to_date(allocation.get("Date"), f"{where}.Date"),
        to_text(invoice.get("InvoiceID"), f"{where}.Invoice.InvoiceID") if invoice else None,
        to_text(invoice.get("InvoiceNumber"), f"{where}.Invoice.InvoiceNumber")
        if invoice
        else None,
        to_bool(allocation.get("IsDeleted"), f"{where}.IsDeleted"),
        to_json_text(allocation, where),
    )


def _payment(value: Any, where: str) -> tuple[Any, ...]:
    """The columns of one Payment after the parent key and position, through ``_raw``."""
    payment = _object(value, where)
    if payment is None:
        raise FieldError(where, value, "expected an object")
    return (
        to_text(payment.get("PaymentID"), f"{where}.PaymentID"),
        ms_date_to_date(payment.get("Date"), f"{where}.Date"),
        to_decimal(payment.get("Amount"), f"{where}.Amount"),
        to_decimal(payment.get("BankAmount"), f"{where}.BankAmount"),
        to_decimal(payment.get("CurrencyRate"), f"{where}.CurrencyRate"),
        to_text(payment.get("Reference"), f"{where}.Reference"),
        to_text(payment.get("Status"), f"{where}.Status"),
        to_text(payment.get("PaymentType"), f"{where}.PaymentType"),
        to_bool(payment.get("IsReconciled"), f"{where}.IsReconciled"),
        ms_date_to_utc(payment.get("UpdatedDateUTC"), f"{where}.UpdatedDateUTC"),
        to_json_text(payment, where),
    )
