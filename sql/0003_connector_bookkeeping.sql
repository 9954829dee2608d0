-- Connector bookkeeping: runs, the export outbox (DESIGN.md §2, invariants 1 and 4), rejects
-- (invariant 3) and client-side cursors (Xero, Unleashed).

CREATE TABLE connector.sync_runs (
    run_id           text PRIMARY KEY,
    source           text NOT NULL,
    system_id        text NOT NULL DEFAULT '',
    kind             text NOT NULL CHECK (kind IN ('sync', 'load', 'mark')),
    resources        text[] NOT NULL,
    options          jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL
                     CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'abandoned')),
    stats            jsonb NOT NULL DEFAULT '{}',
    error            text,
    trigger          text NOT NULL DEFAULT 'cli',
    external_run_id  text,
    host             text,
    pid              integer,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX sync_runs_recent ON connector.sync_runs (source, started_at DESC);

CREATE TABLE connector.export_outbox (
    source        text NOT NULL,
    resource      text NOT NULL,
    system_id     text NOT NULL,
    document_id   bigint NOT NULL,
    state         text NOT NULL CHECK (state IN ('pending', 'acked', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    run_id        text NOT NULL,
    mark_run_id   text,
    enqueued_at   timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    acked_at      timestamptz,
    PRIMARY KEY (source, resource, system_id, document_id)
);
CREATE INDEX export_outbox_open
    ON connector.export_outbox (source, resource, system_id, enqueued_at, document_id)
    WHERE state <> 'acked';

CREATE TABLE connector.rejects (
    reject_id     bigserial PRIMARY KEY,
    run_id        text NOT NULL,
    source        text NOT NULL,
    resource      text NOT NULL,
    document_id   text,
    field         text,
    reason        text NOT NULL,
    raw_payload   text NOT NULL,
    rejected_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz
);
CREATE INDEX rejects_open ON connector.rejects (source, resource, document_id)
    WHERE resolved_at IS NULL;
CREATE INDEX rejects_run ON connector.rejects (run_id);

CREATE TABLE connector.cursors (
    source        text NOT NULL,
    scope         text NOT NULL DEFAULT '',
    resource      text NOT NULL,
    cursor_value  timestamptz,
    run_id        text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, scope, resource)
);
COMMENT ON COLUMN connector.cursors.scope IS 'Xero tenant id; empty for single-scope sources';
