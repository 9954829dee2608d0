-- Unleashed credit notes (APIS.md §3.8, the vendor's JSON example). The header has no dependable
-- Guid, so `credit_number` is the key. `/Date(ms)/` values are UTC instants (timestamptz), kept
-- as instants even when they fall on midnight (the API sends no date-only type). Money and rates
-- are numeric with no precision cap. Nested objects are kept whole as jsonb next to the few
-- columns extracted from them; `_raw` is the record as received without its lines, which keep
-- their own `_raw`.

CREATE TABLE staging.unleashed_credit_notes (
    credit_number           text PRIMARY KEY,
    credit_date             timestamptz,
    sales_invoice_date      timestamptz,
    required_delivery_date  timestamptz,
    reference               text,
    credit_status           text,
    total                   numeric,
    sub_total               numeric,
    tax_total               numeric,
    tax_rate                numeric,
    xero_tax_code           text,
    invoice_number          text,
    reference_number        text,
    comments                text,
    customer_code           text,
    customer_name           text,
    customer_guid           text,
    currency_code           text,
    warehouse_code          text,
    warehouse_name          text,
    sales_order_number      text,
    guid                    text,
    last_modified_by        text,
    last_modified_on        timestamptz NOT NULL,
    created_by              text,
    created_on              timestamptz,
    warehouse               jsonb,
    customer                jsonb,
    currency                jsonb,
    tax                     jsonb,
    sales_order             jsonb,
    _raw                    jsonb NOT NULL,
    _loaded_at              timestamptz NOT NULL,
    _run_id                 text NOT NULL
);
CREATE INDEX unleashed_credit_notes_modified ON staging.unleashed_credit_notes (last_modified_on);

CREATE TABLE staging.unleashed_credit_note_lines (
    credit_number           text NOT NULL
                            REFERENCES staging.unleashed_credit_notes (credit_number) ON DELETE CASCADE,
    line_number             integer NOT NULL CHECK (line_number >= 1),
    source_line_number      integer,
    line_type               text,
    product_guid            text,
    product_code            text,
    product_description     text,
    order_quantity          numeric,
    unit_price              numeric,
    credit_quantity         numeric,
    credit_price            numeric,
    line_total              numeric,
    comments                text,
    tax_rate                numeric,
    line_tax                numeric,
    xero_tax_code           text,
    line_tax_code           text,
    xero_sales_account      text,
    reason                  text,
    "return"                boolean,
    disassemble             boolean,
    serial_numbers          jsonb,
    pending_serial_numbers  jsonb,
    batch_numbers           jsonb,
    pending_batch_numbers   jsonb,
    guid                    text,
    last_modified_on        timestamptz,
    _raw                    jsonb NOT NULL,
    _loaded_at              timestamptz NOT NULL,
    _run_id                 text NOT NULL,
    PRIMARY KEY (credit_number, line_number)
);
