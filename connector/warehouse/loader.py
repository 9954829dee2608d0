"""Load one normalized batch in one transaction (docs/architecture.md §5).

COPY into temp tables, upsert the headers, replace their children as a set, enqueue the outbox
rows (export-tracked sources), write rejects and the unmapped source keys (schema drift),
advance the cursor (cursor sources) and the run's counters. Either all of it commits or none of
it does.
"""

from datetime import datetime
from typing import Any

import psycopg

from connector.errors import WarehouseError
from connector.model import NormalizedBatch
from connector.tables.spec import TableSpec
from connector.warehouse import cursors, drift, outbox, rejects, runs
from connector.warehouse.copy_loader import copy_rows, ensure_temp_table
from connector.warehouse.locks import ConsumerLock
from connector.warehouse.merge import replace_children, upsert


class BatchLoader:
    """Loads the batches of one (source, resource) stream on one connection."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        run: runs.Run,
        *,
        source: str,
        resource: str,
        system_id: str,
        header: TableSpec,
        children: tuple[TableSpec, ...] = (),
        enqueue_marks: bool = False,
        lock: ConsumerLock | None = None,
        cursor_scope: str | None = None,
    ) -> None:
        self.conn = conn
        self.run = run
        self.source = source
        self.resource = resource
        self.system_id = system_id
        self.header = header
        self.children = children
        self.enqueue_marks = enqueue_marks
        self.lock = lock
        self.cursor_scope = cursor_scope

    def load(
        self,
        batch: NormalizedBatch,
        *,
        cursor: datetime | None = None,
        extra: dict[str, int] | None = None,
    ) -> dict[str, int]:
        """Commit ``batch``; return its counters (also added to ``run.stats``).

        Args:
            batch: normalized rows, children and rejects.
            cursor: for cursor sources, the value to advance the stored cursor to in this
                same transaction (None leaves it).
            extra: more counters to add to the run's stats (pages, API calls, retries).

        Raises:
            WarehouseError: the transaction failed and was rolled back (nothing of it landed).
        """
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                counts = self._load(cur, batch, cursor)
                counts.update(extra or {})
                stats = self.run.added(self.resource, counts)
                runs.write_stats(cur, self.run.run_id, stats)
                if self.lock is not None:
                    self.lock.check()
        except psycopg.Error as exc:
            raise WarehouseError(
                f"loading a batch of {self.source}/{self.resource} failed and was rolled back: "
                f"{str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__}"
            ) from exc
        self.run.stats = stats
        return counts

    def _load(
        self, cur: psycopg.Cursor[Any], batch: NormalizedBatch, cursor: datetime | None
    ) -> dict[str, int]:
        counts = {"fetched": len(batch.headers.rows) + len(batch.rejects)}
        if batch.headers.rows:
            temp = ensure_temp_table(cur, self.header)
            total = copy_rows(cur, temp, self.header.column_names, batch.headers.rows)
            merged = upsert(cur, self.header, total)
            counts.update(
                inserted=merged.inserted, updated=merged.updated, unchanged=merged.unchanged
            )
            copied = []
            for child_rows in batch.children:
                child_temp = ensure_temp_table(cur, child_rows.spec)
                copied.append(
                    copy_rows(cur, child_temp, child_rows.spec.column_names, child_rows.rows)
                )
            # In order: a child may reference an earlier one (Xero tracking -> its line).
            for child in self.children:
                replace_children(cur, child, self.header)
            # "lines" counts the line table only (allocations, payments are not lines).
            counts["lines"] = copied[0] if copied else 0
            if self.enqueue_marks:
                counts["enqueued"] = outbox.enqueue(
                    cur,
                    self.header,
                    source=self.source,
                    resource=self.resource,
                    system_id=self.system_id,
                    run_id=self.run.run_id,
                )
            rejects.resolve_loaded(cur, self.header, source=self.source, resource=self.resource)
        counts["rejected"] = rejects.write(
            cur, batch.rejects, run_id=self.run.run_id, source=self.source, resource=self.resource
        )
        drift.record(
            cur, batch.unmapped, run_id=self.run.run_id, source=self.source, resource=self.resource
        )
        if cursor is not None and self.cursor_scope is not None:
            cursors.advance(
                cur,
                source=self.source,
                scope=self.cursor_scope,
                resource=self.resource,
                value=cursor,
                run_id=self.run.run_id,
            )
        return counts
