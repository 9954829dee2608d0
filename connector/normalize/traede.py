"""TRAEDE export documents -> staging rows (``connector.tables.traede``) plus rejects.

Pure. Money arrives as ``Decimal`` (``parse_json``) and stays exact; timestamps become aware
UTC datetimes; required fields and types are checked per field. A document that fails any
check becomes one :class:`Reject` naming the field and an excerpt of the value; the rest of
the batch goes on. Unknown fields are kept in ``_raw``; lines are numbered 1..n in the order
the source sent them (TRAEDE lines have no id).
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from connector.model import NormalizedBatch
from connector.normalize.batch import collect_batch
from connector.normalize.common import (
    INT_MAX,
    FieldError,
    check_duplicates,
    to_decimal,
    to_int,
    to_json_text,
    to_text,
    to_utc,
)
from connector.normalize.drift import MappedKeys
from connector.normalize.extract import compile_extractor
from connector.tables import traede as t
from connector.tables.spec import TableSpec

Coerce = Callable[..., Any]
# (source field, coercion, required)
FieldSpec = tuple[str, Coerce, bool]


def _meta(value: Any, name: str, *, nullable: bool = True) -> str | None:
    if value is None:
        return None
    # PHP serialises an empty associative array as [], so accept a list as well as an object.
    if not isinstance(value, dict | list):
        raise FieldError(name, value, "expected an object")
    return to_json_text(value, name)


_HEADER_TAIL: tuple[FieldSpec, ...] = (
    ("total_quantity", to_int, False),
    ("price_before_discount", to_decimal, False),
    ("discount_amount", to_decimal, False),
    ("discount_percentage", to_decimal, False),
    ("net_price", to_decimal, True),
    ("shipping", to_decimal, False),
    ("handling_fee", to_decimal, False),
    ("vat_amount", to_decimal, True),
    ("total_price_after_vat", to_decimal, True),
    ("created_at", to_utc, True),
    ("updated_at", to_utc, True),
)

_LINE_MONEY: tuple[FieldSpec, ...] = (
    ("price_before_discount", to_decimal, False),
    ("discount_amount", to_decimal, False),
    ("discount_percentage", to_decimal, False),
    ("net_price", to_decimal, False),
    ("vat_amount", to_decimal, False),
    ("total_price", to_decimal, True),
    ("total_price_after_vat", to_decimal, False),
    ("created_at", to_utc, False),
    ("updated_at", to_utc, False),
)

INVOICE_FIELDS: tuple[FieldSpec, ...] = (
    ("id", to_int, True),
    ("invoice_number", to_int, False),
    ("status", to_text, True),
    ("order_type", to_text, False),
    ("customer_id", to_int, True),
    ("order_id", to_int, False),
    ("notes", to_text, False),
    ("currency", to_text, True),
    ("meta", _meta, False),
    *_HEADER_TAIL,
)

INVOICE_LINE_FIELDS: tuple[FieldSpec, ...] = (
    ("product_id", to_int, False),
    ("variant_id", to_int, False),
    ("quantity", to_int, True),
    *_LINE_MONEY,
)

CREDIT_NOTE_FIELDS: tuple[FieldSpec, ...] = (
    ("id", to_int, True),
    ("credit_note_number", to_int, False),
    ("status", to_text, True),
    ("order_type", to_text, False),
    ("customer_id", to_int, True),
    ("order_id", to_int, False),
    ("order_invoice_id", to_int, False),
    ("notes", to_text, False),
    ("currency", to_text, True),
    ("meta", _meta, False),
    *_HEADER_TAIL,
)

CREDIT_NOTE_LINE_FIELDS: tuple[FieldSpec, ...] = (
    ("product_id", to_int, False),
    ("variant_id", to_int, False),
    ("quantity", to_int, True),
    ("claim_type", to_text, False),
    ("claim_cause_id", to_int, False),
    *_LINE_MONEY,
)

ACCOUNTING_ENTRY_FIELDS: tuple[FieldSpec, ...] = (
    ("id", to_int, True),
    ("currency", to_text, True),
    ("amount", to_decimal, True),
    ("account", to_int, True),
    ("contra_account", to_int, True),
    ("date", to_utc, True),
    ("text", to_text, False),
    ("created_at", to_utc, True),
    ("updated_at", to_utc, True),
)


class _Shape:
    """Everything needed to normalize one resource."""

    def __init__(
        self,
        header: TableSpec,
        fields: tuple[FieldSpec, ...],
        lines: TableSpec | None = None,
        line_fields: tuple[FieldSpec, ...] = (),
    ) -> None:
        self.header = header
        self.fields = fields
        self.lines = lines
        self.line_fields = line_fields
        self.mapped = MappedKeys.of(
            (f[0] for f in fields),
            "lines" if lines is not None else None,
            (f[0] for f in line_fields),
        )
        self.extract = compile_extractor(fields, f"{header.table}_header")
        self.extract_line = compile_extractor(line_fields, f"{header.table}_line")
        names = tuple(f[0] for f in fields)
        assert names == header.data_columns, header.name
        if lines is not None:
            assert (lines.parent_key, "line_number", *(f[0] for f in line_fields)) == (
                lines.data_columns
            ), lines.name


SHAPES: dict[str, _Shape] = {
    "invoices": _Shape(
        t.TRAEDE_INVOICES, INVOICE_FIELDS, t.TRAEDE_INVOICE_LINES, INVOICE_LINE_FIELDS
    ),
    "credit_notes": _Shape(
        t.TRAEDE_CREDIT_NOTES,
        CREDIT_NOTE_FIELDS,
        t.TRAEDE_CREDIT_NOTE_LINES,
        CREDIT_NOTE_LINE_FIELDS,
    ),
    "accounting_entries": _Shape(t.TRAEDE_ACCOUNTING_ENTRIES, ACCOUNTING_ENTRY_FIELDS),
}

_MISSING = object()


def normalize_document(
    resource: str, record: Any, loaded_at: datetime, run_id: str
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """One export document -> (header row, line rows).

    Raises:
        FieldError: the document breaks the contract (field, value, why).
    """
    shape = SHAPES[resource]
    if not isinstance(record, dict):
        raise FieldError("(document)", record, "expected an object")
    check_duplicates(record, "")
    values = shape.extract(record, "")
    doc_id = values[0]
    lines: list[tuple[Any, ...]] = []
    if shape.lines is not None:
        raw_lines = record.get("lines", _MISSING)
        if raw_lines is _MISSING:
            raise FieldError("lines", None, "is missing (asked for with includes[]=lines)")
        if not isinstance(raw_lines, list):
            raise FieldError("lines", raw_lines, "expected a list of lines")
        if len(raw_lines) > INT_MAX:
            raise FieldError("lines", len(raw_lines), "has too many lines")
        for number, line in enumerate(raw_lines, start=1):
            where = f"lines[{number - 1}]."
            if not isinstance(line, dict):
                raise FieldError(where.rstrip("."), line, "expected an object")
            check_duplicates(line, where)
            line_values = shape.extract_line(line, where)
            line_raw = to_json_text(line, where + "_raw")
            lines.append((doc_id, number, *line_values, line_raw, loaded_at, run_id))
        header_raw = to_json_text({k: v for k, v in record.items() if k != "lines"}, "_raw")
    else:
        header_raw = to_json_text(record, "_raw")
    return (*values, header_raw, loaded_at, run_id), lines


def normalize_batch(
    resource: str, records: Sequence[Any], loaded_at: datetime, run_id: str
) -> NormalizedBatch:
    """Normalize a batch; a document sent twice keeps its last version (one row per key)."""
    shape = SHAPES[resource]

    def rows_of(record: Any) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], None]:
        header, lines = normalize_document(resource, record, loaded_at, run_id)
        return header, lines, None

    return collect_batch(records, shape.header, shape.lines, "id", rows_of, mapped=shape.mapped)
