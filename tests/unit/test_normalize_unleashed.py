import ast
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connector.emulator.unleashed_data import VENDOR_EXAMPLE_RECORD, generate_records
from connector.jsontext import parse_json
from connector.normalize import unleashed as normalize_module
from connector.normalize.unleashed import normalize_credit_notes
from connector.sources.unleashed.contract import build_query, sign
from connector.tables.unleashed import UNLEASHED_CREDIT_NOTE_LINES, UNLEASHED_CREDIT_NOTES

LOADED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
JUNE_1 = datetime(2016, 6, 1, tzinfo=UTC)
MODIFIED = datetime(2016, 6, 14, 1, 46, 27, 126000, tzinfo=UTC)


def _header(row: tuple) -> dict:
    return dict(zip(UNLEASHED_CREDIT_NOTES.column_names, row, strict=True))


def _line(row: tuple) -> dict:
    return dict(zip(UNLEASHED_CREDIT_NOTE_LINES.column_names, row, strict=True))


def _example() -> dict:
    return parse_json(VENDOR_EXAMPLE_RECORD)


def test_vendor_example_is_kept_byte_for_byte() -> None:
    # sha256 of the record inside the "show json example" of the vendor's CreditNotes page.
    digest = hashlib.sha256(VENDOR_EXAMPLE_RECORD).hexdigest()
    assert digest == "3cc9bf67ef99b4ab5d9849ad5e1700dc8eaae091b659c0d311040ef57defd44c"
    assert VENDOR_EXAMPLE_RECORD.count(b'"Total":12.5') == 2
    assert "Guid" not in parse_json(VENDOR_EXAMPLE_RECORD)


def test_normalize_vendor_example_every_value() -> None:
    batch = normalize_credit_notes([_example()], LOADED, "run-1")
    assert batch.rejects == []
    assert batch.keys == ["CN-00000017"]
    assert batch.cursor == MODIFIED
    (row,) = [_header(r) for r in batch.headers.rows]
    raw = row.pop("_raw")
    json_columns = {
        c: json.loads(row.pop(c))
        for c in ("warehouse", "customer", "currency", "tax", "sales_order")
    }
    assert row == {
        "credit_number": "CN-00000017",
        "credit_date": JUNE_1,
        "sales_invoice_date": JUNE_1,
        "required_delivery_date": JUNE_1,
        "reference": "Credit Note Reference",
        "credit_status": "Parked",
        "total": Decimal("12.5"),
        "sub_total": Decimal("10.5"),
        "tax_total": Decimal("2.5"),
        "tax_rate": Decimal("0.15"),
        "xero_tax_code": "OUTPUT2",
        "invoice_number": "SI-00000004/2",
        "reference_number": "",
        "comments": "some comments",
        "customer_code": "FranckBassy",
        "customer_name": "Franck Bassy",
        "customer_guid": "2284b930-6472-4350-bd34-9967fee2b245",
        "currency_code": "NZD",
        "warehouse_code": "W1",
        "warehouse_name": "Warehouse",
        "sales_order_number": "SO-00000028",
        "guid": None,
        "last_modified_by": "franck@unleashedsoftware.com",
        "last_modified_on": MODIFIED,
        "created_by": "franck@unleashedsoftware.com",
        "created_on": MODIFIED,
        "_loaded_at": LOADED,
        "_run_id": "run-1",
        # the vendor's example carries no rate and no base-currency amounts
        "exchange_rate": None,
        "bc_sub_total": None,
        "bc_tax_total": None,
        "bc_total": None,
    }
    for value in (row["credit_date"], row["last_modified_on"], row["created_on"]):
        assert value.tzinfo is UTC
    assert type(row["total"]) is Decimal
    assert json_columns["customer"] == {
        "CustomerCode": "FranckBassy",
        "CustomerName": "Franck Bassy",
        "CurrencyId": 110,
        "Guid": "2284b930-6472-4350-bd34-9967fee2b245",
        "LastModifiedOn": "/Date(1454970338982)/",
    }
    assert json_columns["warehouse"]["WarehouseCode"] == "W1"
    assert json_columns["warehouse"]["IsDefault"] is True and len(json_columns["warehouse"]) == 18
    assert json_columns["currency"] == {
        "CurrencyCode": "NZD",
        "Description": "New Zealand, Dollars",
        "Guid": "405aa117-a487-4c0c-9431-cdaf21273f04",
        "LastModifiedOn": "/Date(1418761686163)/",
    }
    assert json_columns["tax"]["Guid"] == "00000000-0000-0000-0000-000000000000"
    assert json_columns["sales_order"] == {
        "Guid": "9ba44b00-3962-4541-9da0-6dd67b3d0794",
        "OrderNumber": "SO-00000028",
    }
    raw_obj = json.loads(raw, parse_float=Decimal)
    assert "CreditLines" not in raw_obj
    assert raw_obj["Total"] == Decimal("12.5") and "Guid" not in raw_obj
    assert len(raw_obj) == 23  # 25 keys in the example: Total twice, CreditLines dropped

    (line,) = [_line(r) for r in batch.children[0].rows]
    line_raw = json.loads(line.pop("_raw"), parse_float=Decimal)
    lists = {c: json.loads(line.pop(c), parse_float=Decimal) for c in (
        "serial_numbers", "pending_serial_numbers", "batch_numbers", "pending_batch_numbers"
    )}  # fmt: skip
    assert line == {
        "credit_number": "CN-00000017",
        "line_number": 1,
        "source_line_number": 1,
        "line_type": None,
        "product_guid": "e5a349d9-55d0-401b-925d-87f668c72ed1",
        "product_code": "CHAIRS",
        "product_description": "These are some chairs",
        "order_quantity": Decimal("12"),
        "unit_price": Decimal("0"),
        "credit_quantity": Decimal("2"),
        "credit_price": Decimal("1"),
        "line_total": Decimal("0"),
        "comments": "",
        "tax_rate": Decimal("0.15"),
        "line_tax": Decimal("0"),
        "xero_tax_code": "OUTPUT2",
        "line_tax_code": None,
        "xero_sales_account": "200",
        "reason": "Faulty",
        "return": True,
        "disassemble": True,
        "guid": "f58539b8-6afa-4fd8-864a-3bca2228066e",
        "last_modified_on": MODIFIED,
        "_loaded_at": LOADED,
        "_run_id": "run-1",
        "bc_unit_price": None,
        "bc_line_total": None,
        "bc_line_tax": None,
    }
    assert lists["serial_numbers"] == [
        {
            "Identifier": "35XRY0QFGS",
            "Guid": "75ca9de7-6688-41df-a3c5-79dd4b8a8067",
            "LastModifiedOn": "/Date(1710881216020)/",
        }
    ]
    assert lists["pending_serial_numbers"] == [
        {"Identifier": "123", "CreatedOn": "/Date(1710878709305)/"}
    ]
    assert lists["batch_numbers"][0]["Quantity"] == Decimal("-1.0000")
    assert str(lists["pending_batch_numbers"][0]["Quantity"]) == "1.0000"
    assert line_raw["Guid"] == "f58539b8-6afa-4fd8-864a-3bca2228066e"
    # Decimal-exact text in jsonb: trailing zeros survive.
    assert (
        '"Quantity":-1.0000'
        in batch.children[0].rows[0][
            UNLEASHED_CREDIT_NOTE_LINES.column_names.index("batch_numbers")
        ]
    )


