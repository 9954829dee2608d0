"""The raw limit: a bare keep-alive httpx loop over the export pages, then a COPY from memory.

Run as its own process (``python -m bench.peers.raw_peer``) so its memory is its own.
``--download-only`` is the emulator ceiling: the pages are fetched and dropped, nothing is
parsed. Otherwise each resource is downloaded (timed), parsed and normalised with the
connector's own ``normalize_batch`` (timed apart, not part of the floor), then COPYed straight
into the staging tables of a fresh database (timed). The floor is download + COPY.
"""

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx

RESOURCES = {
    # resource: (path, has lines, has drafts)
    "invoices": ("invoices", True, True),
    "credit_notes": ("credit-notes", True, True),
    "accounting_entries": ("accounting-entries", False, False),
}
LIMIT = 60


def params_for(resource: str, system_id: str, page: int) -> list[tuple[str, str]]:
    """The same query the connector sends (system_id, booked only, lines, page, limit)."""
    _, lines, drafts = RESOURCES[resource]
    params = [("system_id", system_id)]
    if drafts:
        params.append(("include_non_booked", "0"))
    if lines:
        params.append(("includes[]", "lines"))
    params += [("page", str(page)), ("limit", str(LIMIT))]
    return params


def download(client: httpx.Client, resource: str, system_id: str, keep: bool) -> dict[str, Any]:
    """Fetch pages until the empty one; no parsing (an empty page is ``{"<root>":[]}``)."""
    path = f"/v10/{RESOURCES[resource][0]}/export"
    empty = len(b'{"' + resource.encode() + b'":[]}')
    bodies: list[bytes] = []
    page, nbytes = 0, 0
    started = time.perf_counter()
    while True:
        response = client.get(path, params=params_for(resource, system_id, page))
        response.raise_for_status()
        body = response.content
        page += 1
        if len(body) <= empty:
            break
        nbytes += len(body)
        if keep:
            bodies.append(body)
    return {
        "seconds": time.perf_counter() - started,
        "calls": page,
        "bytes": nbytes,
        "bodies": bodies,
    }


def normalize(resource: str, bodies: list[bytes]) -> tuple[dict[str, list[Any]], int, float]:
    """Parse and normalise with the connector's pure code; returns rows per table."""
    from connector.jsontext import parse_json
    from connector.normalize.traede import normalize_batch

    started = time.perf_counter()
    loaded_at = datetime.now(UTC)
    tables: dict[str, list[Any]] = {}
    documents = 0
    for body in bodies:
        records = parse_json(body)[resource]
        documents += len(records)
        batch = normalize_batch(resource, records, loaded_at, "raw-peer")
        for rows in (batch.headers, *batch.children):
            tables.setdefault(rows.spec.name, []).extend(rows.rows)
    return tables, documents, time.perf_counter() - started


def copy_into(dsn: str, resource: str, tables: dict[str, list[Any]]) -> float:
    """COPY every row into its staging table in one transaction; returns seconds."""
    import psycopg
    from psycopg import sql

    from connector.normalize.traede import SHAPES

    shape = SHAPES[resource]
    specs = {s.name: s for s in (shape.header, shape.lines) if s is not None}
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for name, rows in tables.items():
            spec = specs[name]
            statement = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
                sql.Identifier(spec.schema),
                sql.Identifier(spec.table),
                sql.SQL(", ").join(sql.Identifier(c) for c in spec.column_names),
            )
            with cur.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.peers.raw_peer")
    p.add_argument("--base-url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--app-key", required=True)
    p.add_argument("--system-id", required=True)
    p.add_argument("--dsn", help="libpq DSN of a migrated, empty database")
    p.add_argument("--download-only", action="store_true")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    headers = {"Authorization": f"Bearer {a.token}", "X-Traede-App-Key": a.app_key}
    result: dict[str, Any] = {"resources": {}}
    total = {"download_s": 0.0, "normalize_s": 0.0, "copy_s": 0.0, "calls": 0, "bytes": 0}
    total["documents"] = 0
    with httpx.Client(base_url=a.base_url, headers=headers, timeout=60) as client:
        for resource in RESOURCES:
            got = download(client, resource, a.system_id, keep=not a.download_only)
            stats: dict[str, Any] = {
                "download_s": got["seconds"],
                "calls": got["calls"],
                "bytes": got["bytes"],
            }
            if not a.download_only:
                tables, documents, norm_s = normalize(resource, got.pop("bodies"))
                stats.update(documents=documents, normalize_s=norm_s)
                stats["rows"] = {name: len(rows) for name, rows in tables.items()}
                stats["copy_s"] = copy_into(a.dsn, resource, tables)
                del tables
            got.clear()
            result["resources"][resource] = stats
            for key in total:
                total[key] += stats.get(key, 0)
    result.update(total)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
