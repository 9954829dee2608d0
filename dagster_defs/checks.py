"""Asset checks, derived per stream of the library's registry: primary key unique, rejects in
the last run, freshness, lines sum to header (streams with line totals), and the outbox drained
after each mark step. The SQL lives in ``connector.warehouse.checks``.

Severity is WARN unless a failure means the data or the source is wrong in a way someone must
act on: a duplicated key (the upsert contract is broken) and an undrained outbox (documents
committed here but still "not exported" at TRAEDE) are ERROR. None is blocking: marking is
safe whatever the staging checks say (it reads only the outbox), so blocking it would only
leave documents unacknowledged.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from connector.tables.registry import LineTotals, Stream, streams
from connector.tables.spec import TableSpec
from connector.warehouse import checks as sql_checks
from dagster_defs.failures import typed_failure
from dagster_defs.keys import asset_key, mark_key
from dagster_defs.resources import TraedeApiResource, WarehouseResource

FRESHNESS = timedelta(hours=26)  # nightly at 02:00, plus slack for a slow or retried run
WARN = dg.AssetCheckSeverity.WARN
ERROR = dg.AssetCheckSeverity.ERROR


def primary_key_unique(key: dg.AssetKey, spec: TableSpec) -> dg.AssetChecksDefinition:
    """No key value of ``spec`` is held by two rows."""

    @dg.asset_check(
        asset=key,
        name="primary_key_unique",
        description=f"Every {', '.join(spec.key)} appears once in {spec.name}.",
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with typed_failure(), warehouse.open() as wh, wh.connect() as conn:
            duplicated = sql_checks.duplicate_keys(conn, spec)
        return dg.AssetCheckResult(
            passed=duplicated == 0,
            severity=ERROR,
            metadata={"duplicated_keys": duplicated, "table": spec.name},
        )

    return _check


def rejects_in_last_run(key: dg.AssetKey, source: str, resource: str) -> dg.AssetChecksDefinition:
    """The latest load rejected nothing (rejects stay unexported and visible at the source)."""

    @dg.asset_check(
        asset=key,
        name="rejects_in_last_run",
        description=f"The latest {source}/{resource} load put no record in connector.rejects.",
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with typed_failure(), warehouse.open() as wh, wh.connect() as conn:
            summary = sql_checks.rejects_in_last_run(conn, source, resource)
        reasons = "\n".join(f"- {n}: {reason}" for reason, n in summary.reasons.items())
        return dg.AssetCheckResult(
            passed=summary.count == 0,
            severity=WARN,
            metadata={
                "rejects": summary.count,
                "connector_run_id": summary.run_id or "",
                "reasons": dg.MetadataValue.md(reasons or "_none_"),
            },
        )

    return _check


def lines_sum_to_header(
    key: dg.AssetKey, header: TableSpec, lines: TableSpec, totals: LineTotals
) -> dg.AssetChecksDefinition:
    """Each header total equals the sum of its lines (``totals.pairs`` of header, line columns)."""
    rule = ", ".join(f"{h} = Σ {ln}" for h, ln in totals.pairs)
    where = f" (where {totals.where})" if totals.where else ""

    @dg.asset_check(
        asset=key,
        name="lines_sum_to_header",
        description=f"{header.name}: {rule} over {lines.name}{where}",
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with typed_failure(), warehouse.open() as wh, wh.connect() as conn:
            found = sql_checks.lines_mismatch(
                conn,
                header,
                lines,
                totals.pairs,
                where=totals.where,
                require_lines=totals.require_lines,
            )
        return dg.AssetCheckResult(
            passed=found.count == 0,
            severity=WARN,
            metadata={
                "differing_documents": found.count,
                "sample_ids": ", ".join(found.sample),
                "rule": rule,
            },
        )

    return _check


def freshness(key: dg.AssetKey, source: str, resource: str) -> dg.AssetChecksDefinition:
    """A load of ``resource`` succeeded (or loaded with rejects) within :data:`FRESHNESS`."""

    @dg.asset_check(
        asset=key,
        name="freshness",
        description=f"A {source}/{resource} load succeeded within the last "
        f"{int(FRESHNESS.total_seconds() // 3600)} hours (connector.sync_runs).",
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with typed_failure(), warehouse.open() as wh, wh.connect() as conn:
            last = sql_checks.last_successful_load(conn, source, resource)
        if last is None:
            return dg.AssetCheckResult(passed=False, severity=WARN, metadata={"last_load": "never"})
        age = datetime.now(UTC) - last
        return dg.AssetCheckResult(
            passed=age <= FRESHNESS,
            severity=WARN,
            metadata={
                "last_load": dg.MetadataValue.timestamp(last),
                "age_hours": dg.MetadataValue.float(round(age.total_seconds() / 3600, 2)),
            },
        )

    return _check


def outbox_drained(stream: Stream) -> dg.AssetChecksDefinition:
    """After the mark step nothing of ``stream`` is pending, failed or parked in the outbox."""
    if stream.system != "traede":
        raise ValueError(f"{stream.name}: only TRAEDE streams have an export outbox")
    resource = stream.resource

    @dg.asset_check(
        asset=mark_key(stream),
        name="outbox_drained",
        description=f"No TRAEDE {resource} left pending, failed or parked in "
        "connector.export_outbox for this system id (retry with `connector mark traede`; "
        "parked marks need `connector mark traede --retry-parked`).",
    )
    def _check(traede: TraedeApiResource, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with typed_failure():
            system_id = traede.settings().system_id
            with warehouse.open() as wh, wh.connect() as conn:
                open_rows = sql_checks.outbox_open(conn, "traede", resource, system_id)
        return dg.AssetCheckResult(
            passed=sum(open_rows.values()) == 0,
            severity=ERROR,
            metadata={
                "pending": open_rows["pending"],
                "failed": open_rows["failed"],
                "parked": open_rows["parked"],
            },
        )

    return _check


def stream_checks(stream: Stream) -> list[dg.AssetChecksDefinition]:
    """The checks of one stream's staging asset (and of its mark step, if it marks)."""
    key = asset_key(stream)
    out = [
        rejects_in_last_run(key, stream.system, stream.resource),
        primary_key_unique(key, stream.header),
        freshness(key, stream.system, stream.resource),
    ]
    if stream.marks:
        out.append(outbox_drained(stream))
    if stream.totals is not None and stream.lines is not None:
        out.append(lines_sum_to_header(key, stream.header, stream.lines, stream.totals))
    return out


def all_checks() -> list[dg.AssetChecksDefinition]:
    """Every asset check of the project."""
    return [check for stream in streams() for check in stream_checks(stream)]