def test_duplicate_key_with_different_values_is_rejected() -> None:
    text = VENDOR_EXAMPLE_RECORD.replace(b'"Total":12.5,"TaxRate"', b'"Total":99.5,"TaxRate"')
    batch = normalize_credit_notes([parse_json(text)], LOADED, "r")
    assert batch.headers.rows == []
    (reject,) = batch.rejects
    assert reject.document_id == "CN-00000017"
    assert reject.field == "Total"
    assert "more than once" in reject.reason


@pytest.mark.parametrize(
    ("change", "field", "why"),
    [
        ({"CreditNumber": None}, "CreditNumber", "is required"),
        ({"CreditNumber": "  "}, "CreditNumber", "is empty"),
        ({"LastModifiedOn": None}, "LastModifiedOn", "is required"),
        ({"LastModifiedOn": "2024-01-01"}, "LastModifiedOn", "/Date(ms)/"),
        ({"Total": "12.50"}, "Total", "expected a number"),
        ({"Customer": "FranckBassy"}, "Customer", "expected a JSON object"),
        ({"Reference": "nul\x00"}, "Reference", "NUL"),
        ({"CreditLines": {"LineNumber": 1}}, "CreditLines", "expected a list"),
    ],
)
def test_bad_record_is_rejected_with_field_and_reason(change: dict, field: str, why: str) -> None:
    good = generate_records(3, 1)[0]
    bad = {**_example(), **change}
    batch = normalize_credit_notes([bad, good], LOADED, "r")
    assert batch.keys == [good["CreditNumber"]]
    (reject,) = batch.rejects
    assert reject.field == field
    assert why in reject.reason
    assert '"Reference":"Credit Note Reference"' in reject.raw or field == "Reference"


def test_bad_line_is_rejected_naming_the_line() -> None:
    record = _example()
    record["CreditLines"][0]["Return"] = "yes"
    (reject,) = normalize_credit_notes([record], LOADED, "r").rejects
    assert reject.field == "CreditLines[0].Return"
    assert "'yes'" in reject.reason


