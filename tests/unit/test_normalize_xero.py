import json
from datetime import UTC, date, datetime
from decimal import Decimal

from connector.emulator.xero_data import SEED_EXAMPLES
from connector.jsontext import parse_json
from connector.normalize.xero import normalize_credit_notes
from connector.tables.xero import XERO_CREDIT_NOTE_LINES, XERO_CREDIT_NOTES

LOADED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
RUN = "run-1"
CN1 = "249f15fa-f2a7-4acc-8769-0984103f2225"
CN2 = "f8021bd2-9a6a-4c19-8477-163da0b9290f"


def _row(batch, index=0):
    return dict(zip(XERO_CREDIT_NOTES.column_names, batch.headers.rows[index], strict=True))


def _line(batch, index=0):
    rows = batch.children[0].rows
    return dict(zip(XERO_CREDIT_NOTE_LINES.column_names, rows[index], strict=True))


def _record(**changes):
    base = parse_json(SEED_EXAMPLES[0])
    base.update(changes)
    return base


def test_normalize_seed_examples_every_value() -> None:
    records = [parse_json(t) for t in SEED_EXAMPLES]
    batch = normalize_credit_notes(records, LOADED, RUN, tenant_id="tenant-a")
    assert batch.rejects == []
    assert batch.keys == [CN1, CN2]
    assert batch.cursor == datetime(2019, 3, 5, 19, 1, 46, 153000, tzinfo=UTC)
    assert batch.children[0].rows == []
    first = _row(batch, 0)
    expected_first = {
        "credit_note_id": CN1,
        "tenant_id": "tenant-a",
        "credit_note_number": "CN-0005",
        "type": "ACCRECCREDIT",
        "status": "AUTHORISED",
        "contact_id": "430fa14a-f945-44d3-9f97-5df5e28441b8",
        "contact_name": "Liam Gallagher",
        "date": date(2019, 3, 5),
        "due_date": None,
        "line_amount_types": "Exclusive",
        "sub_total": Decimal("30.0"),
        "total_tax": Decimal("4.5"),
        "total": Decimal("34.5"),
        "cis_deduction": None,
        "cis_rate": None,
        "updated_date_utc": datetime(2019, 3, 5, 18, 59, 6, 157000, tzinfo=UTC),
        "currency_code": "NZD",
        "currency_rate": Decimal("1.0"),
        "fully_paid_on_date": None,
        "reference": "US Tour",
        "sent_to_contact": None,
        "remaining_credit": Decimal("32.5"),
        "applied_amount": None,
        "branding_theme_id": None,
        "has_attachments": True,
        "has_errors": None,
        "status_attribute_string": None,
        "_loaded_at": LOADED,
        "_run_id": RUN,
    }
    for key, value in expected_first.items():
        assert first[key] == value, key
        assert type(first[key]) is type(value), key
    assert json.loads(first["contact"]) == {
        "ContactID": "430fa14a-f945-44d3-9f97-5df5e28441b8",
        "Name": "Liam Gallagher",
        "Addresses": [],
        "Phones": [],
        "ContactGroups": [],
        "ContactPersons": [],
        "HasValidationErrors": False,
    }
    assert json.loads(first["allocations"]) == []
    assert first["payments"] == (
        '[{"PaymentID":"6b037c9b-2e5d-4905-84d3-eabfb3438242",'
        '"Date":"/Date(1552521600000+0000)/","Amount":2.0,"Reference":"Too much",'
        '"CurrencyRate":1.0,"HasAccount":false,"HasValidationErrors":false}]'
    )
    raw = json.loads(first["_raw"], parse_float=Decimal)
    assert "LineItems" not in raw
    assert raw["SubTotal"] == Decimal("30.0") and raw["ID"] == CN1
    second = _row(batch, 1)
    assert second["credit_note_number"] == ""
    assert second["reference"] == ""
    assert second["type"] == "ACCPAYCREDIT"
    assert second["status"] == "DRAFT"
    assert second["date"] == date(2019, 1, 5)
    assert second["sub_total"] == Decimal("40.0")
    assert second["total_tax"] == Decimal("6.0")
    assert second["total"] == Decimal("46.0")
    assert second["remaining_credit"] == Decimal("46.0")
    assert second["has_attachments"] is False
    assert json.loads(second["payments"]) == []
    assert second["updated_date_utc"] == datetime(2019, 3, 5, 19, 1, 46, 153000, tzinfo=UTC)


