"""The benchmark harness end to end at 1% of workload S: every peer runs and the result JSON is
sane (documents loaded equal the workload, rows written). No timing is asserted (docs/architecture.md §7).
"""

import json
from pathlib import Path

import pytest

from bench import harness
from bench.__main__ import main
from bench.workloads import SMOKE

pytestmark = pytest.mark.integration


def test_bench_smoke_produces_sane_results(
    pg_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", pg_server_url)
    monkeypatch.setattr(harness, "WORK_DIR", tmp_path / "work")
    out = tmp_path / "results"

    assert main(["smoke", "--out", str(out)]) == 0

    result = json.loads((out / "latest.json").read_text())
    assert result == json.loads((out / "latest-smoke.json").read_text())
    expected = SMOKE.exported()
    total = sum(expected.values())
    assert result["expected_documents"] == expected
    assert result["emulator"]["pages"] > 0
    assert result["emulator"]["ceiling_docs_per_s"] > 0

    peers = result["peers"]
    assert set(peers) == {"connector", "dlt", "raw"}
    load, mark = peers["connector"]["load"], peers["connector"]["mark"]
    assert load["returncode"] == 0, load.get("log_tail")
    assert load["status"] == "succeeded"
    assert load["fetched"] == load["inserted"] == total
    assert load["rows"]["staging.traede_invoices"] == expected["invoices"]
    assert load["rows"]["staging.traede_credit_notes"] == expected["credit_notes"]
    assert load["rows"]["staging.traede_accounting_entries"] == expected["accounting_entries"]
    lines = load["rows"]["staging.traede_invoice_lines"]
    assert lines > expected["invoices"]  # about five lines an invoice
    assert load["peak_rss_mib"] > 0 and load["seconds"] > 0
    assert mark["returncode"] == 0, mark.get("log_tail")
    assert mark["marked"] == total and mark["mark_failed"] == 0
    assert mark["mark_calls"] >= total / 10

    dlt, raw = peers["dlt"], peers["raw"]
    assert "error" not in dlt, dlt.get("error")
    assert dlt["documents"] == total
    assert dlt["rows"]["traede_dlt.invoices__lines"] == lines
    assert "error" not in raw, raw.get("error")
    assert raw["documents"] == total
    assert raw["rows"] == load["rows"]
    assert raw["download_s"] > 0 and raw["copy_s"] > 0

    for ratio in ("dlt_over_connector", "connector_over_raw", "connector_over_ceiling"):
        assert result["ratios"][ratio] > 0
    assert (out / "throughput.png").stat().st_size > 0
    assert (out / "memory.png").stat().st_size > 0
    assert "| connector | load |" in (out / "latest.md").read_text()
