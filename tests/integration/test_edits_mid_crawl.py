"""Edits (and Unleashed deletions) while the connector pages: the emulators' mid-crawl modes
change records already served between page requests, as the real servers do; every record
still ends in staging in its latest version, and no cursor passes a record that was not loaded
(docs/architecture.md §4, invariant 9).
"""

import math
from datetime import timedelta

import psycopg
import pytest

from connector.config import HttpSettings, Secret, UnleashedSettings, XeroSettings
from connector.emulator.server import EmulatorServer
from connector.emulator.unleashed import create_unleashed_app
from connector.emulator.unleashed_state import UnleashedState
from connector.emulator.xero import create_xero_app
from connector.emulator.xero_state import XeroState
from connector.flows.unleashed import sync_unleashed
from connector.flows.xero import sync_xero
from connector.normalize.common import ms_date_to_utc
from connector.sources.unleashed.client import UnleashedClient
from connector.sources.xero.client import XeroClient
from connector.warehouse import Warehouse

pytestmark = pytest.mark.integration
HTTP = HttpSettings(timeout=10.0, max_attempts=3, max_retry_wait=5.0)


def _xero_settings(url: str, tenants: tuple[str, ...] = ("t-1",)) -> XeroSettings:
    return XeroSettings(
        base_url=f"{url}/api.xro/2.0",
        token_url=f"{url}/connect/token",
        client_id="xero-client",
        client_secret=Secret("xero-secret"),
        tenant_ids=tenants,
        http=HTTP,
        cursor_overlap=timedelta(minutes=10),
    )


def _cursor(db: psycopg.Connection, source: str, scope: str):
    row = db.execute(
        "SELECT cursor_value FROM connector.cursors WHERE source = %s AND scope = %s",
        (source, scope),
    ).fetchone()
    return None if row is None else row[0]


def _xero_latest(db: psycopg.Connection, state: XeroState, tenant: str) -> None:
    """Staging holds every note of the emulator, each with its latest Reference and time."""
    source = {
        r["CreditNoteID"]: (r.get("Reference"), ms_date_to_utc(r["UpdatedDateUTC"], "u"))
        for r in state.records(tenant)
    }
    staged = {
        str(cid): (ref, updated)
        for cid, ref, updated in db.execute(
            "SELECT credit_note_id, reference, updated_date_utc FROM staging.xero_credit_notes "
            "WHERE tenant_id = %s",
            (tenant,),
        )
    }
    missing = set(source) - set(staged)
    assert not missing, f"{len(missing)} note(s) never loaded"
    stale = [cid for cid in source if staged[cid] != source[cid]]
    assert not stale, f"{len(stale)} note(s) not in their latest version"
    assert _cursor(db, "xero", tenant) == max(updated for _, updated in source.values())


def test_xero_full_and_incremental_sync_under_edits_mid_crawl_miss_nothing(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    app, state = create_xero_app(
        seed=21, tenants=("t-1",), count=300, include_examples=False, edit_mid_crawl=1
    )
    with EmulatorServer(app) as server:
        settings = _xero_settings(server.url)
        full = sync_xero(settings, warehouse, client=XeroClient(settings, page_size=25))
        assert full.exit_code == 0, full.reason
        _xero_latest(db, state, "t-1")
        assert len(state.mid_crawl_edits) >= 11  # one edit of a served note before each page
        # Between runs: 40 notes change; then the incremental run pages under edits again.
        for record in state.records("t-1")[:40]:
            state.put("t-1", {"CreditNoteID": record["CreditNoteID"], "Reference": "between"})
        edits_before = len(state.mid_crawl_edits)
        incremental = sync_xero(settings, warehouse, client=XeroClient(settings, page_size=10))
        assert incremental.exit_code == 0, incremental.reason
        assert len(state.mid_crawl_edits) - edits_before >= 4
        _xero_latest(db, state, "t-1")


def test_xero_full_sync_costs_ceil_n_over_1000_plus_one_calls(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    app, state = create_xero_app(seed=22, tenants=("t-1",), count=2500, include_examples=False)
    with EmulatorServer(app) as server:
        settings = _xero_settings(server.url)
        result = sync_xero(settings, warehouse)
        assert result.exit_code == 0 and result.total("fetched") == 2500
        calls = state.snapshot()["tenants"]["t-1"]["calls"]
        assert calls <= math.ceil(2500 / 1000) + 1
        pages = [(r["page"], r["if_modified_since"]) for r in state.requests]
        assert [p for p, _ in pages] == ["1"] * calls
        assert pages[0][1] is None and all(since for _, since in pages[1:])


def _unleashed(url: str) -> UnleashedSettings:
    return UnleashedSettings(
        base_url=url,
        api_id="id",
        api_key=Secret("key"),
        client_type="t/edits",
        http=HTTP,
        cursor_overlap=timedelta(minutes=10),
    )


def _unleashed_run(url: str, warehouse: Warehouse, page_size: int = 20):
    settings = _unleashed(url)
    client = UnleashedClient(settings, page_size=page_size)
    return sync_unleashed(settings, warehouse, client=client)


def _unleashed_never_passed(db: psycopg.Connection, state: UnleashedState) -> None:
    """Every note is in staging in its latest version, or newer than the cursor (next run)."""
    cursor = _cursor(db, "unleashed", "")
    staged = dict(
        db.execute("SELECT credit_number, last_modified_on FROM staging.unleashed_credit_notes")
    )
    for note in state.ordered():
        if staged.get(note.credit_number) != note.modified:
            assert note.credit_number in staged or note.modified > cursor, note.credit_number
            assert note.modified > cursor, f"{note.credit_number}: the cursor passed it"


def test_unleashed_sync_under_edits_and_deletions_mid_crawl_skips_nothing(
    warehouse: Warehouse, db: psycopg.Connection
) -> None:
    app, state = create_unleashed_app(
        seed=23, count=250, api_id="id", api_key="key", edit_mid_crawl=1, delete_mid_crawl=4
    )
    with EmulatorServer(app) as server:
        full = _unleashed_run(server.url, warehouse)
        assert full.exit_code == 0, full.reason
        assert len(state.mid_crawl_deletes) == 4 and state.mid_crawl_edits
        _unleashed_never_passed(db, state)
        for note in state.ordered()[100:130]:
            state.edit(note.credit_number, {"Comments": "between runs"})
        with state.lock:
            state.delete_mid_crawl = 2
        incremental = _unleashed_run(server.url, warehouse, page_size=5)
        assert incremental.exit_code == 0, incremental.reason
        assert len(state.mid_crawl_deletes) == 6
        _unleashed_never_passed(db, state)
        # Quiet again: one more run and staging holds every note's latest version; the deleted
        # ones stay in staging (Unleashed leaves no trace of them, docs/apis.md §3.4).
        with state.lock:
            state.edit_mid_crawl = 0
        assert _unleashed_run(server.url, warehouse).exit_code == 0
        staged = dict(
            db.execute("SELECT credit_number, comments FROM staging.unleashed_credit_notes")
        )
        source = {n["CreditNumber"]: n.get("Comments") for n in state.records()}
        assert {k: staged[k] for k in source} == source
        assert set(staged) - set(source) == set(state.mid_crawl_deletes)
