"""Faults during a run: every emulator fault at about 10% of calls, mixed. Each run completes
with the invariants intact, or fails with a clear typed error and a later run completes; the
wall time of every run stays under a bound computed from the faults that fired. A 401 in the
middle of a run stops the real CLI with exit code 4 and a message naming the variables.
"""

import os
import subprocess
import sys
import time
from collections import Counter

import psycopg
import pytest

from connector.config import HttpSettings
from connector.errors import ConnectorError
from connector.flows.results import EXIT_OK
from connector.flows.traede import SyncOptions, run_traede
from connector.sources.traede.client import TraedeClient
from connector.warehouse import Warehouse
from tests.integration.traede_support import (
    APP_KEY,
    SYSTEM_ID,
    TOKEN,
    assert_invariants,
    assert_staging_matches,
    expected_ids,
    running_traede,
)

pytestmark = [pytest.mark.chaos, pytest.mark.integration]
ALL = ("invoices", "credit_notes", "accounting_entries")

SLOW = 0.2
RETRY_AFTER = 0.2
# Every kind of fault the emulator has, each at about 10% of the calls it can hit.
MIXED = ";".join(
    [
        f"*:429@p=0.1,retry_after={RETRY_AFTER}",
        "*:500@p=0.04",
        "*:502@p=0.03",
        "*:503@p=0.03",
        f"*:slow@p=0.1,delay={SLOW}",
        "*:drop@p=0.1",
        "*:truncate@p=0.1",
        "*:html@p=0.1",
        "*.export:wrong_root@p=0.1",
        "*.mark:mark_fail_ids@p=0.5,fraction=0.2",
        "credit_notes.export:page_cap@cap=25",
    ]
)
HTTP = HttpSettings(timeout=3.0, max_retry_wait=8.0, max_attempts=5)
# What one fault can cost at most with HTTP above: a 429 waits Retry-After plus 0.25s of
# jitter, a slow reply its delay, anything else one backoff (<= 0.5 * 2**attempt s; a call
# that fails on consecutive attempts is bounded by max_retry_wait as a whole).
PER_FAULT = max(RETRY_AFTER + 0.25, SLOW, 1.0)


def _fired(log: list[dict]) -> Counter:
    return Counter(c["fault"] for c in log if c["fault"])


def test_every_fault_at_ten_percent_mixed_keeps_invariants_and_bounded_time(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    with running_traede(
        warehouse, invoices=360, credit_notes=120, accounting_entries=360, http=HTTP
    ) as t:
        # A clean reference run over the same shape of data gives the base time.
        clean_started = time.monotonic()
        reference = run_traede(t.settings, warehouse, SyncOptions(mark=False))
        base = time.monotonic() - clean_started
        assert reference.exit_code == EXIT_OK
        with warehouse.connect(autocommit=True) as conn:
            conn.execute(
                "TRUNCATE staging.traede_invoices, staging.traede_invoice_lines, "
                "staging.traede_credit_notes, staging.traede_credit_note_lines, "
                "staging.traede_accounting_entries, connector.export_outbox"
            )
        from connector.emulator.faults import FaultPlan

        t.state.set_faults(FaultPlan.parse(MIXED, seed=7))
        t.state.reset_calls()
        fired_total: Counter = Counter()
        plan = t.state.faults
        runs = []
        for attempt in range(1, 9):
            client = TraedeClient(t.settings)
            started = time.monotonic()
            try:
                result = run_traede(t.settings, warehouse, SyncOptions(), client=client)
            finally:
                client.close()
            wall = time.monotonic() - started
            with t.state.lock:
                log = list(t.state.call_log)
                calls = sum(t.state.calls.values())
            assert len(log) == calls, "call log overflowed; use fewer documents"
            fired = _fired(log)
            fired_total += fired
            t.state.reset_calls()
            # Bounded waiting: everything a clean run needs, plus a fixed cost per fault.
            bound = 3 * base + 5.0 + PER_FAULT * sum(fired.values())
            runs.append((attempt, result.exit_code, round(wall, 1), round(bound, 1), calls))
            assert wall < bound, runs
            assert client.stats.waited <= client.stats.retries * HTTP.max_retry_wait
            assert t.state.violations == [], t.state.violations
            if result.error is not None:
                # A failed run says what failed, where, in one line, as a typed error.
                assert isinstance(result.error, ConnectorError)
                assert result.reason and "\n" not in result.reason
                assert result.error.exit_code in (3, 5), result.reason
            if result.exit_code == EXIT_OK:
                break
        assert result.exit_code == EXIT_OK, runs
        # Per rule, including the modifiers (slow, mark_fail_ids) the call log does not name.
        per_rule = Counter()
        for rule, count in zip(plan.rules, plan._fired, strict=True):
            per_rule[rule.kind] += count
        print(f"runs (attempt, exit, wall s, bound s, calls): {runs}; faults fired: {per_rule}")
        kinds = {"429", "500", "502", "503", "drop", "truncate", "html", "wrong_root"}
        assert kinds <= set(fired_total), fired_total
        assert kinds | {"slow", "mark_fail_ids", "page_cap"} <= set(+per_rule), per_rule
        for resource in ALL:
            assert_staging_matches(db, t.state, resource, expected_ids(t.state, resource))
        assert_invariants(db, t.state, ALL)


def _cli_env(url: str, dsn: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "TRAEDE_"))}
    env.update(
        TRAEDE_BASE_URL=url,
        TRAEDE_API_TOKEN=TOKEN,
        TRAEDE_APP_KEY=APP_KEY,
        TRAEDE_SYSTEM_ID=SYSTEM_ID,
        DATABASE_URL=dsn,
        CONNECTOR_BATCH_SIZE="50",
        CONNECTOR_MAX_ATTEMPTS="3",
        CONNECTOR_MAX_RETRY_WAIT="3",
    )
    return env


def _sync(url: str, dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", "sync", "traede", "--no-progress"],
        env=_cli_env(url, dsn),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "spec",
    ["invoices.export:unauthorized@calls=3", "invoices.mark:unauthorized@calls=2"],
    ids=["401 while exporting", "401 while marking"],
)
def test_401_mid_run_stops_the_cli_with_exit_4_naming_the_variables(
    warehouse: Warehouse, db: psycopg.Connection, spec: str
) -> None:
    with running_traede(
        warehouse, invoices=300, accounting_entries=50, faults=spec, http=HTTP
    ) as t:
        done = _sync(t.server.url, warehouse.dsn)
        assert done.returncode == 4, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        endpoint = spec.split(":")[0]
        assert last.startswith(f"error: traede/{endpoint}: 401 client error"), last
        assert "TRAEDE_API_TOKEN" in last and "TRAEDE_APP_KEY" in last
        for secret in (TOKEN, APP_KEY):
            assert secret not in done.stdout + done.stderr
        assert t.state.violations == []
        # Nothing of invoices was marked past the refusal that was not committed; the run row
        # says failed with the same reason.
        row = db.execute("SELECT status, error FROM connector.sync_runs").fetchone()
        assert row is not None and row[0] == "failed" and "401" in row[1]
        t.state.set_faults(None)
        again = _sync(t.server.url, warehouse.dsn)
        assert again.returncode == 0, again.stderr
        assert_invariants(db, t.state, ALL)
