-- Issue 14: what a credit note is worth in the base currency, how much of it is still open, and
-- where the credit went.
--
-- 1. Unleashed base-currency fields become columns (header and lines), stored as Unleashed
--    computed them (docs/apis.md §3.8: ExchangeRate, BCSubTotal, BCTaxTotal, BCTotal; on lines
--    BCUnitPrice, BCLineTotal, BCLineTax). ALTER TABLE appends them after the bookkeeping columns;
--    existing rows are filled from `_raw`, which holds the record as received (jsonb numbers are
--    exact numerics, so nothing is rounded on the way).
-- 2. Xero's Allocations and Payments arrays (and each line's Tracking array) get their own staging
--    tables, one row per array element at its 1-based `position`, replaced as a set with their
--    credit note in the load transaction (docs/architecture.md §4, invariant 2). Dates are
--    `date` (Xero sends date-only values as midnight UTC, docs/apis.md §2.7), UpdatedDateUTC a
--    timestamptz from the millis. The jsonb columns on the header stay as they were (and `_raw`).
--    Existing rows are filled from those jsonb columns in this migration, so a warehouse that
--    loaded before 0007 needs no re-sync.
-- 3. analytics.credit_notes keeps every column of 0006 in the same order and gains exchange
--    rate, base-currency amounts, open credit and allocation columns at the end.

ALTER TABLE staging.unleashed_credit_notes
    ADD COLUMN exchange_rate numeric,
    ADD COLUMN bc_sub_total  numeric,
    ADD COLUMN bc_tax_total  numeric,
    ADD COLUMN bc_total      numeric;

ALTER TABLE staging.unleashed_credit_note_lines
    ADD COLUMN bc_unit_price numeric,
    ADD COLUMN bc_line_total numeric,
    ADD COLUMN bc_line_tax   numeric;

-- A JSON number of `_raw` as numeric; NULL when absent, null or not a number (the normalizer
-- refuses non-numbers, so only absent or null occur).
UPDATE staging.unleashed_credit_notes SET
    exchange_rate = CASE jsonb_typeof(_raw -> 'ExchangeRate')
                    WHEN 'number' THEN (_raw ->> 'ExchangeRate')::numeric END,
    bc_sub_total  = CASE jsonb_typeof(_raw -> 'BCSubTotal')
                    WHEN 'number' THEN (_raw ->> 'BCSubTotal')::numeric END,
    bc_tax_total  = CASE jsonb_typeof(_raw -> 'BCTaxTotal')
                    WHEN 'number' THEN (_raw ->> 'BCTaxTotal')::numeric END,
    bc_total      = CASE jsonb_typeof(_raw -> 'BCTotal')
                    WHEN 'number' THEN (_raw ->> 'BCTotal')::numeric END;

UPDATE staging.unleashed_credit_note_lines SET
    bc_unit_price = CASE jsonb_typeof(_raw -> 'BCUnitPrice')
                    WHEN 'number' THEN (_raw ->> 'BCUnitPrice')::numeric END,
    bc_line_total = CASE jsonb_typeof(_raw -> 'BCLineTotal')
                    WHEN 'number' THEN (_raw ->> 'BCLineTotal')::numeric END,
    bc_line_tax   = CASE jsonb_typeof(_raw -> 'BCLineTax')
                    WHEN 'number' THEN (_raw ->> 'BCLineTax')::numeric END;

CREATE TABLE staging.xero_credit_note_line_tracking (
    credit_note_id        uuid NOT NULL,
    line_number           integer NOT NULL,
    position              integer NOT NULL CHECK (position >= 1),
    tracking_category_id  text,
    tracking_option_id    text,
    name                  text,
    option                text,
    _raw                  jsonb NOT NULL,
    _loaded_at            timestamptz NOT NULL,
    _run_id               text NOT NULL,
    PRIMARY KEY (credit_note_id, line_number, position),
    FOREIGN KEY (credit_note_id, line_number)
        REFERENCES staging.xero_credit_note_lines (credit_note_id, line_number) ON DELETE CASCADE
);

