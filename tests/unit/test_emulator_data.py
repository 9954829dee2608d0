"""Seeded TRAEDE data: determinism, schema, exact arithmetic; plus query-string parsing."""

from decimal import Decimal

import pytest

from connector.emulator.brackets import parse_brackets
from connector.emulator.json_bytes import dumps
from connector.emulator.traede_data import generate_document
from connector.emulator.traede_dataset import generate
from connector.emulator.traede_query import QueryError, parse_export_query

INVOICE_KEYS = [
    "id", "invoice_number", "status", "order_type", "customer_id", "order_id", "notes",
    "currency", "meta", "total_quantity", "price_before_discount", "discount_amount",
    "discount_percentage", "net_price", "shipping", "handling_fee", "vat_amount",
    "total_price_after_vat", "created_at", "updated_at", "lines",
]  # fmt: skip
LINE_KEYS = [
    "product_id", "variant_id", "quantity", "price_before_discount", "discount_amount",
    "discount_percentage", "net_price", "vat_amount", "total_price", "total_price_after_vat",
    "created_at", "updated_at",
]  # fmt: skip
ENTRY_KEYS = [
    "id", "currency", "amount", "account", "contra_account", "date", "text", "created_at",
    "updated_at",
]  # fmt: skip


def test_data_same_seed_same_bytes() -> None:
    a = generate(5, invoices=50, credit_notes=20, accounting_entries=20)
    b = generate(5, invoices=50, credit_notes=20, accounting_entries=20)
    for name in ("invoices", "credit_notes", "accounting_entries"):
        assert [dumps(d) for d in a.resource(name)] == [dumps(d) for d in b.resource(name)]
    c = generate(6, invoices=50)
    assert [dumps(d) for d in a.invoices] != [dumps(d) for d in c.invoices]
    # Lazy: document i does not depend on how many were generated.
    assert dumps(generate(5, invoices=1000).invoices[49]) == dumps(a.invoices[49])


def test_data_has_every_documented_field() -> None:
    data = generate(1, invoices=30, credit_notes=30, accounting_entries=30)
    for doc in data.invoices:
        assert list(doc) == INVOICE_KEYS
        assert all(list(line) == LINE_KEYS for line in doc["lines"])
        assert (doc["invoice_number"] is None) == (doc["status"] == "draft")
    for doc in data.credit_notes:
        assert {"credit_note_number", "order_invoice_id"} <= set(doc)
        assert "invoice_number" not in doc
        for line in doc["lines"]:
            assert line["claim_type"] in ("return", "claim")
            assert "claim_cause_id" in line
    for doc in data.accounting_entries:
        assert list(doc) == ENTRY_KEYS
        assert doc["date"].endswith(" 00:00:00")
        assert doc["account"] != doc["contra_account"]
    assert [d["id"] for d in data.invoices] == list(range(100001, 100031))
    assert data.credit_notes[0]["id"] == 500001
    assert data.accounting_entries[0]["id"] == 900001


def test_data_distribution_is_realistic() -> None:
    docs = list(generate(2, invoices=2000).invoices)
    booked = sum(d["status"] == "booked" for d in docs) / len(docs)
    assert 0.8 < booked < 0.9
    counts = [len(d["lines"]) for d in docs]
    assert min(counts) >= 1 and max(counts) <= 20
    assert 4.0 < sum(counts) / len(counts) < 6.0
    notes = {d["notes"] for d in docs}
    assert None in notes and any(n and not n.isascii() for n in notes)
    assert {} in [d["meta"] for d in docs] and any("sælger" in d["meta"] for d in docs)
    assert {d["currency"] for d in docs} == {"DKK", "EUR", "SEK", "NOK", "USD", "GBP"}
    assert any(d["order_id"] is None for d in docs)
    entries = list(generate(2, accounting_entries=200).accounting_entries)
    assert any(e["amount"] < 0 for e in entries) and any(e["amount"] > 0 for e in entries)


@pytest.mark.parametrize("resource", ["invoices", "credit_notes"])
def test_data_amounts_add_up_exactly(resource: str) -> None:
    for index in range(300):
        doc = generate_document(resource, 3, index)
        lines = doc["lines"]
        for line in lines:
            assert line["net_price"] == line["price_before_discount"] - line["discount_amount"]
            assert line["total_price"] == line["quantity"] * line["net_price"]
            assert line["total_price_after_vat"] == (
                line["total_price"] + line["quantity"] * line["vat_amount"]
            )
            assert all(
                isinstance(v, Decimal) and v.as_tuple().exponent == -2
                for k, v in line.items()
                if k
                not in (
                    "product_id",
                    "variant_id",
                    "quantity",
                    "claim_type",
                    "claim_cause_id",
                    "created_at",
                    "updated_at",
                )
            )
        assert doc["total_quantity"] == sum(line["quantity"] for line in lines)
        assert doc["net_price"] == sum(line["total_price"] for line in lines)
        assert doc["price_before_discount"] == sum(
            line["quantity"] * line["price_before_discount"] for line in lines
        )
        assert doc["discount_amount"] == sum(
            line["quantity"] * line["discount_amount"] for line in lines
        )
        assert doc["net_price"] == doc["price_before_discount"] - doc["discount_amount"]
        line_vat = sum(line["quantity"] * line["vat_amount"] for line in lines)
        assert doc["vat_amount"] >= line_vat
        assert doc["total_price_after_vat"] == (
            doc["net_price"] + doc["shipping"] + doc["handling_fee"] + doc["vat_amount"]
        )


def test_data_serialises_decimals_as_exact_json_numbers() -> None:
    assert dumps({"a": Decimal("12.50"), "b": Decimal("-0.10")}) == b'{"a":12.50,"b":-0.10}'


def test_data_generation_is_lazy() -> None:
    # A million documents cost nothing until asked for (speed is measured by bench/, not here).
    data = generate(1, invoices=1_000_000)
    assert len(data.invoices) == 1_000_000
    assert data.invoices[-1]["id"] == 1_100_000
    assert data.invoices[-1] == generate_document("invoices", 1, 999_999)


def test_brackets_parse_php_notation() -> None:
    parsed = parse_brackets(
        [
            ("filter_groups[0][filters][0][key]", "updated_at"),
            ("filter_groups[0][filters][0][value][0]", "a"),
            ("filter_groups[0][filters][0][value][1]", "b"),
            ("filter_groups[0][or]", "true"),
            ("includes[]", "lines"),
            ("includes[]", "other"),
            ("system_id", "erp"),
            ("odd[", "x"),
        ]
    )
    assert parsed == {
        "filter_groups": [{"filters": [{"key": "updated_at", "value": ["a", "b"]}], "or": "true"}],
        "includes": ["lines", "other"],
        "system_id": "erp",
        "odd[": "x",
    }
    with pytest.raises(ValueError):
        parse_brackets([("a", "1"), ("a[b]", "2")])


def test_export_query_group_without_filters_is_a_500() -> None:
    with pytest.raises(QueryError) as caught:
        parse_export_query(
            [("system_id", "erp"), ("filter_groups[0][or]", "true")], has_status=True
        )
    assert caught.value.status == 500
