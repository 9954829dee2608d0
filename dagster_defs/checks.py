"""Asset checks, derived per stream of the library's registry: rejects in the last run,
freshness, no new unmapped source keys (schema drift), every line has its document (streams
with lines), every document has an outbox row and every outbox row has its document (marking
streams), reconciliation (streams with rules: lines, totals, allocations), and the outbox
drained after each mark step. The SQL lives in ``connector.warehouse.checks``. Each can fail:
none restates a primary key. (The line tables' foreign keys also hold "every line has its
document", but not in a session that skips triggers, such as
``session_replication_role = replica`` or a restore with ``--disable-triggers``.)

Severity is WARN unless a failure means the data or the source is wrong in a way someone must
act on: a broken relation between staging and the outbox or between lines and documents (the
one-transaction load contract is broken) and an undrained outbox (documents committed here but
still "not exported" at TRAEDE) are ERROR. None is blocking: marking is
safe whatever the staging checks say (it reads only the outbox), so blocking it would only
leave documents unacknowledged.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from connector.tables.registry import Stream, streams
from connector.tables.spec import TableSpec
from connector.warehouse import checks as sql_checks
from connector.warehouse.frames import rows_markdown
from dagster_defs.failures import typed_failure
from dagster_defs.keys import asset_key, mark_key
from dagster_defs.resources import TraedeApiResource, WarehouseResource

FRESHNESS = timedelta(hours=26)  # nightly at 02:00, plus slack for a slow or retried run
WARN = dg.AssetCheckSeverity.WARN
ERROR = dg.AssetCheckSeverity.ERROR


def _orphans_result(found: sql_checks.Orphans, what: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=found.count == 0,
        severity=ERROR,
        metadata={what: found.count, "sample": ", ".join(found.sample)},
    )


def every_document_has_an_outbox_row(stream: Stream) -> dg.AssetChecksDefinition:
    """Each staging document of a marking stream has its outbox row for this system id."""
    header, resource = stream.header, stream.resource

    @dg.asset_check(
        asset=asset_key(stream),
        name="every_document_has_an_outbox_row",
        description=f"Every row of {header.name} has a row in connector.export_outbox for this "
        "system id (else it would never be marked as exported at the source).",
    )
    def _check(traede: TraedeApiResource, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with typed_failure():
            system_id = traede.settings().system_id
            with warehouse.open() as wh, wh.connect() as conn:
                found = sql_checks.documents_without_outbox_row(
                    conn, header, source=stream.system, resource=resource, system_id=system_id
                )
        return _orphans_result(found, "documents_without_outbox_row")

    return _check


def every_outbox_row_has_its_document(stream: Stream) -> dg.AssetChecksDefinition:
    """No outbox row of a marking stream points at a document missing from staging."""
    header = stream.header

    @dg.asset_check(
        asset=asset_key(stream),
        name="every_outbox_row_has_its_document",
        description=f"Every connector.export_outbox row of {stream.name} has its document in "
        f"{header.name} (an id is only ever marked for a committed document).",
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with typed_failure(), warehouse.open() as wh, wh.connect() as conn:
            found = sql_checks.outbox_rows_without_document(
                conn, header, source=stream.system, resource=stream.resource
            )
        return _orphans_result(found, "outbox_rows_without_document")

    return _check


def every_line_has_its_document(
    key: dg.AssetKey, header: TableSpec, lines: TableSpec
) -> dg.AssetChecksDefinition:
    """No line row without its header row."""

    @dg.asset_check(
        asset=key,
        name="every_line_has_its_document",
        description=f"Every row of {lines.name} belongs to a row of {header.name}.",
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with typed_failure(), warehouse.open() as wh, wh.connect() as conn:
            found = sql_checks.lines_without_document(conn, header, lines)
        return _orphans_result(found, "lines_without_document")

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


def no_new_unmapped_source_keys(
    key: dg.AssetKey, source: str, resource: str
) -> dg.AssetChecksDefinition:
    """The latest load saw no source key that no column maps and no earlier run had shown."""

    @dg.asset_check(
        asset=key,
        name="no_new_unmapped_source_keys",
        description=f"The latest {source}/{resource} load met no new source field without a "
        "staging column (schema drift; such fields are kept in _raw, listed by "
        "`connector status` and in connector.unmapped_keys).",
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with typed_failure(), warehouse.open() as wh, wh.connect() as conn:
            found = sql_checks.new_unmapped_keys(conn, source, resource)
        listed = "\n".join(f"- `{k}`: {n} record(s)" for k, n in found.keys.items())
        return dg.AssetCheckResult(
            passed=not found.keys,
            severity=WARN,
            metadata={
                "new_keys": len(found.keys),
                "already_known_unmapped": found.known,
                "connector_run_id": found.run_id or "",
                "keys": dg.MetadataValue.md(listed or "_none_"),
            },
        )

    return _check


def reconciles(key: dg.AssetKey, stream: Stream) -> dg.AssetChecksDefinition:
    """Every document of ``stream`` keeps its rules (lines = subtotal, subtotal + tax = total,
    and for Xero allocations + payments + remaining = total); failures list id and difference.
    """
    header, rules = stream.header, stream.rules
    described = "; ".join(r.name + (f" (where {r.where})" if r.where else "") for r in rules)

    @dg.asset_check(
        asset=key,
        name="reconciles",
        description=f"{header.name}, per document: {described}.",
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with typed_failure(), warehouse.open() as wh, wh.connect() as conn:
            found = sql_checks.reconcile(conn, header, rules)
        table = rows_markdown(
            ("document", "rule", "expected", "actual", "difference"),
            [(b.document_id, b.rule, b.expected, b.actual, b.difference) for b in found.sample],
        )
        return dg.AssetCheckResult(
            passed=found.count == 0,
            severity=WARN,
            metadata={
                "differing_documents": found.documents,
                "breaks": found.count,
                "failures": dg.MetadataValue.md(table),
                "rules": described,
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
        freshness(key, stream.system, stream.resource),
        no_new_unmapped_source_keys(key, stream.system, stream.resource),
    ]
    if stream.lines is not None:
        out.append(every_line_has_its_document(key, stream.header, stream.lines))
    if stream.marks:
        out += [
            every_document_has_an_outbox_row(stream),
            every_outbox_row_has_its_document(stream),
            outbox_drained(stream),
        ]
    if stream.rules:
        out.append(reconciles(key, stream))
    return out


def all_checks() -> list[dg.AssetChecksDefinition]:
    """Every asset check of the project."""
    return [check for stream in streams() for check in stream_checks(stream)]