CREATE TABLE staging.xero_credit_note_allocations (
    credit_note_id  uuid NOT NULL
                    REFERENCES staging.xero_credit_notes (credit_note_id) ON DELETE CASCADE,
    position        integer NOT NULL CHECK (position >= 1),
    allocation_id   text,
    amount          numeric,
    date            date,
    invoice_id      text,
    invoice_number  text,
    is_deleted      boolean,
    _raw            jsonb NOT NULL,
    _loaded_at      timestamptz NOT NULL,
    _run_id         text NOT NULL,
    PRIMARY KEY (credit_note_id, position)
);
CREATE INDEX xero_credit_note_allocations_invoice
    ON staging.xero_credit_note_allocations (invoice_id);

CREATE TABLE staging.xero_credit_note_payments (
    credit_note_id    uuid NOT NULL
                      REFERENCES staging.xero_credit_notes (credit_note_id) ON DELETE CASCADE,
    position          integer NOT NULL CHECK (position >= 1),
    payment_id        text,
    date              date,
    amount            numeric,
    bank_amount       numeric,
    currency_rate     numeric,
    reference         text,
    status            text,
    payment_type      text,
    is_reconciled     boolean,
    updated_date_utc  timestamptz,
    _raw              jsonb NOT NULL,
    _loaded_at        timestamptz NOT NULL,
    _run_id           text NOT NULL,
    PRIMARY KEY (credit_note_id, position)
);