def test_normalize_dates_edge_cases_and_offsets() -> None:
    records = [
        _record(
            CreditNoteID="00000000-0000-4000-8000-000000000001",
            Date="/Date(-86400000+0000)/",
            UpdatedDateUTC="/Date(1451988985943+1300)/",
        ),
        _record(
            CreditNoteID="00000000-0000-4000-8000-000000000002",
            Date="/Date(0+0000)/",
            DueDate="/Date(1551744000000)/",
            FullyPaidOnDate="/Date(1735603200000+0000)/",
            UpdatedDateUTC="/Date(1451988985943-0500)/",
        ),
    ]
    batch = normalize_credit_notes(records, LOADED, RUN)
    assert batch.rejects == []
    first, second = _row(batch, 0), _row(batch, 1)
    assert first["date"] == date(1969, 12, 31)
    instant = datetime(2016, 1, 5, 10, 16, 25, 943000, tzinfo=UTC)
    assert first["updated_date_utc"] == instant  # the offset is ignored
    assert second["updated_date_utc"] == instant
    assert second["date"] == date(1970, 1, 1)
    assert second["due_date"] == date(2019, 3, 5)
    assert second["fully_paid_on_date"] == date(2024, 12, 31)
    assert first["tenant_id"] == ""


def test_normalize_lines_numbered_and_exact() -> None:
    record = _record(
        LineItems=[
            {
                "LineItemID": "c3c3c3c3-3333-4d4d-8e8e-cccccccccccc",
                "Description": "Returned mugs",
                "Quantity": Decimal("2.0"),
                "UnitAmount": Decimal("12.3456"),
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
                "TaxAmount": Decimal("3.70"),
                "LineAmount": Decimal("24.69"),
                "Tracking": [{"Name": "Region", "Option": "North"}],
                "Item": {"Code": "MUG", "Name": "Mug", "ItemID": "x"},
            },
            {"Description": "Freight", "Quantity": 1, "UnitAmount": Decimal("0.0001")},
        ]
    )
    batch = normalize_credit_notes([record], LOADED, RUN)
    first, second = _line(batch, 0), _line(batch, 1)
    assert first["credit_note_id"] == CN1 and first["line_number"] == 1
    assert first["unit_amount"] == Decimal("12.3456")
    assert str(first["tax_amount"]) == "3.70"
    assert first["line_amount"] == Decimal("24.69")
    assert first["quantity"] == Decimal("2.0")
    assert json.loads(first["tracking"]) == [{"Name": "Region", "Option": "North"}]
    assert json.loads(first["item"])["Code"] == "MUG"
    assert second["line_number"] == 2 and second["line_item_id"] is None
    assert second["quantity"] == Decimal(1) and second["unit_amount"] == Decimal("0.0001")
    assert second["tracking"] is None and second["item"] is None
    assert "LineItems" not in json.loads(_row(batch)["_raw"])


def test_normalize_dedupes_last_wins() -> None:
    older = _record(Reference="first")
    newer = _record(Reference="second")
    batch = normalize_credit_notes([older, newer], LOADED, RUN)
    assert len(batch.headers.rows) == 1
    assert _row(batch)["reference"] == "second"


def test_normalize_rejects_bad_records_with_reasons() -> None:
    good = _record()
    bad = [
        "not an object",
        _record(CreditNoteID="not-a-uuid"),
        _record(CreditNoteID="00000000-0000-4000-8000-000000000003", UpdatedDateUTC=None),
        _record(CreditNoteID="00000000-0000-4000-8000-000000000004", Date="2019-03-05"),
        _record(CreditNoteID="00000000-0000-4000-8000-000000000005", Total="34.5"),
        _record(CreditNoteID="00000000-0000-4000-8000-000000000006", LineItems={"a": 1}),
        _record(CreditNoteID="00000000-0000-4000-8000-000000000007", Reference="a\x00b"),
        _record(CreditNoteID="00000000-0000-4000-8000-000000000008", LineItems=[{"Quantity": "x"}]),
    ]
    batch = normalize_credit_notes([good, *bad], LOADED, RUN)
    assert batch.keys == [CN1]
    fields = [r.field for r in batch.rejects]
    assert fields == [
        "(record)",
        "CreditNoteID",
        "UpdatedDateUTC",
        "Date",
        "Total",
        "LineItems",
        "Reference",
        "LineItems[1].Quantity",
    ]
    reasons = [r.reason for r in batch.rejects]
    assert "is not a UUID" in reasons[1]
    assert "is required" in reasons[2]
    assert "/Date(ms)/" in reasons[3]
    assert "expected a number" in reasons[4]
    assert batch.rejects[2].document_id == "00000000-0000-4000-8000-000000000003"
    assert json.loads(batch.rejects[4].raw)["Total"] == "34.5"
    assert batch.cursor == datetime(2019, 3, 5, 18, 59, 6, 157000, tzinfo=UTC)


