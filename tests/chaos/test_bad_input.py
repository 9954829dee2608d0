"""Bad input through the emulator: documents served verbatim as generated JSON text (missing and
extra fields, wrong types, nulls, huge and non-finite numbers, NUL bytes, invalid dates, lines
that are not a list, 100k-character strings, deep nesting, duplicate keys). No crash; every bad
document is quarantined in connector.rejects with a reason naming its field and never marked;
the good documents of the same batch load and are marked. Malformed responses (not JSON, an
HTML page, truncated JSON, another root key) are typed errors and mark nothing.
"""

import os
import subprocess
import sys
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.config import Secret, TraedeSettings
from connector.emulator.json_bytes import dumps
from connector.errors import ContractError
from connector.flows.results import EXIT_OK, EXIT_REJECTS
from connector.flows.traede import SyncOptions, run_traede
from connector.sources.traede.client import ExportOptions, TraedeClient
from connector.warehouse import Warehouse
from tests.integration.traede_support import (
    APP_KEY,
    SYSTEM_ID,
    TOKEN,
    fast_http,
    marked_ids,
    outbox_states,
    running_traede,
    staging_ids,
)

pytestmark = [pytest.mark.chaos, pytest.mark.integration]
INVOICES = ("invoices",)
GOOD = 4  # generated invoices 100001..100004 are good
FIRST_RAW = 100_101
LATE_GOOD = 100_500  # a good document after the bad ones, in the same batch
RAW = "__RAW_TOKEN__"

REQUIRED = (
    "status",
    "customer_id",
    "currency",
    "net_price",
    "vat_amount",
    "total_price_after_vat",
    "created_at",
    "updated_at",
    "lines",
)
INT_FIELDS = ("customer_id", "order_id", "invoice_number", "total_quantity")
DEC_FIELDS = ("net_price", "vat_amount", "total_price_after_vat", "shipping", "discount_amount")
TEXT_FIELDS = ("status", "currency", "notes", "order_type")
TS_FIELDS = ("created_at", "updated_at")

# A mutation is (description, field the reject must name or None when it must load, change)
# where change(doc) edits the document dict and returns raw tokens to splice in for RAW.
Mutation = tuple[str, str | None, Any]


