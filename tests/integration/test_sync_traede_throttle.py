"""A server that answers 429 beyond a number of mark calls in flight: the connector halves its
calls in flight, honours Retry-After, and still marks everything (AIMD, marking.py).
"""

import psycopg

from connector.emulator.faults import FaultPlan
from connector.flows.results import EXIT_OK
from connector.flows.traede import SyncOptions, run_traede
from connector.warehouse import Warehouse
from tests.integration.traede_support import (
    assert_invariants,
    expected_ids,
    marked_ids,
    outbox_states,
    running_traede,
)


def test_in_flight_limit_429s_lower_concurrency_and_everything_is_marked(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    with running_traede(
        warehouse, accounting_entries=400, mark_concurrency=6, mark_concurrency_max=12
    ) as t:
        t.state.config.update({"mark_in_flight_limit": 2, "mark_retry_after_ms": 100})
        t.state.set_faults(FaultPlan.parse("accounting_entries.mark:slow@delay=0.02"))
        result = run_traede(t.settings, warehouse, SyncOptions(resources=("accounting_entries",)))
        assert result.exit_code == EXIT_OK, result.reason
        throttled = t.state.throttled["accounting_entries.mark"]
        assert throttled > 0
        # every 429 the server sent was heard (and retried), none lost a mark
        assert result.total("http_429") == throttled
        assert marked_ids(t.state, "accounting_entries") == set(
            expected_ids(t.state, "accounting_entries")
        )
        assert outbox_states(db) == {"acked": 400}
        assert_invariants(db, t.state, ("accounting_entries",))
