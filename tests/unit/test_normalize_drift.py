"""Schema drift: every normalizer counts the source keys no column maps, per batch."""

from datetime import UTC, datetime

from connector.emulator.json_bytes import dumps
from connector.emulator.traede_dataset import GeneratedDocuments
from connector.emulator.unleashed_data import generate_records
from connector.emulator.xero_data import generate
from connector.jsontext import parse_json
from connector.normalize import unleashed, xero
from connector.normalize.drift import MappedKeys
from connector.normalize.traede import normalize_batch

LOADED = datetime(2026, 1, 1, tzinfo=UTC)


def _parsed(records: list) -> list:
    return parse_json(b'{"r":[' + b",".join(dumps(r) for r in records) + b"]}")["r"]


def test_counts_unmapped_top_level_and_line_keys_per_record() -> None:
    mapped = MappedKeys.of(("id", "total"), "lines", ("qty",))
    records = [
        {
            "id": 1,
            "total": 2,
            "sku": "a",
            "lines": [{"qty": 1, "lot": "x"}, {"qty": 2, "lot": "y"}],
        },
        {"id": 2, "total": 2, "sku": "b", "colour": None, "lines": []},
        {"id": 3, "total": 2, "lines": "not a list"},
        "not a record",
    ]
    assert mapped.unmapped(records) == {"sku": 2, "colour": 1, "lines[].lot": 2}
    assert mapped.unmapped([{"id": 1, "total": 2, "lines": [{"qty": 1}]}]) == {}


def test_traede_batch_reports_new_fields_and_keeps_loading() -> None:
    docs = _parsed(list(GeneratedDocuments("invoices", 3, 4)))
    docs[0]["sku_group"] = "x"
    docs[1]["lines"][0]["batch_no"] = "L-1"
    batch = normalize_batch("invoices", docs, LOADED, "run")
    assert batch.unmapped == {"sku_group": 1, "lines[].batch_no": 1}
    assert batch.rejects == [] and len(batch.keys) == 4  # unknown fields never fail a load


def test_a_rejected_record_still_counts_its_unknown_keys() -> None:
    batch = normalize_batch("accounting_entries", [{"id": 1, "brand_new": 1}], LOADED, "run")
    assert len(batch.rejects) == 1 and batch.unmapped == {"brand_new": 1}


def test_emulator_records_show_only_the_fields_left_unmapped_on_purpose() -> None:
    """Generated records of each source: the mapping covers every field but the listed ones."""
    for resource in ("invoices", "credit_notes", "accounting_entries"):
        docs = _parsed(list(GeneratedDocuments(resource, 1, 50)))
        assert normalize_batch(resource, docs, LOADED, "run").unmapped == {}, resource
    x = xero.normalize_credit_notes(_parsed(generate(1, "t", 50)), LOADED, "run")
    assert x.unmapped == {"ID": 50, "DateString": 50}  # a copy of CreditNoteID and of Date
    u = unleashed.normalize_credit_notes(_parsed(generate_records(1, 50)), LOADED, "run")
    assert u.unmapped == {}


def test_duplicate_key_marker_is_not_a_source_key() -> None:
    docs = _parsed(list(GeneratedDocuments("accounting_entries", 1, 1)))
    text = dumps(docs[0]).decode().replace('"currency":', '"currency":"X","currency":', 1)
    batch = normalize_batch("accounting_entries", [parse_json(text)], LOADED, "run")
    assert len(batch.rejects) == 1 and batch.unmapped == {}