-- `/Date(ms[±hhmm])/` -> the UTC instant of the millis (the offset is display only, §2.7).
CREATE FUNCTION pg_temp.ms_instant(value text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT timestamptz 'epoch'
           + (substring(value FROM '^/Date\((-?[0-9]+)')::bigint) * interval '1 millisecond'
$$;

-- Fill the new tables from what earlier loads kept in jsonb (same rules as the normalizer).
INSERT INTO staging.xero_credit_note_line_tracking
SELECT l.credit_note_id, l.line_number, t.position::integer,
       t.entry ->> 'TrackingCategoryID', t.entry ->> 'TrackingOptionID',
       t.entry ->> 'Name', t.entry ->> 'Option', t.entry, l._loaded_at, l._run_id
FROM staging.xero_credit_note_lines l
CROSS JOIN LATERAL jsonb_array_elements(
    CASE jsonb_typeof(l.tracking) WHEN 'array' THEN l.tracking ELSE '[]' END
) WITH ORDINALITY AS t(entry, position);

INSERT INTO staging.xero_credit_note_allocations
SELECT x.credit_note_id, a.position::integer, a.entry ->> 'AllocationID',
       CASE jsonb_typeof(a.entry -> 'Amount') WHEN 'number' THEN (a.entry ->> 'Amount')::numeric END,
       (pg_temp.ms_instant(a.entry ->> 'Date') AT TIME ZONE 'UTC')::date,
       a.entry -> 'Invoice' ->> 'InvoiceID', a.entry -> 'Invoice' ->> 'InvoiceNumber',
       (a.entry ->> 'IsDeleted')::boolean, a.entry, x._loaded_at, x._run_id
FROM staging.xero_credit_notes x
CROSS JOIN LATERAL jsonb_array_elements(
    CASE jsonb_typeof(x.allocations) WHEN 'array' THEN x.allocations ELSE '[]' END
) WITH ORDINALITY AS a(entry, position);

INSERT INTO staging.xero_credit_note_payments
SELECT x.credit_note_id, p.position::integer, p.entry ->> 'PaymentID',
       (pg_temp.ms_instant(p.entry ->> 'Date') AT TIME ZONE 'UTC')::date,
       CASE jsonb_typeof(p.entry -> 'Amount') WHEN 'number' THEN (p.entry ->> 'Amount')::numeric END,
       CASE jsonb_typeof(p.entry -> 'BankAmount')
           WHEN 'number' THEN (p.entry ->> 'BankAmount')::numeric END,
       CASE jsonb_typeof(p.entry -> 'CurrencyRate')
           WHEN 'number' THEN (p.entry ->> 'CurrencyRate')::numeric END,
       p.entry ->> 'Reference', p.entry ->> 'Status', p.entry ->> 'PaymentType',
       (p.entry ->> 'IsReconciled')::boolean, pg_temp.ms_instant(p.entry ->> 'UpdatedDateUTC'),
       p.entry, x._loaded_at, x._run_id
FROM staging.xero_credit_notes x
CROSS JOIN LATERAL jsonb_array_elements(
    CASE jsonb_typeof(x.payments) WHEN 'array' THEN x.payments ELSE '[]' END
) WITH ORDINALITY AS p(entry, position);

-- The view. Columns 1-14 are those of 0006, unchanged; the rest are new (appended, as
-- CREATE OR REPLACE VIEW requires).
--
-- Exchange rates, as each source gives them, and how the base-currency amounts are obtained:
--   xero      CurrencyRate = units of the credit note's currency per 1 unit of the
--             organisation's base currency (Xero shows "1 NZD = 0.6 USD"; the API docs,
--             docs/apis.md §2.8, only say "FX rate"). base amount = amount / CurrencyRate,
--             rounded to cents (half away from zero) per amount, so base_subtotal + base_tax can
--             differ from base_total by 0.01. Base-currency notes have CurrencyRate 1.
--   unleashed ExchangeRate as sent; its direction is not documented (docs/apis.md §3.8 lists it
--             without a definition). The base amounts are Unleashed's own BCSubTotal, BCTaxTotal,
--             BCTotal, taken as they are, never recomputed from the rate.
--   traede    the export's invoice and credit-note objects carry no rate and no base amounts
--             (docs/apis.md §1.8): exchange_rate and every base_* column are NULL.
-- Open credit: Xero RemainingCredit (document currency) and its base value; NULL for TRAEDE and
-- Unleashed, which send nothing that plays that role. allocated/refunded are Xero's allocations
-- (not deleted) and payments (not DELETED) of the credit note, in its currency.
-- fully_allocated: Xero only, RemainingCredit = 0 (NULL where RemainingCredit is absent, and for
-- the sources that have no remaining credit).
-- Base amounts are unsigned like subtotal/tax/total; signed_total's convention applies.
CREATE OR REPLACE VIEW analytics.credit_notes AS
SELECT
    'traede'::text                                   AS source,
    c.id::text                                       AS source_id,
    c.credit_note_number::text                       AS number,
    c.status                                         AS status,
    'receivable'::text                               AS direction,
    (c.created_at AT TIME ZONE 'UTC')::date          AS credit_date,
    c.currency                                       AS currency,
    c.net_price + coalesce(c.shipping, 0) + coalesce(c.handling_fee, 0) AS subtotal,
    c.vat_amount                                     AS tax,
    c.total_price_after_vat                          AS total,
    -c.total_price_after_vat                         AS signed_total,
    c.customer_id::text                              AS customer_id,
    NULL::text                                       AS customer_name,
    c.updated_at                                     AS updated_at,
    NULL::numeric                                    AS exchange_rate,
    NULL::numeric                                    AS base_subtotal,
    NULL::numeric                                    AS base_tax,
    NULL::numeric                                    AS base_total,
    NULL::numeric                                    AS open_credit,
    NULL::numeric                                    AS base_open_credit,
    NULL::numeric                                    AS allocated,
    NULL::numeric                                    AS refunded,
    NULL::boolean                                    AS fully_allocated