def test_non_object_record_is_rejected() -> None:
    batch = normalize_credit_notes([["not", "a", "record"]], LOADED, "r")  # type: ignore[list-item]
    assert batch.rejects[0].field == "record" and batch.rejects[0].document_id is None


def test_duplicate_credit_numbers_last_one_wins_and_cursor_is_the_max() -> None:
    first, second = generate_records(5, 2)
    older = {**first, "CreditStatus": "Parked"}
    newer = {**first, "CreditStatus": "Completed"}
    batch = normalize_credit_notes([older, second, newer], LOADED, "r")
    assert batch.keys == [second["CreditNumber"], first["CreditNumber"]]
    statuses = {
        _header(r)["credit_number"]: _header(r)["credit_status"] for r in batch.headers.rows
    }
    assert statuses[first["CreditNumber"]] == "Completed"
    expected = max(_header(r)["last_modified_on"] for r in batch.headers.rows)
    assert batch.cursor == expected
    lines_of_first = [r for r in batch.children[0].rows if r[0] == first["CreditNumber"]]
    assert len(lines_of_first) == len(first["CreditLines"])


def test_generated_amounts_add_up_exactly() -> None:
    for record in generate_records(7, 50):
        lines = record["CreditLines"]
        assert record["SubTotal"] == sum(line["LineTotal"] for line in lines)
        assert record["TaxTotal"] == sum(line["LineTax"] for line in lines)
        assert record["Total"] == record["SubTotal"] + record["TaxTotal"]
    batch = normalize_credit_notes(generate_records(7, 50), LOADED, "r")
    assert batch.rejects == [] and len(batch.keys) == 50


def test_signature_matches_a_hand_computed_vector() -> None:
    query = "modifiedSince=2025-01-01&pageSize=500"
    expected = base64.b64encode(
        hmac.new(b"my-secret-key", query.encode(), hashlib.sha256).digest()
    ).decode()
    assert sign(query, "my-secret-key") == expected
    empty = base64.b64encode(hmac.new(b"k", b"", hashlib.sha256).digest()).decode()
    assert sign("", "k") == empty


def test_build_query_keeps_order_and_percent_encodes() -> None:
    query = build_query([("modifiedSince", "2025-01-02T03:04:05"), ("pageSize", "1000")])
    assert query == "modifiedSince=2025-01-02T03%3A04%3A05&pageSize=1000"
    assert build_query([("creditStatus", "Parked Now/&")]) == "creditStatus=Parked%20Now%2F%26"


def test_normalize_module_imports_no_io_libraries() -> None:
    tree = ast.parse(Path(normalize_module.__file__).read_text())
    names = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert not names & {"httpx", "sqlalchemy", "psycopg", "dagster"}


def test_base_currency_fields_are_columns_as_sent_not_recomputed() -> None:
    record = _example()
    record.update(ExchangeRate=Decimal("0.546381"), BCSubTotal=Decimal("19.220"),
                  BCTaxTotal=Decimal("4.580"), BCTotal=Decimal("23.800"))  # fmt: skip
    record["CreditLines"][0].update(
        BCUnitPrice=Decimal("1.8302"), BCLineTotal=Decimal("3.660"), BCLineTax=Decimal("0.550")
    )
    batch = normalize_credit_notes([record], LOADED, "run-1")
    assert batch.rejects == []
    row = _header(batch.headers.rows[0])
    assert (row["exchange_rate"], row["bc_sub_total"], row["bc_tax_total"], row["bc_total"]) == (
        Decimal("0.546381"), Decimal("19.220"), Decimal("4.580"), Decimal("23.800"),
    )  # fmt: skip
    assert str(row["bc_total"]) == "23.800"  # scale kept
    line = _line(batch.children[0].rows[0])
    assert (line["bc_unit_price"], line["bc_line_total"], line["bc_line_tax"]) == (
        Decimal("1.8302"), Decimal("3.660"), Decimal("0.550"),
    )  # fmt: skip
    bad = _example()
    bad["BCTotal"] = "23.80"
    [reject] = normalize_credit_notes([bad], LOADED, "run-1").rejects
    assert reject.field == "BCTotal"


def test_generated_base_currency_amounts_add_up() -> None:
    from connector.emulator.unleashed_data import generate_records

    records = generate_records(3, 40)
    assert {r["Currency"]["CurrencyCode"] for r in records} >= {"NZD", "EUR"}
    for r in records:
        lines = r["CreditLines"]
        assert r["BCSubTotal"] == sum(ln["BCLineTotal"] for ln in lines)
        assert r["BCTaxTotal"] == sum(ln["BCLineTax"] for ln in lines)
        assert r["BCTotal"] == r["BCSubTotal"] + r["BCTaxTotal"]
        assert r["ExchangeRate"].as_tuple().exponent == -6
        if r["Currency"]["CurrencyCode"] == "NZD":
            assert r["BCTotal"] == r["Total"]
