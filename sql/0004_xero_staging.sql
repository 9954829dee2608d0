-- Xero credit notes (APIS.md §2.8), one row per CreditNoteID, and their line items.
-- Money and rates are numeric with no precision cap (CurrencyRate can carry 18 decimals);
-- UpdatedDateUTC is a timestamptz taken from the /Date(ms)/ millis (the +hhmm offset is display
-- only); Date, DueDate and FullyPaidOnDate are date columns read in UTC, never local time.
-- DELETED and VOIDED credit notes stay in the feed and are kept here (soft deletes: filter on
-- status). tenant_id says which organisation a row came from ('' for a custom connection).
-- credit_note_id is a uuid (Xero's ids are UUIDs; the normalizer rejects anything else); the
-- other ids stay text so an empty or odd value from Xero is stored as sent, not refused.
--
-- Allocations and payments are jsonb arrays on the header rather than child tables: they are
-- small (usually 0-2 entries), have no stable position of their own to key on beyond the
-- array index, and are read far less than lines. jsonb keeps them exact (numbers as written)
-- and queryable with jsonb_array_elements(allocations), while sparing three more
-- replace-as-set tables in every load transaction. If analysts come to join allocations to
-- invoices routinely, a view over jsonb_array_elements gives them the relational shape.

CREATE TABLE staging.xero_credit_notes (
    credit_note_id           uuid PRIMARY KEY,
    tenant_id                text NOT NULL DEFAULT '',
    credit_note_number       text,
    type                     text,
    status                   text,
    contact_id               text,
    contact_name             text,
    date                     date,
    due_date                 date,
    line_amount_types        text,
    sub_total                numeric,
    total_tax                numeric,
    total                    numeric,
    cis_deduction            numeric,
    cis_rate                 numeric,
    updated_date_utc         timestamptz NOT NULL,
    currency_code            text,
    currency_rate            numeric,
    fully_paid_on_date       date,
    reference                text,
    sent_to_contact          boolean,
    remaining_credit         numeric,
    applied_amount           numeric,
    branding_theme_id        text,
    has_attachments          boolean,
    has_errors               boolean,
    status_attribute_string  text,
    contact                  jsonb,
    allocations              jsonb,
    payments                 jsonb,
    _raw                     jsonb NOT NULL,
    _loaded_at               timestamptz NOT NULL,
    _run_id                  text NOT NULL
);
CREATE INDEX xero_credit_notes_updated ON staging.xero_credit_notes (updated_date_utc);

CREATE TABLE staging.xero_credit_note_lines (
    credit_note_id   uuid NOT NULL
                     REFERENCES staging.xero_credit_notes (credit_note_id) ON DELETE CASCADE,
    line_number      integer NOT NULL CHECK (line_number >= 1),
    line_item_id     text,
    description      text,
    quantity         numeric,
    unit_amount      numeric,
    item_code        text,
    account_code     text,
    account_id       text,
    tax_type         text,
    tax_amount       numeric,
    line_amount      numeric,
    discount_rate    numeric,
    discount_amount  numeric,
    tracking         jsonb,
    item             jsonb,
    _raw             jsonb NOT NULL,
    _loaded_at       timestamptz NOT NULL,
    _run_id          text NOT NULL,
    PRIMARY KEY (credit_note_id, line_number)
);
