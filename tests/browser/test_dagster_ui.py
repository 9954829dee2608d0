"""The Dagster UI in headless Chromium: the asset graph shows the TRAEDE assets and their mark
steps, and a ``traede_sync`` backfill launched from the Launchpad succeeds against the emulator
and a real Postgres. Screenshots go to the test's temporary directory; with
``--update-docs-images`` (``scripts/refresh-docs-images``) they also replace ``docs/img/``.
Chromium is ``$TEST_CHROMIUM`` or ``chromium`` on the PATH (``scripts/test`` installs it).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from connector.warehouse.engine import libpq_dsn
from dagster_defs.definitions import defs
from tests.integration.traede_support import (
    APP_KEY,
    SYSTEM_ID,
    TOKEN,
    expected_ids,
    marked_ids,
    running_traede,
)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCATION = "accounting_export_connector"  # workspace.yaml location_name
DOCS_IMG = REPO / "docs" / "img"
RESOURCES = ("invoices", "credit_notes", "accounting_entries")
FAST_EXECUTION = "execution:\n  config:\n    in_process: {}\n"
# Runs launch at once (no daemon needed for a queue); no telemetry from a test.
INSTANCE_YAML = """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
"""


def _check_count(asset: list[str]) -> int:
    """How many asset checks the definitions attach to ``asset`` (the UI shows "n / n Passed")."""
    keys = defs.get_repository_def().asset_graph.asset_check_keys
    return sum(1 for key in keys if key.asset_key.path == asset)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())


def _graphql(base: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        f"{base}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data


def _dismiss_popups(page: Any) -> None:
    """Close the "Join the Dagster community" dialog a fresh instance shows once."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=3000)
    except Exception:  # not shown: nothing to close
        return
    skip.click()


