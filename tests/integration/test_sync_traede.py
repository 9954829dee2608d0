"""`connector sync traede` end to end: the emulator over loopback HTTP, a real Postgres."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.emulator.faults import FaultPlan
from connector.errors import IncompletePassError, LockHeldError, PermanentSourceError
from connector.flows.results import EXIT_MARKS, EXIT_OK, EXIT_REJECTS
from connector.flows.traede import SyncOptions, run_traede
from connector.sources.traede.filters import Filter, FilterGroup
from connector.warehouse import Warehouse
from connector.warehouse.engine import libpq_dsn
from connector.warehouse.locks import ConsumerLock
from connector.warehouse.runs import Run
from tests.integration.traede_support import (
    SYSTEM_ID,
    all_ids,
    assert_invariants,
    assert_staging_matches,
    expected_ids,
    marked_ids,
    outbox_states,
    running_traede,
    staging_ids,
)

ALL = ("invoices", "credit_notes", "accounting_entries")
ORDERS = ("id", "desc", "shuffled")  # the export pages promise no order (docs/apis.md §1.4)
pytestmark = pytest.mark.integration


def _sync(traede, warehouse, **kw):
    return run_traede(traede.settings, warehouse, SyncOptions(**kw))


@pytest.mark.parametrize("order", ORDERS)
def test_full_sync_equals_source_marks_everything_and_second_sync_changes_nothing(
    warehouse: Warehouse, db: psycopg.Connection, order: str
) -> None:
    with running_traede(
        warehouse, invoices=130, credit_notes=45, accounting_entries=150, order=order
    ) as t:
        result = _sync(t, warehouse)
        assert result.exit_code == EXIT_OK, result.reason
        for resource in ALL:
            ids = expected_ids(t.state, resource)
            assert_staging_matches(db, t.state, resource, ids)
            assert marked_ids(t.state, resource) == set(ids)
        assert_invariants(db, t.state, ALL)
        assert result.total("fetched") == sum(len(expected_ids(t.state, r)) for r in ALL)
        assert result.total("marked") == result.total("fetched")
        # every mark carried the default note: the connector and the run, nothing of the
        # warehouse (TRAEDE's users read it in each document's timeline)
        marks = t.state.marks("invoices", SYSTEM_ID)[SYSTEM_ID]
        assert {m.note for m in marks.values()} == {
            f"accounting-export-connector run {result.run_id}"
        }

        before = db.execute(
            "SELECT count(*), max(_loaded_at) FROM staging.traede_invoice_lines"
        ).fetchone()
        second = _sync(t, warehouse)
        assert second.exit_code == EXIT_OK
        assert second.total("fetched") == 0 and second.total("marked") == 0
        after = db.execute(
            "SELECT count(*), max(_loaded_at) FROM staging.traede_invoice_lines"
        ).fetchone()
        assert before == after
    runs = db.execute("SELECT status FROM connector.sync_runs ORDER BY started_at").fetchall()
    assert [r[0] for r in runs] == ["succeeded", "succeeded"]


def test_mark_calls_never_exceed_ten_ids(warehouse: Warehouse, db: psycopg.Connection) -> None:
    with running_traede(warehouse, accounting_entries=95) as t:
        assert _sync(t, warehouse).exit_code == EXIT_OK
        mark_calls = [c for c in t.state.call_log if c.get("endpoint", "").endswith(".mark")]
        assert mark_calls, "no mark call logged"
        assert all(len(c.get("ids_marked") or []) <= 10 for c in mark_calls)
        assert sum(len(c.get("ids_marked") or []) for c in mark_calls) == 95


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("paged", [True, False])
def test_paged_and_unpaged_servers_deliver_the_whole_backlog(
    warehouse: Warehouse, db: psycopg.Connection, paged: bool, order: str
) -> None:
    with running_traede(warehouse, invoices=200, paged=paged, order=order) as t:
        result = _sync(t, warehouse, resources=("invoices",))
        assert result.exit_code == EXIT_OK
        assert staging_ids(db, "invoices") == set(expected_ids(t.state, "invoices"))
        assert_invariants(db, t.state, ("invoices",))


@pytest.mark.parametrize("order", ORDERS)
def test_server_that_caps_pages_below_limit_loses_nothing(
    warehouse: Warehouse, db: psycopg.Connection, order: str
) -> None:
    with running_traede(
        warehouse, credit_notes=170, faults="credit_notes.export:page_cap@cap=25", order=order
    ) as t:
        result = _sync(t, warehouse, resources=("credit_notes",))
        assert result.exit_code == EXIT_OK
        assert staging_ids(db, "credit_notes") == set(expected_ids(t.state, "credit_notes"))
        assert_invariants(db, t.state, ("credit_notes",))


@pytest.mark.parametrize("order", ORDERS)
def test_a_server_ignoring_page_fails_the_run_and_later_runs_drain_the_backlog(
    warehouse: Warehouse, db: psycopg.Connection, order: str
) -> None:
    """Every page answered as page 0: each run loads and marks one page, then fails saying so."""
    with running_traede(warehouse, accounting_entries=200, order=order) as t:
        t.state.config.update({"honour_page": False})
        options = {"resources": ("accounting_entries",)}
        results = [_sync(t, warehouse, **options) for _ in range(3)]
        for result in results:
            assert isinstance(result.error, IncompletePassError), result.error
            assert result.exit_code == 5 and result.status == "failed"
            assert "ignores `page`" in result.reason and "more may be waiting" in result.reason
            assert result.total("fetched") == 60 and result.total("marked") == 60
        last = _sync(t, warehouse, **options)  # 20 left: a short page, the pass is complete
        assert last.exit_code == EXIT_OK, last.reason
        assert staging_ids(db, "accounting_entries") == set(all_ids(t.state, "accounting_entries"))
        assert_invariants(db, t.state, ("accounting_entries",))
    rows = db.execute(
        "SELECT status, error FROM connector.sync_runs ORDER BY started_at"
    ).fetchall()
    assert [r[0] for r in rows] == ["failed"] * 3 + ["succeeded"]
    assert all("ignores `page`" in (r[1] or "") for r in rows[:3])


def test_drafts_only_with_include_non_booked(warehouse: Warehouse, db: psycopg.Connection) -> None:
    with running_traede(warehouse, invoices=120) as t:
        _sync(t, warehouse, resources=("invoices",))
        booked = set(expected_ids(t.state, "invoices"))
        everything = set(expected_ids(t.state, "invoices", include_drafts=True))
        assert booked < everything, "the seed should have drafts"
        assert staging_ids(db, "invoices") == booked
        result = _sync(t, warehouse, resources=("invoices",), include_non_booked=True)
        assert result.total("fetched") == len(everything - booked)
        assert staging_ids(db, "invoices") == everything
        assert_staging_matches(db, t.state, "invoices", sorted(everything))


def test_backfill_redelivers_updates_changed_values_replaces_lines_and_marks_again(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    with running_traede(warehouse, invoices=60) as t:
        assert _sync(t, warehouse, resources=("invoices",)).exit_code == EXIT_OK
        doc_id = expected_ids(t.state, "invoices")[5]
        doc = t.state.document("invoices", doc_id)
        first_marked = t.state.marks("invoices", SYSTEM_ID)[SYSTEM_ID][doc_id].exported_at
        new_lines = doc["lines"][:1]
        t.state.edit_document("invoices", doc_id, notes="corrected — ændret", lines=new_lines)
        # A plain sync does not see the edit: it was exported already.
        assert _sync(t, warehouse, resources=("invoices",)).total("fetched") == 0
        since = datetime.now(UTC) - timedelta(hours=1)
        result = _sync(t, warehouse, resources=("invoices",), not_exported_since=since)
        assert result.exit_code == EXIT_OK
        assert result.total("fetched") == 60 - len(
            set(all_ids(t.state, "invoices")) - set(expected_ids(t.state, "invoices"))
        )
        assert result.total("updated") == 1
        assert result.total("marked") == result.total("fetched")
        row = db.execute(
            "SELECT notes, (SELECT count(*) FROM staging.traede_invoice_lines "
            "WHERE invoice_id = %s) "
            "FROM staging.traede_invoices WHERE id = %s",
            (doc_id, doc_id),
        ).fetchone()
        assert row == ("corrected — ændret", 1)
        assert_staging_matches(db, t.state, "invoices", expected_ids(t.state, "invoices"))
        remarked = t.state.marks("invoices", SYSTEM_ID)[SYSTEM_ID][doc_id].exported_at
        assert remarked >= first_marked
        assert_invariants(db, t.state, ("invoices",))


def test_filters_pass_through(warehouse: Warehouse, db: psycopg.Connection) -> None:
    with running_traede(warehouse, accounting_entries=80) as t:
        docs = [
            t.state.document("accounting_entries", i)
            for i in all_ids(t.state, "accounting_entries")
        ]
        cut = sorted(d["created_at"] for d in docs)[40]
        cut_dt = datetime.fromisoformat(cut).replace(tzinfo=UTC)
        groups = (FilterGroup((Filter("created_at", "gte", cut_dt),)),)
        result = _sync(t, warehouse, resources=("accounting_entries",), filter_groups=groups)
        want = {d["id"] for d in docs if d["created_at"] >= cut}
        assert staging_ids(db, "accounting_entries") == want
        assert result.total("fetched") == len(want)
        assert marked_ids(t.state, "accounting_entries") == want


def test_malformed_documents_are_quarantined_not_marked_rest_loaded(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    with running_traede(warehouse, invoices=30) as t:
        good = expected_ids(t.state, "invoices")
        template = t.state.document("invoices", good[0])
        bad = {
            900001: '{"id": 900001, "status": "booked"}',  # required fields missing
            900002: template_text(template, 900002).replace('"currency":', '"currency": 12, "x":'),
            900003: template_text(template, 900003)
            .replace('"lines":[', '"lines":{"a":[')
            .replace("]}", "]}}", 1),
            900004: template_text(template, 900004).replace(
                '"notes":', '"notes":"a\\u0000b","n2":'
            ),
        }
        for doc_id, text in bad.items():
            t.state.add_raw_document("invoices", doc_id, text)
        result = _sync(t, warehouse, resources=("invoices",))
        assert result.exit_code == EXIT_REJECTS
        assert result.total("rejected") == len(bad)
        assert staging_ids(db, "invoices") == set(good)
        assert marked_ids(t.state, "invoices") == set(good)
        rejects = {
            int(r[0]): r[1]
            for r in db.execute("SELECT document_id, reason FROM connector.rejects").fetchall()
        }
        assert set(rejects) == set(bad)
        assert "missing" in rejects[900001]
        assert "currency" in rejects[900002]
        assert "lines" in rejects[900003]
        assert "NUL" in rejects[900004]


def template_text(doc: dict, new_id: int) -> str:
    import orjson

    from connector.jsontext import decimal_fragment

    return orjson.dumps({**doc, "id": new_id}, default=decimal_fragment).decode()


def test_a_second_run_fails_fast_naming_the_lock_holder(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    holder = Run(source="traede", system_id=SYSTEM_ID, kind="sync", resources=("invoices",))
    with warehouse.connect() as conn:
        from connector.warehouse import runs

        runs.start(conn, holder)
    with (
        running_traede(warehouse, invoices=5) as t,
        ConsumerLock(warehouse.dsn, holder, ["invoices"]),
    ):
        result = _sync(t, warehouse)
        assert isinstance(result.error, LockHeldError)
        assert result.exit_code == 7
        assert holder.run_id[:8] in str(result.error)
        assert t.state.calls.total() == 0


def test_unauthorized_mid_run_stops_with_a_clear_message_and_next_run_completes(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    with running_traede(
        warehouse, invoices=150, faults="invoices.export:unauthorized@calls=2"
    ) as t:
        result = _sync(t, warehouse, resources=("invoices",))
        assert isinstance(result.error, PermanentSourceError)
        assert result.exit_code == 4
        assert "TRAEDE_API_TOKEN" in str(result.error)
        assert "secret-value" not in str(result.error)
        assert t.state.marks("invoices") == {} or marked_ids(t.state, "invoices") <= staging_ids(
            db, "invoices"
        )
        t.state.set_faults(None)
        again = _sync(t, warehouse, resources=("invoices",))
        assert again.exit_code == EXIT_OK
        assert_invariants(db, t.state, ("invoices",))


def test_poison_ids_fail_visibly_and_others_are_marked(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    with running_traede(warehouse, accounting_entries=60) as t:
        poison = all_ids(t.state, "accounting_entries")[:3]
        t.state.set_faults(
            FaultPlan.parse(
                "accounting_entries.mark:mark_fail_ids@ids=" + "|".join(map(str, poison))
            )
        )
        result = _sync(t, warehouse, resources=("accounting_entries",))
        assert result.exit_code == EXIT_MARKS
        assert result.total("marked") == 57 and result.total("mark_failed") == 3
        failed = db.execute(
            "SELECT document_id, attempts, last_error FROM connector.export_outbox "
            "WHERE state = 'failed'"
        ).fetchall()
        assert sorted(r[0] for r in failed) == poison
        assert all(r[1] >= 3 and "temporarily_unavailable" in r[2] for r in failed)
        # later: the source recovers; `connector mark` drains what was left
        t.state.set_faults(None)
        drained = run_traede(
            t.settings, warehouse, SyncOptions(resources=("accounting_entries",)), kind="mark"
        )
        assert drained.exit_code == EXIT_OK and drained.total("marked") == 3
        assert outbox_states(db) == {"acked": 60}
        assert_invariants(db, t.state, ("accounting_entries",))


def test_database_timezone_changes_nothing(
    warehouse: Warehouse, db: psycopg.Connection, pg_url: str, pg_admin_url: str
) -> None:
    # A DBA's setting on a database the connector does not own: set as the superuser.
    with psycopg.connect(libpq_dsn(make_url(pg_admin_url)), autocommit=True) as admin:
        admin.execute(
            f"ALTER DATABASE \"{warehouse.target.database}\" SET timezone = 'Pacific/Chatham'"
        )
    with running_traede(warehouse, invoices=40, accounting_entries=40) as t:
        assert _sync(t, warehouse).exit_code == EXIT_OK
        with warehouse.connect(autocommit=True) as fresh:
            tz = fresh.execute("SHOW timezone").fetchone()[0]
            assert tz == "Pacific/Chatham"
            for resource in ("invoices", "accounting_entries"):
                assert_staging_matches(fresh, t.state, resource, expected_ids(t.state, resource))
