"""Shared helpers for TRAEDE integration tests: an emulator wired to the test database that
checks invariant 1 itself, and comparisons of staging against the emulator's documents.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg

from connector.config import HttpSettings, Secret, TraedeSettings
from connector.emulator.faults import FaultPlan
from connector.emulator.server import EmulatorServer
from connector.emulator.traede import create_traede_app
from connector.emulator.traede_state import TraedeState
from connector.normalize.traede import SHAPES
from connector.warehouse import Warehouse

TOKEN = "tok-6f1e2d3c-secret-value"
APP_KEY = "key-9a8b7c6d-secret-value"
SYSTEM_ID = "erp-test"
TABLE_FOR = {
    "invoices": ("staging.traede_invoices", "staging.traede_invoice_lines", "invoice_id"),
    "credit_notes": (
        "staging.traede_credit_notes",
        "staging.traede_credit_note_lines",
        "credit_note_id",
    ),
    "accounting_entries": ("staging.traede_accounting_entries", None, None),
}


@dataclass
class Traede:
    """A running emulator, its state and settings pointing at it."""

    server: EmulatorServer
    state: TraedeState
    settings: TraedeSettings


def fast_http(**overrides: Any) -> HttpSettings:
    """Short timeouts and retry budget so fault tests stay quick."""
    values = {"timeout": 3.0, "max_retry_wait": 20.0, "max_attempts": 6}
    values.update(overrides)
    return HttpSettings(**values)


@contextmanager
def running_traede(
    warehouse: Warehouse | None,
    *,
    invoices: int = 0,
    credit_notes: int = 0,
    accounting_entries: int = 0,
    seed: int = 3,
    faults: str = "",
    paged: bool = True,
    order: str = "id",
    http: HttpSettings | None = None,
    **settings_overrides: Any,
) -> Iterator[Traede]:
    """Serve the emulator; when ``warehouse`` is given, every mark call first checks that the
    ids are committed in staging (invariant 1) and records a violation otherwise.
    """
    checker = _committed_checker(warehouse) if warehouse is not None else None
    app, state = create_traede_app(
        seed=seed,
        invoices=invoices,
        credit_notes=credit_notes,
        accounting_entries=accounting_entries,
        token=TOKEN,
        app_key=APP_KEY,
        faults=FaultPlan.parse(faults) if faults else None,
        paged=paged,
        order=order,
        before_mark=checker,
    )
    with EmulatorServer(app) as server:
        settings = TraedeSettings(
            base_url=server.url,
            api_token=Secret(TOKEN),
            app_key=Secret(APP_KEY),
            system_id=SYSTEM_ID,
            http=http or fast_http(),
            **settings_overrides,
        )
        yield Traede(server, state, settings)


def _committed_checker(warehouse: Warehouse) -> Any:
    def check(resource: str, system_id: str, ids: list[int]) -> None:
        table = TABLE_FOR[resource.replace("-", "_")][0]
        with psycopg.connect(warehouse.dsn, autocommit=True) as conn:
            rows = conn.execute(f"SELECT id FROM {table} WHERE id = ANY(%s)", (ids,)).fetchall()
        missing = set(ids) - {r[0] for r in rows}
        if missing:
            raise AssertionError(f"marked before commit: {resource} {sorted(missing)}")

    return check


def all_ids(state: TraedeState, resource: str) -> list[int]:
    store = state.store(resource)
    ids = set(store.ids) | set(store.overrides) | set(store.raw)
    return sorted(ids)


def expected_ids(state: TraedeState, resource: str, *, include_drafts: bool = False) -> list[int]:
    out = []
    for doc_id in all_ids(state, resource):
        doc = state.document(resource, doc_id)
        if doc is None:
            continue
        if not include_drafts and doc.get("status") == "draft":
            continue
        out.append(doc_id)
    return out


def _utc(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _expected_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "timestamptz":
        return _utc(value)
    if kind == "numeric":
        return Decimal(value) if not isinstance(value, Decimal) else value
    return value


def assert_staging_matches(
    db: psycopg.Connection, state: TraedeState, resource: str, ids: list[int]
) -> None:
    """Every column of every document and line equals the emulator's, Decimal-exact."""
    shape = SHAPES[resource]
    header_table, line_table, fk = TABLE_FOR[resource]
    cols = list(shape.header.data_columns)
    kinds = {c.name: c.pg_type for c in shape.header.columns}
    rows = {r[0]: r for r in db.execute(f"SELECT {', '.join(cols)} FROM {header_table}").fetchall()}
    assert sorted(rows) == sorted(ids), f"{resource}: staging ids differ from the emulator"
    for doc_id in ids:
        doc = state.document(resource, doc_id)
        assert doc is not None
        row = rows[doc_id]
        for name, got in zip(cols, row, strict=True):
            want = _expected_value(kinds[name], doc.get(name))
            if name == "meta":
                assert got == want, (resource, doc_id, name)
                continue
            assert got == want, (resource, doc_id, name, got, want)
            if kinds[name] == "numeric" and want is not None:
                assert str(got) == str(want), (resource, doc_id, name, got, want)
    if line_table is None or shape.lines is None:
        return
    lcols = list(shape.lines.data_columns)
    lkinds = {c.name: c.pg_type for c in shape.lines.columns}
    by_doc: dict[int, list[tuple[Any, ...]]] = {}
    for r in db.execute(
        f"SELECT {', '.join(lcols)} FROM {line_table} ORDER BY {fk}, line_number"
    ).fetchall():
        by_doc.setdefault(r[0], []).append(r)
    for doc_id in ids:
        doc = state.document(resource, doc_id)
        assert doc is not None
        lines = doc.get("lines") or []
        got_lines = by_doc.get(doc_id, [])
        assert len(got_lines) == len(lines), (resource, doc_id, "line count")
        for number, (line, got) in enumerate(zip(lines, got_lines, strict=True), start=1):
            assert got[0] == doc_id and got[1] == number
            for name, value in zip(lcols[2:], got[2:], strict=True):
                want = _expected_value(lkinds[name], line.get(name))
                assert value == want, (resource, doc_id, number, name, value, want)


def marked_ids(state: TraedeState, resource: str, system_id: str = SYSTEM_ID) -> set[int]:
    return set(state.marks(resource, system_id).get(system_id, {}))


def outbox_states(db: psycopg.Connection) -> dict[str, int]:
    rows = db.execute(
        "SELECT state, count(*) FROM connector.export_outbox GROUP BY state"
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def staging_ids(db: psycopg.Connection, resource: str) -> set[int]:
    table = TABLE_FOR[resource][0]
    return {r[0] for r in db.execute(f"SELECT id FROM {table}").fetchall()}


def assert_invariants(
    db: psycopg.Connection, state: TraedeState, resources: tuple[str, ...]
) -> None:
    """Marked iff in staging; outbox fully acked; no violation seen by the emulator."""
    assert state.violations == [], state.violations
    for resource in resources:
        assert marked_ids(state, resource) == staging_ids(db, resource), resource
    assert set(outbox_states(db)) <= {"acked"}, outbox_states(db)