def _chromium() -> str:
    """The Chromium binary: ``$TEST_CHROMIUM``, else ``chromium`` on the PATH. Never skipped."""
    found = os.environ.get("TEST_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail("chromium is missing: run the suite with scripts/test, which installs it")
    return found


@pytest.fixture
def save(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """Save a screenshot under tmp_path (and into docs/img/ with --update-docs-images)."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    update = bool(request.config.getoption("--update-docs-images"))

    def save_page(page: Any, name: str) -> None:
        page.screenshot(path=str(shots / name))
        if update:
            shutil.copy(shots / name, DOCS_IMG / name)

    return save_page


@pytest.fixture
def webserver(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """``dagster-webserver -w workspace.yaml`` wired to a TRAEDE emulator and the test database."""
    with running_traede(None, invoices=30, credit_notes=10, accounting_entries=20) as t:
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(INSTANCE_YAML)
        port = _free_port()
        env = dict(os.environ)
        env.update(
            DAGSTER_HOME=str(home),
            DATABASE_URL=pg_url,
            TRAEDE_BASE_URL=t.server.url,
            TRAEDE_API_TOKEN=TOKEN,
            TRAEDE_APP_KEY=APP_KEY,
            TRAEDE_SYSTEM_ID=SYSTEM_ID,
        )
        command = [
            str(Path(sys.executable).with_name("dagster-webserver")),
            "-w",
            str(REPO / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ]
        log = (tmp_path / "webserver.log").open("wb")
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"dagster-webserver exited: {(tmp_path / 'webserver.log').read_text()}"
                    )
                try:
                    _get(f"{base}/server_info", timeout=2)
                    break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    if time.monotonic() > deadline:
                        pytest.fail("dagster-webserver did not answer /server_info within 90 s")
                    time.sleep(0.5)
            yield base, t
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            log.close()


def _run_status(base: str, run_id: str) -> str:
    data = _graphql(
        base,
        "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }",
        {"id": run_id},
    )
    return str(data["data"]["runOrError"].get("status", ""))


def test_dagster_ui_shows_assets_and_runs_a_backfill(
    webserver: tuple[str, Any], pg_url: str, save: Any, tmp_path: Path
) -> None:
    base, traede = webserver
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    since = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ops = "\n".join(
        f"  traede__{r}:\n    config:\n      not_exported_since: '{since}'\n"
        f"      include_non_booked: false\n"
        f"  traede__{r}_marked:\n    config:\n      mark_concurrency: 4"
        for r in RESOURCES
    )
    config_yaml = f"ops:\n{ops}\n"

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = None
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(30_000)

            # The asset graph of the traede group: three staging assets and their mark steps.
            page.goto(f"{base}/locations/{LOCATION}/asset-groups/traede")
            _dismiss_popups(page)
            for resource in RESOURCES:
                page.get_by_text(f"{resource}_marked", exact=True).first.wait_for()
                page.get_by_text(resource, exact=True).first.wait_for()

            # The Launchpad with a backfill's config (not_exported_since), then Launch Run.
            query = urllib.parse.urlencode({"config": config_yaml})
            page.goto(f"{base}/locations/{LOCATION}/jobs/traede_sync/playground/setup?{query}")
            _dismiss_popups(page)
            page.get_by_text("not_exported_since").first.wait_for()
            launch = page.get_by_role("button", name="Launch Run")
            launch.wait_for()
            page.wait_for_timeout(1500)  # config validation runs in the background
            save(page, "dagster-launchpad-backfill.png")
            # Launch the same config with the in-process executor: one process instead of one
            # per step keeps this test near a minute on a small CI machine.
            fast = urllib.parse.urlencode({"config": FAST_EXECUTION + config_yaml})
            page.goto(f"{base}/locations/{LOCATION}/jobs/traede_sync/playground/setup?{fast}")
            _dismiss_popups(page)  # the community dialog may come up late, over this page
            page.get_by_text("in_process").first.wait_for()
            launch = page.get_by_role("button", name="Launch Run")
            page.wait_for_timeout(1000)
            launch.click()
            page.wait_for_url("**/runs/**", timeout=60_000)
            run_id = page.url.rstrip("/").split("/runs/")[1].split("?")[0].split("/")[0]

            deadline = time.monotonic() + 150
            status = _run_status(base, run_id)
            while status not in ("SUCCESS", "FAILURE", "CANCELED"):
                if time.monotonic() > deadline:
                    pytest.fail(f"run {run_id} still {status} after 150 s")
                time.sleep(1)
                status = _run_status(base, run_id)
            page.reload()
            page.get_by_text("Success").first.wait_for()
            page.wait_for_timeout(1000)
            save(page, "dagster-run-success.png")
            assert status == "SUCCESS", f"run {run_id} ended {status}"

            # The graph again, now materialized with its checks passed (the docs' picture).
            page.goto(f"{base}/locations/{LOCATION}/asset-groups/traede")
            page.get_by_text("invoices_marked", exact=True).first.wait_for()
            checks = _check_count(["traede", "invoices"])  # every check of the asset passed
            page.get_by_text(f"{checks} / {checks} Passed").first.wait_for()
            page.wait_for_timeout(1500)  # let the graph finish its layout animation
            save(page, "dagster-asset-graph.png")
        except BaseException:
            if page is not None:
                page.screenshot(path=str(tmp_path / "dagster-ui-failure.png"))
            raise
        finally:
            browser.close()

    with psycopg.connect(libpq_dsn(make_url(pg_url))) as conn:
        tags = conn.execute(
            "SELECT kind, count(*) FROM connector.sync_runs WHERE external_run_id = %s "
            "AND status = 'succeeded' GROUP BY kind",
            (run_id,),
        ).fetchall()
        assert dict(tags) == {"load": 3, "mark": 3}
        loaded = conn.execute("SELECT count(*) FROM staging.traede_invoices").fetchone()
    assert loaded is not None
    assert loaded[0] == len(expected_ids(traede.state, "invoices"))
    for resource in RESOURCES:
        assert marked_ids(traede.state, resource) == set(expected_ids(traede.state, resource))
