"""The Dagster definitions: every name users rely on (README, "Environment"), the schedule, loading with
no environment, and a run with missing variables failing with a message naming them.
"""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from connector.errors import ConfigError
from connector.sources.traede.endpoints import RESOURCES as TRAEDE_ENDPOINT_RESOURCES
from connector.tables.registry import STREAMS, resources, stream, streams
from dagster_defs.definitions import SECRET_FIELDS, build_definitions, defs
from dagster_defs.resources import TraedeApiResource, WarehouseResource, XeroApiResource

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ASSETS = {
    "traede/invoices",
    "traede/credit_notes",
    "traede/accounting_entries",
    "traede/invoices_marked",
    "traede/credit_notes_marked",
    "traede/accounting_entries_marked",
    "xero/credit_notes",
    "unleashed/credit_notes",
    "analytics/credit_notes",
}


def _failure_messages(result: dg.ExecuteInProcessResult) -> str:
    return " ".join(
        str(e.step_failure_data.error)
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    )


def test_definitions_name_every_asset_job_check_and_schedule() -> None:
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert keys == ASSETS
    for name in ("traede_sync", "xero_sync", "unleashed_sync", "nightly_sync_job"):
        assert repo.has_job(name), name
    assert defs.resolve_schedule_def("nightly_sync").cron_schedule == "0 2 * * *"

    checks = {(k.asset_key.to_user_string(), k.name) for k in repo.asset_graph.asset_check_keys}
    for resource in ("invoices", "credit_notes", "accounting_entries"):
        for name in (
            "rejects_in_last_run",
            "freshness",
            "no_new_unmapped_source_keys",
            "every_document_has_an_outbox_row",
            "every_outbox_row_has_its_document",
        ):
            assert (f"traede/{resource}", name) in checks
        assert (f"traede/{resource}", "primary_key_unique") not in checks  # could never fail
        has_lines = resource != "accounting_entries"
        assert ((f"traede/{resource}", "every_line_has_its_document") in checks) == has_lines
        assert (f"traede/{resource}_marked", "outbox_drained") in checks
    assert ("traede/invoices", "reconciles") in checks
    assert ("traede/credit_notes", "reconciles") in checks
    assert ("traede/accounting_entries", "reconciles") not in checks
    for source in ("xero", "unleashed"):
        for name in (
            "rejects_in_last_run",
            "freshness",
            "no_new_unmapped_source_keys",
            "every_line_has_its_document",
        ):
            assert (f"{source}/credit_notes", name) in checks
        assert (f"{source}/credit_notes", "every_document_has_an_outbox_row") not in checks
    assert ("xero/credit_notes", "reconciles") in checks
    assert ("unleashed/credit_notes", "reconciles") in checks

    graph = repo.asset_graph
    marked = graph.get(dg.AssetKey(["traede", "invoices_marked"]))
    assert marked.parent_keys == {dg.AssetKey(["traede", "invoices"])}
    analytics = graph.get(dg.AssetKey(["analytics", "credit_notes"]))
    assert analytics.parent_keys == {
        dg.AssetKey(["traede", "credit_notes"]),
        dg.AssetKey(["xero", "credit_notes"]),
        dg.AssetKey(["unleashed", "credit_notes"]),
    }
    for key in ASSETS:
        node = graph.get(dg.AssetKey(key.split("/")))
        assert node.group_name == key.split("/")[0]

    traede_job = defs.resolve_job_def("traede_sync")
    in_job = {k.to_user_string() for k in traede_job.asset_layer.executable_asset_keys}
    assert in_job == {k for k in ASSETS if k.startswith("traede/")}
    load_policy = graph.get(dg.AssetKey(["traede", "invoices"])).assets_def.op.retry_policy
    assert load_policy is not None and load_policy.max_retries <= 2
    assert marked.assets_def.op.retry_policy is None  # mark steps are never retried by Dagster


def test_assets_and_checks_follow_the_stream_registry() -> None:
    """Every registry stream has its asset (and mark step), its table schema and its checks."""
    assert resources("traede") == TRAEDE_ENDPOINT_RESOURCES  # registry and client agree
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    keys = {"analytics/credit_notes"}
    for s in STREAMS:
        keys.add(s.name)
        if s.marks:
            keys.add(f"{s.name}_marked")
            assert (f"{s.name}_marked", "outbox_drained") in checks
        has_rules = (s.name, "reconciles") in checks
        assert has_rules == bool(s.rules)
        node = graph.get(dg.AssetKey([s.system, s.resource]))
        assert s.header.name in (node.description or "")
    assert keys == ASSETS
    assert stream("xero", "credit_notes").lines is not None
    assert [t.table for t in stream("xero", "credit_notes").children] == [
        "xero_credit_note_lines",
        "xero_credit_note_line_tracking",
        "xero_credit_note_allocations",
        "xero_credit_note_payments",
    ]
    assert stream("traede", "accounting_entries").lines is None
    with pytest.raises(KeyError, match="known: invoices, credit_notes, accounting_entries"):
        stream("traede", "orders")
    with pytest.raises(KeyError, match="unknown system 'shopify'"):
        streams("shopify")