def _set(field: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> list[str]:
        doc[field] = value
        return []

    return change


def _raw(field: str, token: str) -> Any:
    def change(doc: dict[str, Any]) -> list[str]:
        doc[field] = RAW
        return [token]

    return change


def _drop(field: str) -> Any:
    def change(doc: dict[str, Any]) -> list[str]:
        doc.pop(field, None)
        return []

    return change


junk = st.one_of(
    st.text(max_size=8),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
bad_tokens = st.sampled_from(["NaN", "Infinity", "-Infinity"])

missing = st.sampled_from(REQUIRED).map(lambda f: (f"missing {f}", f, _drop(f)))
nulls = st.sampled_from(REQUIRED).map(lambda f: (f"null {f}", f, _set(f, None)))
bad_ints = st.tuples(
    st.sampled_from(INT_FIELDS),
    st.one_of(
        junk.filter(lambda v: not isinstance(v, int) or isinstance(v, bool)).map(
            lambda v: ("v", v)
        ),
        st.sampled_from(["1.5", "1e400", "9223372036854775808", "-1e19"]).map(lambda t: ("t", t)),
        bad_tokens.map(lambda t: ("t", t)),
    ),
).map(
    lambda fv: (
        f"{fv[0]} = {fv[1][1]!r}",
        fv[0],
        _set(fv[0], fv[1][1]) if fv[1][0] == "v" else _raw(fv[0], fv[1][1]),
    )
)
bad_decimals = st.tuples(
    st.sampled_from(DEC_FIELDS),
    st.one_of(
        junk.filter(lambda v: not isinstance(v, int) or isinstance(v, bool)).map(
            lambda v: ("v", v)
        ),
        bad_tokens.map(lambda t: ("t", t)),
    ),
).map(
    lambda fv: (
        f"{fv[0]} = {fv[1][1]!r}",
        fv[0],
        _set(fv[0], fv[1][1]) if fv[1][0] == "v" else _raw(fv[0], fv[1][1]),
    )
)
bad_texts = st.tuples(
    st.sampled_from(TEXT_FIELDS),
    st.one_of(
        st.integers(),
        st.booleans(),
        st.lists(st.text(max_size=2), max_size=2),
        st.text(max_size=5).map(lambda s: s + "\x00" + s),
    ),
).map(lambda fv: (f"{fv[0]} = {fv[1]!r}", fv[0], _set(*fv)))
bad_dates = st.tuples(
    st.sampled_from(TS_FIELDS),
    st.one_of(
        st.sampled_from(
            ["2024-02-30 10:00:00", "2024-13-01 00:00:00", "2024-06-01 25:00:00", "yesterday", ""]
        ),
        st.integers(),
        st.booleans(),
    ),
).map(lambda fv: (f"{fv[0]} = {fv[1]!r}", fv[0], _set(*fv)))
lines_not_list = st.one_of(st.text(max_size=5), st.integers(), st.just({"a": 1})).map(
    lambda v: (f"lines = {v!r}", "lines", _set("lines", v))
)


def _bad_line(doc: dict[str, Any]) -> list[str]:
    doc["lines"] = [{"quantity": "three", "total_price": 1}]
    return []


def _dup(key: str, same: bool) -> Any:
    def change(doc: dict[str, Any]) -> list[str]:
        value = doc.get(key)
        doc["__dup__"] = RAW
        return [f'"{key}": {dumps(value if same else "XXX").decode()}']

    return change


FIXED_BAD: list[Mutation] = [
    ("line quantity a string", "lines[0].quantity", _bad_line),
    ("line not an object", "lines[0]", _set("lines", [5])),
    ("NUL in an unknown field", "_raw", _set("extra", "a\x00b")),
    ("NUL in meta", "meta", _set("meta", {"k": "\x00"})),
    ("NaN in meta", "meta", _raw("meta", '{"x": NaN}')),
    ("Infinity in an unknown field", "_raw", _raw("weird", "Infinity")),
    ("meta 300 levels deep", "meta", _raw("meta", '{"a":' * 300 + "1" + "}" * 300)),
    ("meta a string", "meta", _set("meta", "x")),
    ("currency twice, different", "currency", _dup("currency", same=False)),
    ("id a string", "id", _set("id", "abc")),
    ("id missing", "id", _drop("id")),
    ("document a list", "(document)", None),
    ("1e400 as customer_id", "customer_id", _raw("customer_id", "1e400")),
    ("NaN as net_price", "net_price", _raw("net_price", "NaN")),
    ("invalid date", "created_at", _set("created_at", "2024-02-30 10:00:00")),
    ("lines an object", "lines", _set("lines", {"a": 1})),
    ("missing currency", "currency", _drop("currency")),
    ("null total", "total_price_after_vat", _set("total_price_after_vat", None)),
    ("NUL in notes", "notes", _set("notes", "a\x00b")),
]
EDGE_GOOD: list[Mutation] = [
    ("net_price 1e400", None, _raw("net_price", "1e400")),
    ("net_price -0", None, _raw("net_price", "-0")),
    ("net_price 1e-400", None, _raw("net_price", "1e-400")),
    ("shipping 18 decimals", None, _raw("shipping", "0.000000000000000001")),
    ("notes 100k characters", None, _set("notes", "ø" * 100_000)),
    ("notes with quotes", None, _set("notes", '\'; DROP TABLE x; -- "q" \\ \u2028')),
    ("extra fields", None, _set("unknown_field", {"nested": [1, "two", None]})),
    ("currency twice, same", None, _dup("currency", same=True)),
    ("meta an empty list", None, _set("meta", [])),
]
fixed_bad = st.sampled_from(FIXED_BAD)
edge_good = st.sampled_from(EDGE_GOOD)
mutation = st.one_of(
    missing, nulls, bad_ints, bad_decimals, bad_texts, bad_dates, lines_not_list, fixed_bad
)
case = st.lists(st.one_of(mutation, mutation, edge_good), min_size=1, max_size=4)


def _text(doc_id: int, base: dict[str, Any], mut: Mutation) -> tuple[str, dict[str, Any]]:
    _, _, change = mut
    if change is None:
        return "[1, 2]", {}
    doc = dict(base, id=doc_id)
    tokens = change(doc)
    text = dumps(doc).decode()
    for token in tokens:
        text = text.replace(f'"{RAW}"', token, 1)
    text = text.replace('"__dup__": ', "").replace('"__dup__":', "")
    return text, doc


def _reset(conn: psycopg.Connection) -> None:
    conn.execute(
        "TRUNCATE staging.traede_invoices, staging.traede_invoice_lines, connector.export_outbox, "
        "connector.rejects, connector.sync_runs"
    )


def _check_case(warehouse: Warehouse, mutations: list[Mutation]) -> None:
    """Serve ``mutations`` between good documents, sync, check rejects, staging and marks."""
    with warehouse.connect(autocommit=True) as conn, running_traede(warehouse, invoices=GOOD) as t:
        _reset(conn)
        base = t.state.document("invoices", 100001)
        assert base is not None
        expect_reject: dict[int, str] = {}
        expect_load: dict[int, dict[str, Any]] = {}
        for n, mut in enumerate(mutations):
            doc_id = FIRST_RAW + n
            text, doc = _text(doc_id, base, mut)
            t.state.add_raw_document("invoices", doc_id, text, status="booked")
            if mut[1] is None:
                expect_load[doc_id] = doc
            else:
                expect_reject[doc_id] = mut[1]
        t.state.add_documents("invoices", [dict(base, id=LATE_GOOD)])

        result = run_traede(t.settings, warehouse, SyncOptions(resources=INVOICES))

        assert result.error is None, result.error
        assert result.exit_code == (EXIT_REJECTS if expect_reject else EXIT_OK), result.reason
        good = {100001 + i for i in range(GOOD)} | {LATE_GOOD} | set(expect_load)
        loaded = staging_ids(conn, "invoices")
        assert loaded == good
        assert marked_ids(t.state, "invoices") == good
        assert set(outbox_states(conn)) == {"acked"}
        assert t.state.violations == []
        rejects = conn.execute(
            "SELECT document_id, field, reason FROM connector.rejects ORDER BY reject_id"
        ).fetchall()
        assert len(rejects) == len(expect_reject), rejects
        for doc_id, field in expect_reject.items():
            mine = [r for r in rejects if r[0] == str(doc_id)]
            if field in ("id", "(document)"):
                mine = [r for r in rejects if r[1] == field]
            assert mine, (doc_id, field, rejects)
            _, got_field, reason = mine[0]
            assert got_field == field and reason.startswith(field), (field, reason)
        for doc_id, doc in expect_load.items():
            row = conn.execute(
                "SELECT net_price, shipping, notes, currency, _raw FROM staging.traede_invoices "
                "WHERE id = %s",
                (doc_id,),
            ).fetchone()
            assert row is not None
            if doc.get("net_price") == RAW:
                continue  # a raw numeric token: checked below by value
            assert row[2] == doc.get("notes")
        # Exotic but valid numbers are stored exactly.
        for doc_id, doc in expect_load.items():
            for field in ("net_price", "shipping"):
                if doc.get(field) == RAW:
                    text = t.state.store("invoices").raw[doc_id].text.decode()
                    token = text.split(f'"{field}":', 1)[1].split(",", 1)[0].strip()
                    got = conn.execute(
                        f"SELECT {field} FROM staging.traede_invoices WHERE id = %s", (doc_id,)
                    ).fetchone()
                    assert got is not None and got[0] == Decimal(token), (field, token, got)


def test_every_listed_bad_and_edge_document_in_one_batch(warehouse: Warehouse) -> None:
    """Each family at least once, whatever the property test happens to draw."""
    _check_case(warehouse, FIXED_BAD + EDGE_GOOD)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(mutations=case)
def test_bad_documents_are_quarantined_with_their_field_and_the_rest_loads(
    warehouse: Warehouse, mutations: list[Mutation]
) -> None:
    _check_case(warehouse, mutations)


def test_huge_id_does_not_stop_the_export_pass(warehouse: Warehouse, db) -> None:
    """A document whose id is beyond bigint is rejected; the documents after it still load."""
    with running_traede(warehouse, invoices=130) as t:
        base = t.state.document("invoices", 100001)
        assert base is not None
        text = dumps(dict(base, id=RAW)).decode().replace(f'"{RAW}"', "99999999999999999999")
        t.state.add_raw_document("invoices", 100_010, text)
        result = run_traede(t.settings, warehouse, SyncOptions(resources=INVOICES))
        assert result.total("rejected") == 1
        want = {i for i in range(100001, 100131) if i != 100_010}
        want = {i for i in want if (t.state.document("invoices", i) or {}).get("status") != "draft"}
        assert staging_ids(db, "invoices") == want
        assert marked_ids(t.state, "invoices") == want


def test_one_very_deep_document_does_not_block_its_page(warehouse: Warehouse, db) -> None:
    with running_traede(warehouse, invoices=30) as t:
        base = t.state.document("invoices", 100001)
        assert base is not None
        t.state.add_raw_document("invoices", 100_010, dumps(dict(base, id=100_010, meta=None)))
        deep = "1"
        for _ in range(5000):
            deep = '{"a":' + deep + "}"
        text = dumps(dict(base, id=100_010, meta=RAW)).decode().replace(f'"{RAW}"', deep)
        t.state.add_raw_document("invoices", 100_010, text)
        result = run_traede(t.settings, warehouse, SyncOptions(resources=INVOICES))
        assert result.error is None, result.error
        assert result.total("rejected") == 1


# --- malformed responses ---------------------------------------------------------------------


def _env(url: str, dsn: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "TRAEDE_"))}
    env.update(
        TRAEDE_BASE_URL=url,
        TRAEDE_API_TOKEN=TOKEN,
        TRAEDE_APP_KEY=APP_KEY,
        TRAEDE_SYSTEM_ID=SYSTEM_ID,
        DATABASE_URL=dsn,
        CONNECTOR_MAX_ATTEMPTS="2",
        CONNECTOR_MAX_RETRY_WAIT="2",
    )
    return env


