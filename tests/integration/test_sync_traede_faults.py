"""Every emulator fault: the run completes with the invariants intact, or fails with a clear,
typed error and the next run (faults gone) completes. Marks never precede the commit.
"""

import pytest

from connector.errors import ContractError, SourceError
from connector.flows.results import EXIT_OK
from connector.flows.traede import SyncOptions, run_traede
from connector.warehouse import Warehouse
from tests.integration.traede_support import (
    assert_invariants,
    expected_ids,
    running_traede,
    staging_ids,
)

pytestmark = pytest.mark.integration
ALL = ("invoices", "credit_notes", "accounting_entries")

# Faults a run must absorb (retries) and still finish with exit 0.
ABSORBED = {
    "429 on export": "*.export:429@calls=1|3,retry_after=0",
    "500 on export": "*.export:500@calls=2",
    "502 on export": "invoices.export:502@calls=1|2",
    "503 on mark": "*.mark:503@calls=1|4",
    "slow replies": "*:slow@p=0.2,delay=0.05",
    "dropped export connection": "invoices.export:drop@calls=2",
    "dropped mark connection (mark applied, reply lost)": "*.mark:drop@calls=2",
    "truncated export body": "credit_notes.export:truncate@calls=1",
    "truncated mark body": "invoices.mark:truncate@calls=1",
    "html error page": "accounting_entries.export:html@calls=1,status=502",
    "mixed at ~10%": (
        "*.export:429@p=0.1,retry_after=0;*.export:500@p=0.05;*:drop@p=0.03;"
        "*.mark:503@p=0.1;*.export:truncate@p=0.03"
    ),
}


@pytest.mark.parametrize("spec", list(ABSORBED.values()), ids=list(ABSORBED))
def test_transient_faults_are_absorbed_with_invariants_intact(
    warehouse: Warehouse, db, spec: str
) -> None:
    with running_traede(
        warehouse, invoices=90, credit_notes=40, accounting_entries=90, faults=spec
    ) as t:
        result = run_traede(t.settings, warehouse, SyncOptions())
        assert result.exit_code == EXIT_OK, result.reason
        for resource in ALL:
            assert staging_ids(db, resource) == set(expected_ids(t.state, resource))
        assert_invariants(db, t.state, ALL)


# Faults that persist: the run must stop with a typed error, mark nothing it did not commit,
# and the next run, with the source healthy again, completes.
PERSISTENT = {
    "export keeps answering 500": ("invoices.export:500", SourceError),
    "export keeps answering 429": ("invoices.export:429@retry_after=0", SourceError),
    "wrong root key": ("invoices.export:wrong_root", ContractError),
    "truncated every time": ("invoices.export:truncate", ContractError),
    "html every time": ("invoices.export:html@status=200", ContractError),
}


@pytest.mark.parametrize("spec,error", list(PERSISTENT.values()), ids=list(PERSISTENT))
def test_persistent_faults_fail_clearly_and_the_next_run_completes(
    warehouse: Warehouse, db, spec: str, error: type
) -> None:
    from tests.integration.traede_support import fast_http

    with running_traede(
        warehouse,
        invoices=70,
        accounting_entries=20,
        faults=spec,
        http=fast_http(max_attempts=3, max_retry_wait=5),
    ) as t:
        result = run_traede(t.settings, warehouse, SyncOptions())
        assert isinstance(result.error, error), result.error
        assert result.exit_code == result.error.exit_code != 0
        assert "invoices" in str(result.error)
        assert t.state.violations == []
        # the other resource still loaded and was marked; invoices were not marked
        assert staging_ids(db, "accounting_entries") == set(
            expected_ids(t.state, "accounting_entries")
        )
        assert not t.state.marks("invoices")
        t.state.set_faults(None)
        again = run_traede(t.settings, warehouse, SyncOptions())
        assert again.exit_code == EXIT_OK, again.reason
        assert_invariants(db, t.state, ALL)


def test_slow_reply_beyond_timeout_is_retried(warehouse: Warehouse, db) -> None:
    from tests.integration.traede_support import fast_http

    with running_traede(
        warehouse,
        accounting_entries=30,
        faults="accounting_entries.export:slow@calls=1,delay=2",
        http=fast_http(timeout=1.0),
    ) as t:
        result = run_traede(t.settings, warehouse, SyncOptions(resources=("accounting_entries",)))
        assert result.exit_code == EXIT_OK
        assert result.total("retries") >= 1
        assert_invariants(db, t.state, ("accounting_entries",))