def test_nightly_sync_schedule_runs_every_source_at_two() -> None:
    schedule = defs.resolve_schedule_def("nightly_sync")
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == "nightly_sync_job"
    when = datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=when) as context:
        data = schedule.evaluate_tick(context)
    assert data.run_requests is not None and len(data.run_requests) == 1
    job = defs.resolve_job_def("nightly_sync_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == ASSETS

    local = build_definitions(timezone="Europe/Copenhagen").resolve_schedule_def("nightly_sync")
    assert local.execution_timezone == "Europe/Copenhagen"


def test_definitions_load_with_no_environment(tmp_path: Path) -> None:
    keep = {"PATH", "HOME", "LANG", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["DAGSTER_HOME"] = str(tmp_path)
    code = (
        "from dagster_defs.definitions import defs\n"
        "repo = defs.get_repository_def()\n"
        "print(len(repo.get_all_jobs()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "TRAEDE" not in done.stderr


def test_traede_sync_without_secrets_is_refused_at_launch_naming_them() -> None:
    # The secrets are EnvVar-backed: Dagster refuses to launch and names the variable.
    job = defs.resolve_job_def("traede_sync")
    with pytest.raises(dg.DagsterInvalidConfigError, match="TRAEDE_API_TOKEN"):
        job.execute_in_process(raise_on_error=False)


def test_traede_sync_without_other_variables_fails_naming_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRAEDE_API_TOKEN", "tok")
    monkeypatch.setenv("TRAEDE_APP_KEY", "key")
    result = defs.resolve_job_def("traede_sync").execute_in_process(raise_on_error=False)
    assert not result.success
    message = _failure_messages(result)
    assert "TRAEDE_SYSTEM_ID" in message and "ConfigError" in message
    assert "TRAEDE_API_TOKEN" not in message
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retries == []  # a configuration error is not retried


def test_xero_sync_without_variables_fails_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XERO_CLIENT_SECRET", "secret")
    result = defs.resolve_job_def("xero_sync").execute_in_process(raise_on_error=False)
    assert not result.success
    assert "XERO_CLIENT_ID" in _failure_messages(result)


def test_resources_read_variables_at_run_time_and_fields_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resource = TraedeApiResource()
    with pytest.raises(ConfigError) as caught:
        resource.settings()
    assert caught.value.variable == "TRAEDE_API_TOKEN, TRAEDE_APP_KEY, TRAEDE_SYSTEM_ID"

    monkeypatch.setenv("TRAEDE_API_TOKEN", "env-token")
    monkeypatch.setenv("TRAEDE_APP_KEY", "env-key")
    monkeypatch.setenv("TRAEDE_SYSTEM_ID", "env-system")
    monkeypatch.setenv("TRAEDE_VERIFY_TLS", "false")
    settings = resource.settings()
    assert settings.api_token.reveal() == "env-token"
    assert settings.base_url == "https://api.traede.com"
    assert settings.http.verify_tls is False
    assert "env-token" not in repr(settings)

    explicit = TraedeApiResource(system_id="field-system", mark_concurrency=7, verify_tls=True)
    settings = explicit.settings()
    assert (settings.system_id, settings.mark_concurrency) == ("field-system", 7)
    assert settings.http.verify_tls is True

    with pytest.raises(ConfigError) as caught:
        XeroApiResource(client_id="id").settings()
    assert caught.value.variable == "XERO_CLIENT_SECRET"

    monkeypatch.setenv("DATABASE_URL", "mysql://nope")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        WarehouseResource().settings()
    url = "postgresql://u:p@127.0.0.1:5/db"
    assert WarehouseResource(database_url=url).settings().database_url is not None


def test_resources_hold_no_secret_in_definitions() -> None:
    """The deployed resources carry no value: secrets are EnvVar references (``{"env": NAME}``)
    and every other field is unset, so nothing from the environment shows in the UI.
    """
    resources = defs.resources or {}
    assert set(resources) == {"traede", "xero", "unleashed", "warehouse"}
    for name, resource in resources.items():
        config = resource._convert_to_config_dictionary()
        secrets = SECRET_FIELDS.get(name, {})
        assert config == {field: {"env": var} for field, var in secrets.items()}, name
