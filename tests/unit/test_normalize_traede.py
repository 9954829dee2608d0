from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connector.jsontext import parse_json
from connector.normalize.common import ms_date_to_date, ms_date_to_utc, to_utc
from connector.normalize.traede import normalize_batch

LOADED = datetime(2026, 1, 1, tzinfo=UTC)

DOC = """{"id": 88213, "credit_note_number": 40017, "status": "booked", "order_type": "b2b",
 "customer_id": 5120, "currency": "EUR", "order_id": 991002, "order_invoice_id": 77120,
 "notes": null, "meta": {"erp_ref": "X-19", "sælger": "Jørgen"}, "total_quantity": 3,
 "price_before_discount": 150.0, "discount_amount": 15.0, "discount_percentage": 10.0,
 "net_price": 135.0, "shipping": 0.0, "handling_fee": 0.0, "vat_amount": 33.75,
 "total_price_after_vat": 168.75, "created_at": "2024-06-03 09:12:44",
 "updated_at": "2024-06-03T09:20:01+02:00", "future_field": {"x": 0.1000000000000000055511},
 "lines": [{"product_id": 311, "variant_id": 9021, "quantity": 3, "claim_type": "return",
   "claim_cause_id": null, "price_before_discount": 50.0, "discount_amount": 5.0,
   "discount_percentage": 10.0, "net_price": 45.0, "vat_amount": 11.25, "total_price": 135.0,
   "total_price_after_vat": 168.75, "created_at": "2024-06-03 09:12:44",
   "updated_at": "2024-06-03 09:12:44"}]}"""


def test_credit_note_example_normalizes_exactly() -> None:
    batch = normalize_batch("credit_notes", [parse_json(DOC)], LOADED, "run-1")
    assert batch.rejects == [] and batch.keys == [88213]
    row = dict(zip(batch.headers.spec.column_names, batch.headers.rows[0], strict=True))
    assert row["vat_amount"] == Decimal("33.75") and str(row["shipping"]) == "0.0"
    assert row["updated_at"] == datetime(2024, 6, 3, 7, 20, 1, tzinfo=UTC)
    assert row["created_at"] == datetime(2024, 6, 3, 9, 12, 44, tzinfo=UTC)
    assert row["meta"] == '{"erp_ref":"X-19","sælger":"Jørgen"}'
    assert '"future_field":{"x":0.1000000000000000055511}' in row["_raw"]
    assert '"lines"' not in row["_raw"]
    assert row["_loaded_at"] == LOADED and row["_run_id"] == "run-1"
    (line,) = batch.children[0].rows
    lrow = dict(zip(batch.children[0].spec.column_names, line, strict=True))
    assert lrow["credit_note_id"] == 88213 and lrow["line_number"] == 1
    assert lrow["total_price"] == Decimal("135.0") and lrow["claim_type"] == "return"


def _doc(**changes):
    doc = parse_json(DOC)
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    "changes,field,words",
    [
        ({"id": "88213"}, "id", "expected an integer"),
        ({"currency": None}, "currency", "required"),
        ({"vat_amount": "33.75"}, "vat_amount", "expected a number"),
        ({"created_at": "2024-13-45 99:00:00"}, "created_at", "not a valid timestamp"),
        ({"notes": "a\x00b"}, "notes", "NUL"),
        ({"lines": {"a": 1}}, "lines", "list"),
        ({"lines": [1]}, "lines[0]", "object"),
        ({"customer_id": 2**70}, "customer_id", "out of range"),
        ({"total_price_after_vat": True}, "total_price_after_vat", "a boolean"),
        ({"meta": "x"}, "meta", "object"),
    ],
)
def test_invalid_documents_become_rejects_with_reasons(changes, field, words) -> None:
    good = parse_json(DOC.replace("88213", "1"))
    batch = normalize_batch("credit_notes", [_doc(**changes), good], LOADED, "r")
    assert batch.keys == [1]
    (reject,) = batch.rejects
    assert reject.field == field and words in reject.reason
    assert reject.raw.startswith("{") and "\x00" not in reject.raw


def test_missing_required_field_and_nonfinite_numbers() -> None:
    text = DOC.replace('"vat_amount": 33.75,', '"vat_amount": NaN,').replace(
        '"currency": "EUR",', ""
    )
    batch = normalize_batch("credit_notes", [parse_json(text)], LOADED, "r")
    assert batch.rejects[0].field == "currency" and "missing" in batch.rejects[0].reason
    nan = normalize_batch(
        "credit_notes", [parse_json(DOC.replace("33.75,", "NaN,", 1))], LOADED, "r"
    )
    assert "finite" in nan.rejects[0].reason


def test_duplicate_keys_same_value_accepted_different_rejected() -> None:
    same = DOC.replace('"status": "booked",', '"status": "booked", "status": "booked",')
    diff = DOC.replace('"status": "booked",', '"status": "booked", "status": "draft",')
    assert normalize_batch("credit_notes", [parse_json(same)], LOADED, "r").rejects == []
    rejected = normalize_batch("credit_notes", [parse_json(diff)], LOADED, "r").rejects
    assert rejected and "more than once" in rejected[0].reason


def test_document_sent_twice_keeps_the_last_version() -> None:
    a, b = parse_json(DOC), parse_json(DOC.replace('"notes": null', '"notes": "second"'))
    batch = normalize_batch("credit_notes", [a, b], LOADED, "r")
    assert len(batch.headers.rows) == 1 and "second" in batch.headers.rows[0]
    assert len(batch.children[0].rows) == 1


def test_dotnet_dates() -> None:
    assert ms_date_to_utc("/Date(1551812346157+0000)/", "x") == datetime(
        2019, 3, 5, 18, 59, 6, 157000, tzinfo=UTC
    )
    # the offset is display only: the millis are the instant
    assert ms_date_to_utc("/Date(1451988985943+1300)/", "x") == ms_date_to_utc(
        "/Date(1451988985943)/", "x"
    )
    assert ms_date_to_utc("/Date(-86400000+0000)/", "x") == datetime(1969, 12, 31, tzinfo=UTC)
    assert ms_date_to_date("/Date(1551744000000+0000)/", "x").isoformat() == "2019-03-05"
    assert to_utc("2024-06-03 09:12:44", "x").tzinfo is UTC