FROM staging.traede_credit_notes c
UNION ALL
SELECT
    'xero',
    x.credit_note_id::text,
    nullif(x.credit_note_number, ''),
    x.status,
    CASE x.type WHEN 'ACCPAYCREDIT' THEN 'payable' ELSE 'receivable' END,
    x.date,
    x.currency_code,
    x.sub_total,
    x.total_tax,
    x.total,
    CASE x.type WHEN 'ACCPAYCREDIT' THEN x.total ELSE -x.total END,
    x.contact_id,
    x.contact_name,
    x.updated_date_utc,
    x.currency_rate,
    round(x.sub_total / nullif(x.currency_rate, 0), 2),
    round(x.total_tax / nullif(x.currency_rate, 0), 2),
    round(x.total / nullif(x.currency_rate, 0), 2),
    x.remaining_credit,
    round(x.remaining_credit / nullif(x.currency_rate, 0), 2),
    coalesce((SELECT sum(a.amount) FROM staging.xero_credit_note_allocations a
              WHERE a.credit_note_id = x.credit_note_id AND a.is_deleted IS NOT TRUE), 0),
    coalesce((SELECT sum(p.amount) FROM staging.xero_credit_note_payments p
              WHERE p.credit_note_id = x.credit_note_id
                AND p.status IS DISTINCT FROM 'DELETED'), 0),
    x.remaining_credit = 0
FROM staging.xero_credit_notes x
UNION ALL
SELECT
    'unleashed',
    u.credit_number,
    u.credit_number,
    u.credit_status,
    'receivable',
    (u.credit_date AT TIME ZONE 'UTC')::date,
    u.currency_code,
    u.sub_total,
    u.tax_total,
    u.total,
    -u.total,
    u.customer_code,
    u.customer_name,
    u.last_modified_on,
    u.exchange_rate,
    u.bc_sub_total,
    u.bc_tax_total,
    u.bc_total,
    NULL::numeric,
    NULL::numeric,
    NULL::numeric,
    NULL::numeric,
    NULL::boolean
FROM staging.unleashed_credit_notes u;

COMMENT ON VIEW analytics.credit_notes IS
    'Credit notes of every source, one row each; signed_total < 0 for receivable credits '
    '(given to customers), > 0 for payable credits (ACCPAYCREDIT, from suppliers). '
    'Base-currency amounts: xero = amount / CurrencyRate (CurrencyRate is document-currency '
    'units per 1 base unit), rounded to cents; unleashed = its own BC* fields as sent '
    '(ExchangeRate direction undocumented, not used); traede = NULL (no rate in its export).';
COMMENT ON COLUMN analytics.credit_notes.exchange_rate IS
    'Rate as the source sends it. xero CurrencyRate: document-currency units per 1 unit of the '
    'base currency (base = amount / rate). unleashed ExchangeRate: direction undocumented; the '
    'base amounts are Unleashed''s own BC* values. traede: NULL.';
COMMENT ON COLUMN analytics.credit_notes.base_subtotal IS
    'Subtotal in the base currency: xero round(SubTotal / CurrencyRate, 2); unleashed BCSubTotal '
    'as sent; traede NULL.';
COMMENT ON COLUMN analytics.credit_notes.base_tax IS
    'Tax in the base currency: xero round(TotalTax / CurrencyRate, 2); unleashed BCTaxTotal as '
    'sent; traede NULL.';
COMMENT ON COLUMN analytics.credit_notes.base_total IS
    'Total in the base currency: xero round(Total / CurrencyRate, 2) (may differ by 0.01 from '
    'base_subtotal + base_tax); unleashed BCTotal as sent; traede NULL.';
COMMENT ON COLUMN analytics.credit_notes.open_credit IS
    'Credit not yet allocated or refunded, in the note''s currency: xero RemainingCredit; NULL '
    'for traede and unleashed (they send nothing equivalent).';
COMMENT ON COLUMN analytics.credit_notes.base_open_credit IS
    'open_credit in the base currency: xero round(RemainingCredit / CurrencyRate, 2).';
COMMENT ON COLUMN analytics.credit_notes.allocated IS
    'xero: sum of the note''s allocations to invoices (deleted ones left out), note currency; '
    'rows in staging.xero_credit_note_allocations.';
COMMENT ON COLUMN analytics.credit_notes.refunded IS
    'xero: sum of the note''s payments (refunds; DELETED left out), note currency; rows in '
    'staging.xero_credit_note_payments.';
COMMENT ON COLUMN analytics.credit_notes.fully_allocated IS
    'xero: RemainingCredit = 0 (nothing left to allocate or refund); NULL where not derivable.';
