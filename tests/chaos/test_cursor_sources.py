"""Xero and Unleashed under failure mid-crawl: the cursor never moves past rows that are not
committed, so the next run loads everything and staging equals the source exactly.
"""

from datetime import timedelta

import psycopg
import pytest

from connector.config import HttpSettings, Secret, UnleashedSettings, XeroSettings
from connector.emulator.server import EmulatorServer
from connector.emulator.unleashed import create_unleashed_app
from connector.emulator.xero import create_xero_app
from connector.flows.unleashed import sync_unleashed
from connector.flows.xero import sync_xero
from connector.normalize.common import ms_date_to_utc
from connector.sources.unleashed.client import UnleashedClient
from connector.sources.xero.client import XeroClient
from connector.warehouse import Warehouse

pytestmark = pytest.mark.chaos
ONE_TRY = HttpSettings(timeout=5.0, max_attempts=1, max_retry_wait=0.0)
HEALTHY = HttpSettings(timeout=5.0, max_attempts=3, max_retry_wait=5.0)


def _cursor(db: psycopg.Connection, source: str, scope: str):
    row = db.execute(
        "SELECT cursor_value FROM connector.cursors WHERE source = %s AND scope = %s",
        (source, scope),
    ).fetchone()
    return None if row is None else row[0]


def _xero(url: str, http: HttpSettings) -> XeroSettings:
    return XeroSettings(
        base_url=f"{url}/api.xro/2.0",
        token_url=f"{url}/connect/token",
        client_id="xero-client",
        client_secret=Secret("xero-secret"),
        tenant_ids=("t-1",),
        http=http,
        cursor_overlap=timedelta(minutes=10),
    )


@pytest.mark.parametrize("failing_call", [2, 4, 6])
def test_xero_failure_mid_crawl_never_skips_past_uncommitted_rows(
    warehouse: Warehouse, db: psycopg.Connection, failing_call: int
) -> None:
    app, state = create_xero_app(seed=11, tenants=("t-1",), count=260, include_examples=False)
    with EmulatorServer(app) as server:
        state.inject("t-1", failing_call, "500")
        settings = _xero(server.url, ONE_TRY)
        broken = sync_xero(settings, warehouse, client=XeroClient(settings, page_size=50))
        assert broken.error is not None and broken.exit_code != 0
        committed = db.execute(
            "SELECT max(updated_date_utc), count(*) FROM staging.xero_credit_notes"
        ).fetchone()
        cursor = _cursor(db, "xero", "t-1")
        # The cursor covers exactly what committed: never beyond the newest committed row.
        assert cursor == committed[0]
        healthy = _xero(server.url, HEALTHY)
        assert (
            sync_xero(healthy, warehouse, client=XeroClient(healthy, page_size=50)).exit_code == 0
        )
        source = {r["CreditNoteID"]: r for r in state.records("t-1")}
        staged = dict(
            db.execute(
                "SELECT credit_note_id::text, updated_date_utc FROM staging.xero_credit_notes"
            )
        )
        assert set(staged) == set(source)
        for note_id, updated in staged.items():
            assert updated == ms_date_to_utc(source[note_id]["UpdatedDateUTC"], "UpdatedDateUTC")


@pytest.mark.parametrize("failing_call", [2, 3])
def test_unleashed_failure_mid_crawl_keeps_the_cursor_until_every_page_is_in(
    warehouse: Warehouse, db: psycopg.Connection, failing_call: int
) -> None:
    app, state = create_unleashed_app(seed=11, count=240, api_id="id", api_key="key")
    with EmulatorServer(app) as server:
        settings = UnleashedSettings(
            base_url=server.url, api_id="id", api_key=Secret("key"), client_type="t/t", http=ONE_TRY
        )
        first = sync_unleashed(settings, warehouse, client=UnleashedClient(settings, page_size=100))
        assert first.exit_code == 0
        before = _cursor(db, "unleashed", "")
        # Newer edits arrive; the next crawl fails part-way (newest first: page 1 is the newest).
        for note in state.records()[-30:]:
            state.edit(note["CreditNumber"], {"Comments": "edited after the first run"})
        state.fail_call(len(state.calls) + failing_call, 500)
        broken = sync_unleashed(settings, warehouse, client=UnleashedClient(settings, page_size=10))
        assert broken.error is not None
        assert _cursor(db, "unleashed", "") == before, "cursor moved before every page was in"
        healthy = UnleashedSettings(
            base_url=server.url, api_id="id", api_key=Secret("key"), client_type="t/t", http=HEALTHY
        )
        assert (
            sync_unleashed(
                healthy, warehouse, client=UnleashedClient(healthy, page_size=10)
            ).exit_code
            == 0
        )
        comments = dict(
            db.execute("SELECT credit_number, comments FROM staging.unleashed_credit_notes")
        )
        source = {r["CreditNumber"]: r for r in state.records()}
        assert set(comments) == set(source)
        assert all(comments[k] == source[k].get("Comments") for k in source)
        assert _cursor(db, "unleashed", "") > before