def test_normalize_imports_stay_pure() -> None:
    import ast
    import pathlib

    import connector.normalize.xero as module

    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    names = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not names & {"httpx", "sqlalchemy", "psycopg", "dagster"}


def _child(batch, spec, index=0):
    [rows] = [c.rows for c in batch.children if c.spec is spec]
    return dict(zip(spec.column_names, rows[index], strict=True))


def test_normalize_allocations_payments_and_tracking_into_their_tables() -> None:
    from connector.tables.xero import (
        XERO_CHILDREN,
        XERO_CREDIT_NOTE_ALLOCATIONS,
        XERO_CREDIT_NOTE_LINE_TRACKING,
        XERO_CREDIT_NOTE_PAYMENTS,
    )

    record = _record(
        Allocations=[
            {"AllocationID": "a-1", "Amount": Decimal("10.25"),
             "Date": "/Date(1552521600000+0000)/",
             "Invoice": {"InvoiceID": "inv-1", "InvoiceNumber": "INV-0551"}},
            {"AllocationID": "a-2", "Amount": Decimal("0.01"), "Date": "/Date(-86400000+0000)/",
             "Invoice": {"InvoiceID": "inv-2"}, "IsDeleted": True},
        ],
        LineItems=[
            {"LineItemID": "l-1", "LineAmount": Decimal("30.00"), "Tracking": [
                {"TrackingCategoryID": "c-1", "TrackingOptionID": "o-1", "Name": "Region",
                 "Option": "North"},
                {"TrackingCategoryID": "c-2", "TrackingOptionID": "o-9", "Name": "Department",
                 "Option": "Wholesale"},
            ]},
            {"LineItemID": "l-2", "LineAmount": Decimal("0.00"), "Tracking": []},
        ],
    )  # fmt: skip
    batch = normalize_credit_notes([record], LOADED, RUN)
    assert batch.rejects == []
    assert [c.spec for c in batch.children] == list(XERO_CHILDREN)
    first = _child(batch, XERO_CREDIT_NOTE_ALLOCATIONS, 0)
    raw = json.loads(first.pop("_raw"), parse_float=Decimal)
    assert first == {
        "credit_note_id": CN1, "position": 1, "allocation_id": "a-1",
        "amount": Decimal("10.25"), "date": date(2019, 3, 14), "invoice_id": "inv-1",
        "invoice_number": "INV-0551", "is_deleted": None, "_loaded_at": LOADED, "_run_id": RUN,
    }  # fmt: skip
    assert raw["Date"] == "/Date(1552521600000+0000)/"  # _raw as received
    second = _child(batch, XERO_CREDIT_NOTE_ALLOCATIONS, 1)
    assert (second["position"], second["date"], second["is_deleted"]) == (
        2, date(1969, 12, 31), True,
    )  # fmt: skip
    assert second["invoice_number"] is None
    # The vendor example's one payment (a 2.00 refund on 14 March 2019), every column.
    payment = _child(batch, XERO_CREDIT_NOTE_PAYMENTS)
    payment.pop("_raw")
    assert payment == {
        "credit_note_id": CN1, "position": 1,
        "payment_id": "6b037c9b-2e5d-4905-84d3-eabfb3438242", "date": date(2019, 3, 14),
        "amount": Decimal("2.0"), "bank_amount": None, "currency_rate": Decimal("1.0"),
        "reference": "Too much", "status": None, "payment_type": None, "is_reconciled": None,
        "updated_date_utc": None, "_loaded_at": LOADED, "_run_id": RUN,
    }  # fmt: skip
    tracking = next(c.rows for c in batch.children if c.spec is XERO_CREDIT_NOTE_LINE_TRACKING)
    assert [(r[1], r[2], r[5], r[6]) for r in tracking] == [
        (1, 1, "Region", "North"), (1, 2, "Department", "Wholesale"),
    ]  # fmt: skip


def test_a_bad_allocation_rejects_the_whole_credit_note() -> None:
    record = _record(Allocations=[{"Amount": "ten", "Date": "/Date(0+0000)/"}])
    batch = normalize_credit_notes([record], LOADED, RUN)
    assert batch.headers.rows == [] and all(c.rows == [] for c in batch.children)
    [reject] = batch.rejects
    assert reject.field == "Allocations[1].Amount"
