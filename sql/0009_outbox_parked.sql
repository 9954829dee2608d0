-- Parked marks (README, "Marks that keep failing"): an outbox row whose mark failed in
-- TRAEDE_MARK_MAX_ATTEMPTS runs (`failed_runs`, summed over runs; within one run an id is sent
-- up to 3 times, counted in `attempts`) becomes `parked`. It is no longer sent, survives
-- re-delivery by later exports, and waits for an operator:
-- `connector mark traede --retry-parked` puts it back to `pending`.
ALTER TABLE connector.export_outbox
    DROP CONSTRAINT export_outbox_state_check,
    ADD CONSTRAINT export_outbox_state_check
        CHECK (state IN ('pending', 'acked', 'failed', 'parked')),
    ADD COLUMN failed_runs integer NOT NULL DEFAULT 0;

CREATE INDEX export_outbox_parked
    ON connector.export_outbox (source, resource, system_id, updated_at)
    WHERE state = 'parked';
