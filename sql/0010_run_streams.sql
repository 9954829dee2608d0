-- The streams a run holds the consumer lock of (invariant 5), one "<resource>@<scope>" each
-- (scope: TRAEDE system id, Xero tenant id, '' for Unleashed). A run holding a stream's lock
-- marks every earlier 'running' run that shares a stream with it as abandoned: a live one
-- would hold that lock. NULL on rows written before this migration (matched as before: same
-- system_id, overlapping resources).

ALTER TABLE connector.sync_runs ADD COLUMN streams text[];
COMMENT ON COLUMN connector.sync_runs.streams IS
    'Locked streams as <resource>@<scope>; NULL before migration 0010';
