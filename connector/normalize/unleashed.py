"""Unleashed credit notes -> rows of ``staging.unleashed_credit_notes`` and ``..._lines``.

Pure: standard library, the shared values and the table specs only; ``loaded_at`` comes from
the caller. A record that does not fit becomes a :class:`Reject` naming the field and value.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connector.jsontext import DUPLICATE
from connector.model import NormalizedBatch
from connector.normalize.batch import collect_batch
from connector.normalize.common import (
    INT_MAX,
    INT_MIN,
    FieldError,
    line_list,
    ms_date_to_utc,
    to_bool,
    to_decimal,
    to_int,
    to_json_text,
    to_text,
)
from connector.normalize.drift import MappedKeys
from connector.tables.unleashed import UNLEASHED_CREDIT_NOTE_LINES, UNLEASHED_CREDIT_NOTES

_KEY = "CreditNumber"
# Nested objects kept whole as jsonb: (source field, column).
_OBJECTS = (
    ("Warehouse", "warehouse"),
    ("Customer", "customer"),
    ("Currency", "currency"),
    ("Tax", "tax"),
    ("SalesOrder", "sales_order"),
)
_LINE_LISTS = (
    ("SerialNumbers", "serial_numbers"),
    ("PendingSerialNumbers", "pending_serial_numbers"),
    ("BatchNumbers", "batch_numbers"),
    ("PendingBatchNumbers", "pending_batch_numbers"),
)
# The keys _rows and _line read (keep in step with them): anything else is schema drift.
MAPPED = MappedKeys.of(
    (
        _KEY, "LastModifiedOn", *(src for src, _ in _OBJECTS), "CreditDate", "SalesInvoiceDate",
        "RequiredDeliveryDate", "Reference", "CreditStatus", "Total", "SubTotal", "TaxTotal",
        "TaxRate", "XeroTaxCode", "InvoiceNumber", "ReferenceNumber", "Comments", "Guid",
        "LastModifiedBy", "CreatedBy", "CreatedOn", "ExchangeRate", "BCSubTotal", "BCTaxTotal",
        "BCTotal",
    ),
    "CreditLines",
    (
        "LineNumber", "LineType", "Product", "OrderQuantity", "UnitPrice", "CreditQuantity",
        "CreditPrice", "LineTotal", "Comments", "TaxRate", "LineTax", "XeroTaxCode",
        "LineTaxCode", "XeroSalesAccount", "Reason", "Return", "Disassemble", "Guid",
        "LastModifiedOn", "BCUnitPrice", "BCLineTotal", "BCLineTax",
        *(src for src, _ in _LINE_LISTS),
    ),
)  # fmt: skip


def normalize_credit_notes(
    records: list[dict[str, Any]], loaded_at: datetime, run_id: str
) -> NormalizedBatch:
    """Turn one page of raw credit notes into staging rows, line rows and rejects.

    Credit numbers repeated within the batch keep the last occurrence. ``batch.keys`` are the
    accepted credit numbers; ``batch.cursor`` is the largest ``LastModifiedOn`` among them.
    """
    return collect_batch(
        records,
        UNLEASHED_CREDIT_NOTES,
        UNLEASHED_CREDIT_NOTE_LINES,
        _KEY,
        lambda record: _rows(record, loaded_at, run_id),
        mapped=MAPPED,
    )


def _rows(
    record: Any, loaded_at: datetime, run_id: str
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], datetime]:
    if not isinstance(record, Mapping):
        raise FieldError("record", record, "expected a JSON object")
    _refuse_duplicates(record, "")
    number = to_text(record.get(_KEY), _KEY, nullable=False)
    assert number is not None
    if not number.strip():
        raise FieldError(_KEY, number, "is empty")
    modified = ms_date_to_utc(record.get("LastModifiedOn"), "LastModifiedOn", nullable=False)
    assert modified is not None
    objects = {src: _object(record.get(src), src) for src, _ in _OBJECTS}
    customer, currency = objects["Customer"], objects["Currency"]
    warehouse, order = objects["Warehouse"], objects["SalesOrder"]
    row: dict[str, Any] = {
        "credit_number": number,
        "credit_date": ms_date_to_utc(record.get("CreditDate"), "CreditDate"),
        "sales_invoice_date": ms_date_to_utc(record.get("SalesInvoiceDate"), "SalesInvoiceDate"),
        "required_delivery_date": ms_date_to_utc(
            record.get("RequiredDeliveryDate"), "RequiredDeliveryDate"
        ),
        "reference": to_text(record.get("Reference"), "Reference"),
        "credit_status": to_text(record.get("CreditStatus"), "CreditStatus"),
        "total": to_decimal(record.get("Total"), "Total"),
        "sub_total": to_decimal(record.get("SubTotal"), "SubTotal"),
        "tax_total": to_decimal(record.get("TaxTotal"), "TaxTotal"),
        "tax_rate": to_decimal(record.get("TaxRate"), "TaxRate"),
        "xero_tax_code": to_text(record.get("XeroTaxCode"), "XeroTaxCode"),
        "invoice_number": to_text(record.get("InvoiceNumber"), "InvoiceNumber"),
        "reference_number": to_text(record.get("ReferenceNumber"), "ReferenceNumber"),
        "comments": to_text(record.get("Comments"), "Comments"),
        "customer_code": _sub_text(customer, "Customer", "CustomerCode"),
        "customer_name": _sub_text(customer, "Customer", "CustomerName"),
        "customer_guid": _sub_text(customer, "Customer", "Guid"),
        "currency_code": _sub_text(currency, "Currency", "CurrencyCode"),
        "warehouse_code": _sub_text(warehouse, "Warehouse", "WarehouseCode"),
        "warehouse_name": _sub_text(warehouse, "Warehouse", "WarehouseName"),
        "sales_order_number": _sub_text(order, "SalesOrder", "OrderNumber"),
        "guid": to_text(record.get("Guid"), "Guid"),
        "last_modified_by": to_text(record.get("LastModifiedBy"), "LastModifiedBy"),
        "last_modified_on": modified,
        "created_by": to_text(record.get("CreatedBy"), "CreatedBy"),
        "created_on": ms_date_to_utc(record.get("CreatedOn"), "CreatedOn"),
        # Base-currency amounts as Unleashed computed them (never recomputed here).
        "exchange_rate": to_decimal(record.get("ExchangeRate"), "ExchangeRate"),
        "bc_sub_total": to_decimal(record.get("BCSubTotal"), "BCSubTotal"),
        "bc_tax_total": to_decimal(record.get("BCTaxTotal"), "BCTaxTotal"),
        "bc_total": to_decimal(record.get("BCTotal"), "BCTotal"),
        "_raw": to_json_text({k: v for k, v in record.items() if k != "CreditLines"}, "record"),
        "_loaded_at": loaded_at,
        "_run_id": run_id,
    }
    for src, column in _OBJECTS:
        value = objects[src]
        row[column] = None if value is None else to_json_text(value, src)
    header = tuple(row[c] for c in UNLEASHED_CREDIT_NOTES.column_names)
    raw_lines = line_list(record, "CreditLines")
    line_rows = [
        _line(number, position, line, loaded_at, run_id)
        for position, line in enumerate(raw_lines, start=1)
    ]
    return header, line_rows, modified


def _line(
    number: str, position: int, line: Any, loaded_at: datetime, run_id: str
) -> tuple[Any, ...]:
    where = f"CreditLines[{position - 1}]."
    if not isinstance(line, Mapping):
        raise FieldError(where.rstrip("."), line, "expected a JSON object")
    product = _object(line.get("Product"), where + "Product")

    def num(name: str) -> Any:
        return to_decimal(line.get(name), where + name)

    def text(name: str) -> Any:
        return to_text(line.get(name), where + name)

    row: dict[str, Any] = {
        "credit_number": number,
        "line_number": position,
        "source_line_number": to_int(
            line.get("LineNumber"), where + "LineNumber", lo=INT_MIN, hi=INT_MAX
        ),
        "line_type": text("LineType"),
        "product_guid": _sub_text(product, where + "Product", "Guid"),
        "product_code": _sub_text(product, where + "Product", "ProductCode"),
        "product_description": _sub_text(product, where + "Product", "ProductDescription"),
        "order_quantity": num("OrderQuantity"),
        "unit_price": num("UnitPrice"),
        "credit_quantity": num("CreditQuantity"),
        "credit_price": num("CreditPrice"),
        "line_total": num("LineTotal"),
        "comments": text("Comments"),
        "tax_rate": num("TaxRate"),
        "line_tax": num("LineTax"),
        "xero_tax_code": text("XeroTaxCode"),
        "line_tax_code": text("LineTaxCode"),
        "xero_sales_account": text("XeroSalesAccount"),
        "reason": text("Reason"),
        "return": to_bool(line.get("Return"), where + "Return"),
        "disassemble": to_bool(line.get("Disassemble"), where + "Disassemble"),
        "guid": text("Guid"),
        "last_modified_on": ms_date_to_utc(line.get("LastModifiedOn"), where + "LastModifiedOn"),
        "bc_unit_price": num("BCUnitPrice"),
        "bc_line_total": num("BCLineTotal"),
        "bc_line_tax": num("BCLineTax"),
        "_raw": to_json_text(line, where.rstrip(".")),
        "_loaded_at": loaded_at,
        "_run_id": run_id,
    }
    for src, column in _LINE_LISTS:
        value = line.get(src)
        if value is not None and not isinstance(value, list):
            raise FieldError(where + src, value, "expected a list")
        row[column] = None if value is None else to_json_text(value, where + src)
    return tuple(row[c] for c in UNLEASHED_CREDIT_NOTE_LINES.column_names)


def _object(value: Any, name: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FieldError(name, value, "expected a JSON object")
    return value


def _sub_text(obj: Mapping[str, Any] | None, where: str, key: str) -> str | None:
    return None if obj is None else to_text(obj.get(key), f"{where}.{key}")


def _refuse_duplicates(value: Any, path: str) -> None:
    """Reject a record anywhere in which a key was repeated with different values.

    The vendor's own example repeats ``Total`` with the same value; that is accepted.
    """
    if isinstance(value, Mapping):
        clashes = value.get(DUPLICATE)
        if clashes:
            raise FieldError(
                f"{path}{clashes[0]}", clashes, "appears more than once with different values"
            )
        for key, item in value.items():
            if isinstance(key, str):
                _refuse_duplicates(item, f"{path}{key}.")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_duplicates(item, f"{path.rstrip('.')}[{index}].")
