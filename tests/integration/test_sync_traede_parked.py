"""Marks that keep failing are parked after a bounded number of attempts, and the mark note.

Parked rows need an operator: they are no longer sent, stay parked when TRAEDE re-delivers the
document, show in ``connector status`` with their last error, fail the outbox check, give the
run its own exit code, and ``connector mark traede --retry-parked`` puts them back.
"""

import io

import psycopg
from rich.console import Console

from connector import console as console_module
from connector.emulator.faults import FaultPlan
from connector.flows.results import EXIT_MARKS, EXIT_OK, EXIT_PARKED
from connector.flows.traede import SyncOptions, run_traede
from connector.warehouse import Warehouse
from connector.warehouse import checks as sql_checks
from tests.integration.traede_support import (
    SYSTEM_ID,
    all_ids,
    assert_invariants,
    marked_ids,
    outbox_states,
    running_traede,
)

RESOURCE = ("accounting_entries",)


def _poison(t, n: int) -> list[int]:
    poison = all_ids(t.state, "accounting_entries")[:n]
    spec = "accounting_entries.mark:mark_fail_ids@ids=" + "|".join(map(str, poison))
    t.state.set_faults(FaultPlan.parse(spec))
    return poison


def test_ids_that_keep_failing_are_parked_shown_and_put_back_by_an_operator(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    with running_traede(warehouse, accounting_entries=40, mark_max_attempts=2) as t:
        poison = _poison(t, 2)
        first = run_traede(t.settings, warehouse, SyncOptions(resources=RESOURCE))
        # one failed run (each failing id sent 3 times): below the bound of 2 runs, retried
        assert first.exit_code == EXIT_MARKS, first.reason
        assert outbox_states(db) == {"acked": 38, "failed": 2}

        # TRAEDE re-delivers the unmarked documents; failed runs add up -> parked
        second = run_traede(t.settings, warehouse, SyncOptions(resources=RESOURCE))
        assert second.exit_code == EXIT_PARKED, second.reason
        assert "--retry-parked" in second.reason
        rows = db.execute(
            "SELECT document_id, attempts, failed_runs, last_error FROM connector.export_outbox "
            "WHERE state = 'parked' ORDER BY document_id"
        ).fetchall()
        assert [r[0] for r in rows] == poison
        assert all(r[1] == 6 and r[2] == 2 and "temporarily_unavailable" in r[3] for r in rows)

        # a third sync re-delivers them again: they stay parked and are not sent
        calls = t.state.calls.get("accounting_entries.mark", 0)
        third = run_traede(t.settings, warehouse, SyncOptions(resources=RESOURCE))
        assert third.exit_code == EXIT_PARKED
        assert third.total("mark_failed") == 0 and third.total("marked") == 0
        assert t.state.calls.get("accounting_entries.mark", 0) == calls
        assert outbox_states(db) == {"acked": 38, "parked": 2}

        # visible: the outbox check fails, `connector status` lists them with the last error
        open_rows = sql_checks.outbox_open(db, "traede", "accounting_entries", SYSTEM_ID)
        assert open_rows["parked"] == 2 and sum(open_rows.values()) == 2
        out = io.StringIO()
        original = console_module.console
        console_module.console = Console(file=out, width=200)
        try:
            console_module.print_status(warehouse, 5)
        finally:
            console_module.console = original
        text = out.getvalue()
        assert "parked marks" in text and "temporarily_unavailable" in text
        assert str(poison[0]) in text

        # the source recovers; the operator puts them back and they are marked
        t.state.set_faults(None)
        retried = run_traede(
            t.settings,
            warehouse,
            SyncOptions(resources=RESOURCE, retry_parked=True),
            kind="mark",
        )
        assert retried.exit_code == EXIT_OK, retried.reason
        assert retried.total("marked") == 2
        assert outbox_states(db) == {"acked": 40}
        assert set(poison) <= marked_ids(t.state, "accounting_entries")
        assert_invariants(db, t.state, RESOURCE)


def test_mark_note_is_the_configured_text_and_names_no_warehouse(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    with running_traede(
        warehouse, accounting_entries=15, mark_note="Exported to ERP ({run_id})"
    ) as t:
        result = run_traede(t.settings, warehouse, SyncOptions(resources=RESOURCE))
        assert result.exit_code == EXIT_OK, result.reason
        marks = t.state.marks("accounting_entries", SYSTEM_ID)[SYSTEM_ID]
        notes = {m.note for m in marks.values()}
        assert notes == {f"Exported to ERP ({result.run_id})"}
        target = warehouse.target
        assert not any(target.database in n or "pgdata" in n or "/tmp" in n for n in notes)
