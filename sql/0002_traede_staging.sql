-- TRAEDE export documents (APIS.md §1.8). Money is numeric with no precision cap, instants are
-- timestamptz, `meta` is jsonb. `_raw` keeps the record as received (without its lines, which
-- keep their own `_raw`), `_loaded_at` and `_run_id` say which run last changed the row.

CREATE TABLE staging.traede_invoices (
    id                     bigint PRIMARY KEY,
    invoice_number         bigint,
    status                 text,
    order_type             text,
    customer_id            bigint,
    order_id               bigint,
    notes                  text,
    currency               text,
    meta                   jsonb,
    total_quantity         bigint,
    price_before_discount  numeric,
    discount_amount        numeric,
    discount_percentage    numeric,
    net_price              numeric,
    shipping               numeric,
    handling_fee           numeric,
    vat_amount             numeric,
    total_price_after_vat  numeric,
    created_at             timestamptz,
    updated_at             timestamptz,
    _raw                   jsonb NOT NULL,
    _loaded_at             timestamptz NOT NULL,
    _run_id                text NOT NULL
);

CREATE TABLE staging.traede_invoice_lines (
    invoice_id             bigint NOT NULL REFERENCES staging.traede_invoices (id) ON DELETE CASCADE,
    line_number            integer NOT NULL CHECK (line_number >= 1),
    product_id             bigint,
    variant_id             bigint,
    quantity               bigint,
    price_before_discount  numeric,
    discount_amount        numeric,
    discount_percentage    numeric,
    net_price              numeric,
    vat_amount             numeric,
    total_price            numeric,
    total_price_after_vat  numeric,
    created_at             timestamptz,
    updated_at             timestamptz,
    _raw                   jsonb NOT NULL,
    _loaded_at             timestamptz NOT NULL,
    _run_id                text NOT NULL,
    PRIMARY KEY (invoice_id, line_number)
);

CREATE TABLE staging.traede_credit_notes (
    id                     bigint PRIMARY KEY,
    credit_note_number     bigint,
    status                 text,
    order_type             text,
    customer_id            bigint,
    order_id               bigint,
    order_invoice_id       bigint,
    notes                  text,
    currency               text,
    meta                   jsonb,
    total_quantity         bigint,
    price_before_discount  numeric,
    discount_amount        numeric,
    discount_percentage    numeric,
    net_price              numeric,
    shipping               numeric,
    handling_fee           numeric,
    vat_amount             numeric,
    total_price_after_vat  numeric,
    created_at             timestamptz,
    updated_at             timestamptz,
    _raw                   jsonb NOT NULL,
    _loaded_at             timestamptz NOT NULL,
    _run_id                text NOT NULL
);

CREATE TABLE staging.traede_credit_note_lines (
    credit_note_id         bigint NOT NULL REFERENCES staging.traede_credit_notes (id) ON DELETE CASCADE,
    line_number            integer NOT NULL CHECK (line_number >= 1),
    product_id             bigint,
    variant_id             bigint,
    quantity               bigint,
    claim_type             text,
    claim_cause_id         bigint,
    price_before_discount  numeric,
    discount_amount        numeric,
    discount_percentage    numeric,
    net_price              numeric,
    vat_amount             numeric,
    total_price            numeric,
    total_price_after_vat  numeric,
    created_at             timestamptz,
    updated_at             timestamptz,
    _raw                   jsonb NOT NULL,
    _loaded_at             timestamptz NOT NULL,
    _run_id                text NOT NULL,
    PRIMARY KEY (credit_note_id, line_number)
);

CREATE TABLE staging.traede_accounting_entries (
    id                     bigint PRIMARY KEY,
    currency               text,
    amount                 numeric,
    account                bigint,
    contra_account         bigint,
    date                   timestamptz,
    text                   text,
    created_at             timestamptz,
    updated_at             timestamptz,
    _raw                   jsonb NOT NULL,
    _loaded_at             timestamptz NOT NULL,
    _run_id                text NOT NULL
);
