"""Schema drift is visible: a source field with no column is counted per run and resource in
connector.unmapped_keys (same transaction as its batch), listed by `connector status`, and the
check query reports it as new only in the first run that shows it.
"""

import psycopg
import pytest

from connector.console import print_status
from connector.flows.results import EXIT_OK
from connector.flows.traede import SyncOptions, run_traede
from connector.warehouse import Warehouse
from connector.warehouse import checks as sql_checks
from tests.integration.traede_support import running_traede

pytestmark = pytest.mark.integration
INVOICES = SyncOptions(resources=("invoices",))


def _keys(db: psycopg.Connection, run_id: str) -> dict[str, int]:
    rows = db.execute(
        "SELECT key, records FROM connector.unmapped_keys WHERE run_id = %s "
        "AND source = 'traede' AND resource = 'invoices'",
        (run_id,),
    ).fetchall()
    return dict(rows)


def test_new_source_fields_are_counted_per_run_shown_and_new_only_once(
    warehouse: Warehouse, db: psycopg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_traede(warehouse, invoices=30) as t:
        first = run_traede(t.settings, warehouse, INVOICES)
        assert first.exit_code == EXIT_OK
        assert _keys(db, first.run_id) == {}
        assert sql_checks.new_unmapped_keys(db, "traede", "invoices").keys == {}

        base = t.state.document("invoices", 100001)
        assert base is not None
        lines = [dict(base["lines"][0], lot_no="L-7"), *base["lines"][1:]]
        t.state.add_documents(
            "invoices",
            [
                dict(base, id=200001, status="booked", webshop_ref="W-1", lines=lines),
                dict(base, id=200002, status="booked", webshop_ref="W-2"),
            ],
        )
        second = run_traede(t.settings, warehouse, INVOICES)
        assert second.exit_code == EXIT_OK and second.total("fetched") == 2  # loads anyway
        assert _keys(db, second.run_id) == {"webshop_ref": 2, "lines[].lot_no": 1}
        found = sql_checks.new_unmapped_keys(db, "traede", "invoices")
        assert found.run_id == second.run_id
        assert found.keys == {"lines[].lot_no": 1, "webshop_ref": 2} and found.known == 0

        t.state.add_documents("invoices", [dict(base, id=200003, status="booked", webshop_ref="W")])
        third = run_traede(t.settings, warehouse, INVOICES)
        assert _keys(db, third.run_id) == {"webshop_ref": 1}
        again = sql_checks.new_unmapped_keys(db, "traede", "invoices")
        assert again.keys == {} and again.known == 1  # seen before: not new any more

    print_status(warehouse, 5)
    shown = capsys.readouterr().out
    assert "unmapped source keys" in shown and "webshop_ref" in shown


def test_a_rolled_back_batch_leaves_no_drift_counts(warehouse: Warehouse, db) -> None:
    from connector.model import NormalizedBatch, TableRows
    from connector.normalize.traede import SHAPES
    from connector.warehouse.loader import BatchLoader
    from connector.warehouse.runs import Run, start

    run = Run(source="traede", system_id="s", kind="load", resources=("invoices",))
    with warehouse.connect() as conn:
        start(conn, run)
        loader = BatchLoader(
            conn, run, source="traede", resource="invoices", system_id="s",
            header=SHAPES["invoices"].header,
        )  # fmt: skip
        bad = NormalizedBatch(TableRows(SHAPES["invoices"].header, [("not", "a row")]))
        bad.unmapped = {"x": 1}
        with pytest.raises(Exception):  # noqa: B017 - any failure must roll the counts back
            loader.load(bad)
    assert db.execute("SELECT count(*) FROM connector.unmapped_keys").fetchone()[0] == 0