@pytest.mark.parametrize(
    "spec,code,words",
    [
        ("invoices.export:truncate", 5, "not valid JSON"),
        ("invoices.export:html@status=200", 5, "not valid JSON"),
        ("invoices.export:wrong_root", 5, "expected a JSON object with a 'invoices' list"),
        ("invoices.export:html", 3, "502 server error"),
    ],
    ids=["truncated JSON", "HTML page with 200", "wrong root key", "HTML 502 page"],
)
def test_malformed_export_responses_are_typed_errors_and_mark_nothing(
    warehouse: Warehouse, db, spec: str, code: int, words: str
) -> None:
    with running_traede(warehouse, invoices=80, faults=spec) as t:
        done = subprocess.run(
            [sys.executable, "-m", "connector", "sync", "traede", "--resource", "invoices"],
            env=_env(t.server.url, warehouse.dsn),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == code, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("error: traede/invoices.export: ") and words in last, last
        assert "Traceback" not in done.stderr
        assert not t.state.marks("invoices")
        assert staging_ids(db, "invoices") == set()
        assert t.state.violations == []


@pytest.mark.parametrize("kind", ["wrong_root", "truncate"])
def test_unreadable_mark_reply_acknowledges_nothing(warehouse: Warehouse, db, kind: str) -> None:
    """Regression: a 200 mark reply that cannot be read used to count every id as acked,
    including ids the source had refused (per-item errors inside the lost body)."""
    faults = f"invoices.mark:{kind}@calls=1|2|3|4;invoices.mark:mark_fail_ids@fraction=0.3"
    with running_traede(
        warehouse, invoices=100, faults=faults, http=fast_http(max_attempts=2)
    ) as t:
        result = run_traede(t.settings, warehouse, SyncOptions(resources=INVOICES))
        acked = {
            r[0]
            for r in db.execute(
                "SELECT document_id FROM connector.export_outbox WHERE state = 'acked'"
            ).fetchall()
        }
        assert acked <= marked_ids(t.state, "invoices")
        assert result.total("mark_failed") > 0
        t.state.set_faults(None)
        again = run_traede(t.settings, warehouse, SyncOptions(resources=INVOICES))
        assert again.exit_code == EXIT_OK, again.reason
        assert marked_ids(t.state, "invoices") == staging_ids(db, "invoices")


def _client(handler: Any) -> TraedeClient:
    settings = TraedeSettings(
        base_url="https://traede.test",
        api_token=Secret("t"),
        app_key=Secret("k"),
        system_id="s",
        http=fast_http(max_attempts=2),
    )
    return TraedeClient(settings, transport=httpx.MockTransport(handler), sleep=lambda _: None)


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b"OK", "text/plain"),
        (b"<html><body>maintenance</body></html>", "text/html"),
        (b'["not", "an", "object"]', "application/json"),
        (b'"a string"', "application/json"),
        (b'{"invoices": {"not": "a list"}}', "application/json"),
        (b"", "application/json"),
    ],
    ids=["plain text", "html", "array root", "string root", "root not a list", "empty body"],
)
def test_client_raises_contract_error_for_bodies_that_are_not_the_contract(
    body: bytes, content_type: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    with _client(handler) as client, pytest.raises(ContractError) as info:
        list(client.export_pages("invoices", ExportOptions()))
    assert info.value.exit_code == 5
    assert "traede/invoices.export" in str(info.value)


def test_client_records_a_garbled_mark_reply_as_failed_not_acked() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"invoices": [{"invoice_id": 1, "sta')

    with _client(handler) as client:
        outcomes = list(client.mark_exported("invoices", [1, 2, 3], note="n"))
    assert {o.document_id for o in outcomes} == {1, 2, 3}
    assert not any(o.acked for o in outcomes)
    assert all("not valid JSON" in (o.error or "") for o in outcomes)
