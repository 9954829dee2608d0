-- Schema drift (issue 11, part 7): source keys that no staging column maps, counted per run and
-- resource. Written in the same transaction as the batch they were seen in
-- (connector/warehouse/loader.py); read by `connector status` and the Dagster check
-- no_new_unmapped_keys. Line keys read `Lines[].Name` (e.g. `lines[].sku`, `LineItems[].Foo`).

CREATE TABLE connector.unmapped_keys (
    run_id      text NOT NULL,
    source      text NOT NULL,
    resource    text NOT NULL,
    key         text NOT NULL,
    records     bigint NOT NULL CHECK (records > 0),
    seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, source, resource, key)
);
CREATE INDEX unmapped_keys_stream ON connector.unmapped_keys (source, resource, key, seen_at);
COMMENT ON COLUMN connector.unmapped_keys.records IS
    'records (or lines, for a line key) of the run that carried the key';
