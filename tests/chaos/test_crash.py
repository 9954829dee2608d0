"""Crash suite: the real ``connector sync traede`` process is SIGKILLed again and again, at
seeded random moments and at chosen points (mid-fetch, mid-COPY, mid-transaction, after a
commit, after the whole load and before marking, mid-marking), then one clean run; the
invariants of docs/architecture.md §4 must hold. The harness is ``bench/chaos.py`` (the long soak is
``python -m bench chaos --kills 500``).
"""

import psycopg
import pytest

from bench.chaos import POINTS, RESOURCES, SYSTEM_ID, Soak, SoakConfig, eligible_ids, summary
from connector.warehouse import Warehouse
from tests.integration.traede_support import (
    assert_staging_matches,
    marked_ids,
    outbox_states,
    staging_ids,
)

pytestmark = [pytest.mark.chaos, pytest.mark.integration]
KILLS = 32


def test_sigkill_at_random_and_chosen_points_loses_nothing(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    config = SoakConfig(kills=KILLS, seed=20260521)
    with Soak(config, warehouse.dsn) as soak:
        report = soak.run()
        print(summary(report))
        assert report.ok, summary(report)
        assert report.kills >= KILLS
        # The chosen points were reached: every point killed at least once except those whose
        # window is a few milliseconds wide, and the load and mark phases were both hit.
        assert len(report.kill_points) >= len(POINTS) - 1, report.kill_points
        phases = " ".join(report.phases_at_kill)
        assert "loading" in phases or "fetching" in phases, report.phases_at_kill
        assert "marking" in phases, report.phases_at_kill
        state = soak.state
        assert state.violations == []
        for resource in RESOURCES:
            ids = sorted(eligible_ids(state, resource))
            assert_staging_matches(db, state, resource, ids)
            assert marked_ids(state, resource, SYSTEM_ID) == staging_ids(db, resource)
        assert set(outbox_states(db)) == {"acked"}
        assert db.execute("SELECT count(*) FROM connector.rejects").fetchone() == (0,)
        statuses = dict(
            db.execute("SELECT status, count(*) FROM connector.sync_runs GROUP BY 1").fetchall()
        )
        assert "running" not in statuses
        # Each killed run that got as far as its run row was marked abandoned by a later run.
        assert statuses.get("abandoned", 0) == report.abandoned_runs >= KILLS // 2
        row = db.execute(
            "SELECT error FROM connector.sync_runs WHERE status = 'abandoned' LIMIT 1"
        ).fetchone()
        assert row is not None and "killed or crashed" in row[0]
