-- Parked marks (README, "Marks that keep failing"): an outbox row whose mark failed
-- TRAEDE_MARK_MAX_ATTEMPTS times in all is `parked`. It is no longer sent, survives
-- re-delivery by later exports, and waits for an operator:
-- `connector mark traede --retry-parked` puts it back to `pending`.
ALTER TABLE connector.export_outbox
    DROP CONSTRAINT export_outbox_state_check,
    ADD CONSTRAINT export_outbox_state_check
        CHECK (state IN ('pending', 'acked', 'failed', 'parked'));

CREATE INDEX export_outbox_parked
    ON connector.export_outbox (source, resource, system_id, updated_at)
    WHERE state = 'parked';
